/*
 * scep-admin commands over revocation: revoke, crl.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "ca.h"
#include "config.h"
#include "crl.h"
#include "repo.h"
#include "scep.h"
#include "admin.h"

#define MAX_SERIAL_ARG	200	/* bytes of a serial argument ("serial=", colons, decimal) */

/*
 * SERIAL as `openssl x509 -serial` prints it ("serial=0A1B2C", colons allowed, any case),
 * or decimal after a lower-case "0d" prefix ("0d12345"). Without "serial=", a leading "0d"
 * always means decimal: write such hex serials in upper case ("0D12") or with "serial=".
 * Writes uppercase hex with an even number of digits (OpenSSL's form) into out.
 */
static int
parse_serial(const char *arg, char *out, size_t outlen)
{
	BIGNUM		*bn = NULL;
	char		 buf[MAX_SERIAL_ARG + 1], *hex = NULL;
	const char	*s = arg;
	size_t		 n = 0;
	int		 dec = 0, ok = 0;

	if (strlen(arg) > MAX_SERIAL_ARG)
		goto out;
	if (strncasecmp(s, "serial=", 7) == 0)
		s += 7;
	else if (strncmp(s, "0d", 2) == 0) {
		dec = 1;
		s += 2;
	}
	for (; *s != '\0'; s++) {
		if (!dec && *s == ':')
			continue;
		if (dec ? !(*s >= '0' && *s <= '9') : strchr("0123456789abcdefABCDEF", *s) == NULL)
			goto out;
		buf[n++] = *s;
	}
	buf[n] = '\0';
	if (n == 0 || (dec ? BN_dec2bn(&bn, buf) : BN_hex2bn(&bn, buf)) != (int)n ||
	    BN_is_zero(bn) || (hex = BN_bn2hex(bn)) == NULL ||
	    strlen(hex) > REPO_SERIAL_MAX || strlen(hex) >= outlen)
		goto out;
	memcpy(out, hex, strlen(hex) + 1);
	ok = 1;
out:
	OPENSSL_free(hex);
	BN_free(bn);
	ERR_clear_error();
	return ok;
}

/* The CRLReason names `revoke --reason` takes (RFC 5280 §5.3.1; no removeFromCRL). */
static int
parse_reason(const char *name)
{
	int	 rc = repo_reason_from_name(name);

	return rc >= 0 && rc <= 6 ? rc : -2;
}

/*
 * [locked] crl_publish() with the configured validity, into ScepPublishDir too. 1 ok, 0
 * error (reported).
 */
int
publish_crl(const struct config *cf, struct repo *r, struct ca *ca, const char *outfile,
    struct crl_info *info)
{
	char	err[1024];

	if (!crl_publish(r, ca, cf->crl_days, outfile, cf->publish_dir, info, err,
	    sizeof(err))) {
		admin_warn("crl: %s", err);
		return 0;
	}
	return 1;
}

void
print_crl_info(const struct crl_info *info, const char *outfile, int json)
{
	char	next_update[32];

	iso_time(next_update, sizeof(next_update), info->next_update);
	if (json) {
		fputs("{\"crl\":", stdout);
		json_str(stdout, info->path);
		fputs(",\"out\":", stdout);
		json_str(stdout, outfile);
		fputs(",\"crl_number\":", stdout);
		json_str(stdout, info->number);
		printf(",\"entries\":%zu,\"next_update\":", info->entries);
		json_str(stdout, next_update);
		fputc('}', stdout);
		return;
	}
	printf("crl: %s\n", info->path);
	if (outfile != NULL)
		printf("out: %s\n", outfile);
	printf("crl_number: %s\nentries: %zu\nnext_update: %s\n", info->number, info->entries,
	    next_update);
}

int
cmd_crl(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct config	*cf = NULL;
	struct repo	*r = NULL;
	struct ca	*ca = NULL;
	struct crl_info	 info;
	const char	*outfile = NULL;
	char		 err[1024];
	int		 c, json = 0, rc = EXIT_FAIL, locked = 0;

	while ((c = admin_getopt(argc, argv, "", lo)) != -1) {
		switch (c) {
		case 'o':
			if (optarg[0] == '\0')
				return admin_usage("crl: --out needs a file name");
			outfile = optarg;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return admin_usage("crl: unexpected argument %s", argv[optind]);
	if ((cf = load_config(conf)) == NULL || (r = open_repo(cf)) == NULL)
		goto out;
	if ((ca = ca_load(cf->repository, &cf->keysrc, err, sizeof(err))) == NULL) {
		admin_warn("crl: %s", err);
		goto out;
	}
	if (!repo_lock(r)) {
		admin_warn("crl: cannot lock the repository");
		goto out;
	}
	locked = 1;
	if (!publish_crl(cf, r, ca, outfile, &info))
		goto out;
	repo_unlock(r);
	locked = 0;
	print_crl_info(&info, outfile, json);
	if (json)
		fputc('\n', stdout);
	rc = EXIT_OK;
out:
	if (locked)
		repo_unlock(r);
	ca_free(ca);
	repo_close(r);
	config_free(cf);
	return rc;
}

int
cmd_revoke(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct config	*cf = NULL;
	struct repo	*r = NULL;
	struct ca	*ca = NULL;
	struct crl_info	 info;
	char		 serial[REPO_SERIAL_MAX + 2], err[1024];
	int		 c, json = 0, reason = REPO_REASON_NONE, rc = EXIT_FAIL, locked = 0;
	int		 crl_ok = 0;

	while ((c = admin_getopt(argc, argv, "", lo)) != -1) {
		switch (c) {
		case 'r':
			if ((reason = parse_reason(optarg)) == -2)
				return admin_usage("revoke: unknown reason %s (unspecified, "
				    "keyCompromise, CACompromise, affiliationChanged, superseded, "
				    "cessationOfOperation, certificateHold)", optarg);
			break;
		case 'j':
			json = 1;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return admin_usage("revoke: exactly one SERIAL");
	if (!parse_serial(argv[optind], serial, sizeof(serial)))
		return admin_usage("revoke: %s is not a serial number (hex as openssl x509 "
		    "-serial prints it, or decimal after 0d)", argv[optind]);
	if ((cf = load_config(conf)) == NULL || (r = open_repo(cf)) == NULL)
		goto out;
	/* The revocation counts even if the CA cannot make the CRL now; say so below. */
	if ((ca = ca_load(cf->repository, &cf->keysrc, err, sizeof(err))) == NULL)
		admin_warn("revoke: %s", err);
	if (!repo_lock(r)) {
		admin_warn("revoke: cannot lock the repository");
		goto out;
	}
	locked = 1;
	if (!repo_revoke(r, serial, reason, time(NULL))) {
		if (errno == ENOENT)
			admin_warn("revoke: no certificate with serial %s", serial);
		else if (errno == EALREADY)
			admin_warn("revoke: certificate %s is already revoked", serial);
		else
			admin_warn("revoke: cannot revoke %s: %s", serial, strerror(errno));
		goto out;
	}
	if (ca != NULL)
		crl_ok = publish_crl(cf, r, ca, NULL, &info);
	repo_unlock(r);
	locked = 0;
	if (json) {
		fputs("{\"serial\":", stdout);
		json_str(stdout, serial);
		fputs(",\"reason\":", stdout);
		json_str(stdout, reason >= 0 ? repo_reason_name(reason) : NULL);
		fputs(",\"crl\":", stdout);
		if (crl_ok)
			print_crl_info(&info, NULL, 1);
		else
			fputs("null", stdout);
		fputs("}\n", stdout);
	} else {
		printf("revoked: %s%s%s\n", serial, reason >= 0 ? " " : "",
		    reason >= 0 ? repo_reason_name(reason) : "");
		if (crl_ok)
			print_crl_info(&info, NULL, 0);
	}
	if (!crl_ok) {
		admin_warn("revoke: %s is revoked, but the CRL was not remade: run " PROG " crl",
		    serial);
		goto out;
	}
	rc = EXIT_OK;
out:
	if (locked)
		repo_unlock(r);
	ca_free(ca);
	repo_close(r);
	config_free(cf);
	return rc;
}
