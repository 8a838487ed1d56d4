/*
 * scep-admin commands that hand out one-time challenges: challenge (the secrets
 * themselves) and mobileconfig (an Apple enrollment profile that carries one).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ca.h"
#include "challenge.h"
#include "config.h"
#include "fileio.h"
#include "mobileconfig.h"
#include "repo.h"
#include "scep.h"
#include "admin.h"

#define MAX_CHALLENGES	1000	/* challenge --count */

int
cmd_challenge(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = {
		{ "ttl", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct config	*cf = NULL;
	struct repo	*r = NULL;
	char		 secret[CHALLENGE_SECRET_LEN + 1], t[32], err[1024];
	const char	*ttlarg = NULL;
	time_t		 expires;
	int		 c, json = 0, count = 1, ttl, i, rc = EXIT_FAIL;

	while ((c = admin_getopt(argc, argv, "", lo)) != -1) {
		switch (c) {
		case 't':
			ttlarg = optarg;
			/* Shorter than ScepChallengeTTL allows: an explicit choice (tests). */
			if (!config_parse_duration(optarg, 1, MAX_CHALLENGE_TTL, &ttl))
				return admin_usage("challenge: --ttl must be 1 second to 365 "
				    "days, as seconds or with a unit s, m, h or d, not %s", optarg);
			break;
		case 'n':
			if (!parse_decimal(optarg, 1, MAX_CHALLENGES, &count))
				return admin_usage("challenge: --count must be 1..1000, not %s",
				    optarg);
			break;
		case 'j':
			json = 1;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return admin_usage("challenge: unexpected argument %s", argv[optind]);
	if ((cf = load_config(conf)) == NULL)
		goto out;
	if (!cf->one_time_challenges) {
		admin_warn("challenge: one-time challenges are off (ScepOneTimeChallenges = NO in "
		    "%s)", cf->path);
		goto out;
	}
	if (ttlarg == NULL)
		ttl = cf->challenge_ttl;
	if ((r = open_repo(cf)) == NULL)
		goto out;
	expires = time(NULL) + ttl;
	iso_time(t, sizeof(t), expires);
	if (json)
		fputc('[', stdout);
	for (i = 0; i < count; i++) {
		/* The secret is printed once and only its hash is stored. */
		if (!challenge_mint(r, expires, secret, err, sizeof(err))) {
			admin_warn("challenge: %s", err);
			break;
		}
		if (json) {
			fputs(i ? ",\n" : "\n", stdout);
			fputs("{\"secret\":", stdout);
			json_str(stdout, secret);
			fputs(",\"expires\":", stdout);
			json_str(stdout, t);
			fputc('}', stdout);
		} else
			printf("%s\n", secret);
		OPENSSL_cleanse(secret, sizeof(secret));
	}
	if (json)
		fputs(i ? "\n]\n" : "]\n", stdout);
	if (i == count)
		rc = EXIT_OK;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	repo_close(r);
	config_free(cf);
	return rc;
}

const char mobileconfig_usage[] =
    "usage: " PROG " [-c FILE] mobileconfig --url URL [--name CA-IDENT] [--subject DN]\n"
    "           [--challenge SECRET | --static-challenge | --no-challenge]"
    " [--ttl DURATION]\n"
    "           [--keysize 1024|2048|4096] [--key-usage 0|1|4|5] [--retries N]"
    " [--retry-delay S]\n"
    "           [--san-dns NAME]... [--san-email ADDR]... [--san-uri URI]..."
    " [--upn NAME]\n"
    "           [--identifier REVERSE.DNS] [--display-name TEXT]"
    " [--organization TEXT]\n"
    "           [--sign] [-o FILE]\n";

enum chal_mode { CHAL_MODE_FRESH, CHAL_MODE_GIVEN, CHAL_MODE_STATIC, CHAL_MODE_NONE };

enum {
	OPT_SAN_DNS = 256, OPT_SAN_EMAIL, OPT_SAN_URI, OPT_UPN, OPT_STATIC, OPT_NONE,
	OPT_TTL, OPT_KEYSIZE, OPT_KEYUSAGE, OPT_RETRIES, OPT_DELAY, OPT_IDENT, OPT_DNAME,
	OPT_ORG, OPT_SIGN, OPT_URL, OPT_NAME, OPT_SUBJECT, OPT_CHALLENGE
};

static int
write_out(const char *path, const void *buf, size_t len)
{
	if (path == NULL || strcmp(path, "-") == 0)
		return fwrite(buf, 1, len, stdout) == len && fflush(stdout) == 0;
	/* 0600: a profile with a challenge is a secret until it is handed over. */
	return write_file(path, buf, len, 0600, NULL, 0) == 1;
}

int
cmd_mobileconfig(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = {
		{ "url", required_argument, NULL, OPT_URL },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "subject", required_argument, NULL, OPT_SUBJECT },
		{ "challenge", required_argument, NULL, OPT_CHALLENGE },
		{ "static-challenge", no_argument, NULL, OPT_STATIC },
		{ "no-challenge", no_argument, NULL, OPT_NONE },
		{ "ttl", required_argument, NULL, OPT_TTL },
		{ "keysize", required_argument, NULL, OPT_KEYSIZE },
		{ "key-usage", required_argument, NULL, OPT_KEYUSAGE },
		{ "retries", required_argument, NULL, OPT_RETRIES },
		{ "retry-delay", required_argument, NULL, OPT_DELAY },
		{ "san-dns", required_argument, NULL, OPT_SAN_DNS },
		{ "san-email", required_argument, NULL, OPT_SAN_EMAIL },
		{ "san-uri", required_argument, NULL, OPT_SAN_URI },
		{ "upn", required_argument, NULL, OPT_UPN },
		{ "identifier", required_argument, NULL, OPT_IDENT },
		{ "display-name", required_argument, NULL, OPT_DNAME },
		{ "organization", required_argument, NULL, OPT_ORG },
		{ "sign", no_argument, NULL, OPT_SIGN },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct mobileconfig	 mc;
	struct config		*cf = NULL;
	struct ca		*ca = NULL;
	struct repo		*r = NULL;
	const char		*san_dns[MC_MAX_SAN], *san_email[MC_MAX_SAN];
	const char		*san_uri[MC_MAX_SAN];
	const char		*out = NULL, *ttlarg = NULL, *given = NULL;
	enum chal_mode		 mode = CHAL_MODE_FRESH;
	unsigned char		*der = NULL;
	char			 secret[CHALLENGE_SECRET_LEN + 1], err[1024];
	char			*doc = NULL;
	size_t			 doclen = 0, derlen = 0;
	int			 c, nmodes = 0, sign = 0, ttl = 0, rc = EXIT_FAIL;

	memset(secret, 0, sizeof(secret));
	mobileconfig_defaults(&mc);
	mc.san_dns = san_dns;
	mc.san_email = san_email;
	mc.san_uri = san_uri;

	while ((c = admin_getopt(argc, argv, "o:h", lo)) != -1) {
		switch (c) {
		case OPT_URL:
			mc.url = optarg;
			break;
		case OPT_NAME:
			mc.name = optarg;
			break;
		case OPT_SUBJECT:
			mc.subject = optarg;
			break;
		case OPT_CHALLENGE:
			if (mode != CHAL_MODE_GIVEN)
				nmodes++;
			mode = CHAL_MODE_GIVEN;
			given = optarg;
			break;
		case OPT_STATIC:
			if (mode != CHAL_MODE_STATIC)
				nmodes++;
			mode = CHAL_MODE_STATIC;
			break;
		case OPT_NONE:
			if (mode != CHAL_MODE_NONE)
				nmodes++;
			mode = CHAL_MODE_NONE;
			break;
		case OPT_TTL:
			ttlarg = optarg;
			if (!config_parse_duration(optarg, 1, MAX_CHALLENGE_TTL, &ttl))
				return admin_usage("mobileconfig: --ttl must be 1 second to "
				    "365 days, as seconds or with a unit s, m, h or d, not %s",
				    optarg);
			break;
		case OPT_KEYSIZE:
			if (!parse_decimal(optarg, 1024, 4096, &mc.keysize) ||
			    (mc.keysize != 1024 && mc.keysize != 2048 && mc.keysize != 4096))
				return admin_usage("mobileconfig: --keysize must be 1024, "
				    "2048 or 4096, not %s", optarg);
			break;
		case OPT_KEYUSAGE:
			if (!parse_decimal(optarg, 0, 5, &mc.key_usage) || mc.key_usage == 2 ||
			    mc.key_usage == 3)
				return admin_usage("mobileconfig: --key-usage must be 0 (none), 1 "
				    "(signing), 4 (encryption) or 5 (both), not %s", optarg);
			break;
		case OPT_RETRIES:
			if (!parse_decimal(optarg, 0, MC_MAX_RETRIES, &mc.retries))
				return admin_usage("mobileconfig: --retries must be 0..%d, not %s",
				    MC_MAX_RETRIES, optarg);
			break;
		case OPT_DELAY:
			if (!parse_decimal(optarg, 0, MC_MAX_RETRY_DELAY, &mc.retry_delay))
				return admin_usage("mobileconfig: --retry-delay must be "
				    "0..%d seconds, not %s", MC_MAX_RETRY_DELAY, optarg);
			break;
		case OPT_SAN_DNS:
		case OPT_SAN_EMAIL:
		case OPT_SAN_URI:
			if (mc.n_san_dns + mc.n_san_email + mc.n_san_uri >= MC_MAX_SAN)
				return admin_usage("mobileconfig: at most %d subjectAltName values",
				    MC_MAX_SAN);
			if (c == OPT_SAN_DNS)
				san_dns[mc.n_san_dns++] = optarg;
			else if (c == OPT_SAN_EMAIL)
				san_email[mc.n_san_email++] = optarg;
			else
				san_uri[mc.n_san_uri++] = optarg;
			break;
		case OPT_UPN:
			mc.upn = optarg;
			break;
		case OPT_IDENT:
			mc.identifier = optarg;
			break;
		case OPT_DNAME:
			mc.display_name = optarg;
			break;
		case OPT_ORG:
			mc.organization = optarg;
			break;
		case OPT_SIGN:
			sign = 1;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			fputs(mobileconfig_usage, stdout);
			return EXIT_OK;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return admin_usage("mobileconfig: unexpected argument %s", argv[optind]);
	if (mc.url == NULL)
		return admin_usage("mobileconfig: --url is required");
	if (nmodes > 1)
		return admin_usage("mobileconfig: choose one of --challenge, "
		    "--static-challenge and --no-challenge");
	if (ttlarg != NULL && mode != CHAL_MODE_FRESH)
		return admin_usage("mobileconfig: --ttl applies only to a new one-time challenge");
	if (mode == CHAL_MODE_GIVEN && strlen(given) > MAX_CHALLENGE)
		return admin_usage("mobileconfig: --challenge is longer than %d bytes",
		    MAX_CHALLENGE);
	if (sign && (out == NULL || strcmp(out, "-") == 0) && isatty(STDOUT_FILENO))
		return admin_usage("mobileconfig: --sign writes binary DER: give -o FILE or "
		    "redirect standard output");

	/* Check every option by building once, before the repository is touched. */
	mc.challenge = mode == CHAL_MODE_GIVEN ? given :
	    mode == CHAL_MODE_NONE ? NULL : "placeholder";
	mc.has_fingerprint = 1;
	if (!mobileconfig_build(&mc, &doc, &doclen, err, sizeof(err)))
		return admin_usage("mobileconfig: %s", err);
	free(doc);
	doc = NULL;

	if ((cf = load_config(conf)) == NULL)
		goto out;
	if (mc.keysize < cf->min_key_bits) {
		admin_warn("mobileconfig: --keysize %d is below ScepMinKeyBits (%d in %s): the "
		    "server would refuse the request", mc.keysize, cf->min_key_bits, cf->path);
		goto out;
	}
	switch (mode) {
	case CHAL_MODE_FRESH:
		if (!cf->one_time_challenges) {
			admin_warn("mobileconfig: one-time challenges are off "
			    "(ScepOneTimeChallenges = NO in %s); use --static-challenge, "
			    "--challenge or --no-challenge", cf->path);
			goto out;
		}
		if (ttlarg == NULL)
			ttl = cf->challenge_ttl;
		break;
	case CHAL_MODE_STATIC:
		if (cf->challenge == NULL) {
			admin_warn("mobileconfig: --static-challenge: %s sets no "
			    "ScepChallengePassword", cf->path);
			goto out;
		}
		mc.challenge = cf->challenge;
		break;
	case CHAL_MODE_GIVEN:
	case CHAL_MODE_NONE:
		break;
	}
	if ((ca = ca_load(cf->repository, &cf->keysrc, err, sizeof(err))) == NULL) {
		admin_warn("mobileconfig: %s", err[0] != '\0' ? err : "cannot load the CA");
		goto out;
	}
	if (!mobileconfig_fingerprint(ca_cert(ca), mc.fingerprint)) {
		admin_warn("mobileconfig: cannot hash the CA certificate");
		goto out;
	}
	if (mode == CHAL_MODE_FRESH) {
		if ((r = open_repo(cf)) == NULL)
			goto out;
		/*
		 * Stored before the profile is built, so a profile never holds an unknown
		 * challenge; one that fails later leaves a stored secret nobody has, which
		 * expires unused.
		 */
		if (!challenge_mint(r, time(NULL) + ttl, secret, err, sizeof(err))) {
			admin_warn("mobileconfig: %s", err);
			goto out;
		}
		mc.challenge = secret;
	}
	if (!mobileconfig_build(&mc, &doc, &doclen, err, sizeof(err))) {
		admin_warn("mobileconfig: %s", err);
		goto out;
	}
	if (sign && !mobileconfig_sign(ca, doc, doclen, &der, &derlen, err, sizeof(err))) {
		admin_warn("mobileconfig: --sign: %s", err);
		goto out;
	}
	if (!(sign ? write_out(out, der, derlen) : write_out(out, doc, doclen))) {
		admin_warn("mobileconfig: cannot write %s: %s",
		    out != NULL ? out : "standard output", strerror(errno));
		goto out;
	}
	rc = EXIT_OK;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	if (doc != NULL) {
		OPENSSL_cleanse(doc, doclen);
		free(doc);
	}
	if (der != NULL)
		OPENSSL_clear_free(der, derlen);
	repo_close(r);
	ca_free(ca);
	config_free(cf);
	return rc;
}
