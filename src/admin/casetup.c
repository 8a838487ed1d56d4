/*
 * scep-admin commands that make and change the CA: init, ra, import, rollover.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "ca.h"
#include "config.h"
#include "crl.h"
#include "repo.h"
#include "scep.h"
#include "admin.h"

#define DEFAULT_BITS	2048
#define DEFAULT_DAYS	3650

/* ------------------------------------------------------------------ helpers */

/* The argument of --key/--ra-key where a key is made: a pkcs11: URI. 1 ok, 0 reported. */
static int
key_uri_opt(const char *what, const char *arg)
{
	char	err[256];

	if (!ca_key_uri_check(arg, err, sizeof(err))) {
		admin_usage("%s: %s", what, err);
		return 0;
	}
	return 1;
}

/*
 * PREFIXkey, PREFIXkey_store and the same with PREFIXra_: where the keys of generation
 * WHICH are kept (the file or pkcs11: URI) and how (pkcs11, pem-encrypted, pem).
 */
static void
print_key_lines(const struct config *cf, enum ca_generation which, const char *prefix)
{
	char		 where[MAX_PATH_LEN + 64];
	const char	*kind;
	int		 ra;

	for (ra = 0; ra < 2; ra++)
		if (ca_key_location(cf->repository, which, ra, where, sizeof(where), &kind)) {
			printf("%s%skey: ", prefix, ra ? "ra_" : "");
			print_field(stdout, where, strlen(where));
			printf("\n%s%skey_store: %s\n", prefix, ra ? "ra_" : "", kind);
		}
}

/*
 * The CRL of a CA just made or imported, published at once (crl.pem and ScepPublishDir),
 * so that a CRL exists from the first certificate on; printed like `crl` prints it.
 */
static int
first_crl(const struct config *cf, struct ca *ca, const char *cmd)
{
	struct repo	*r;
	struct crl_info	 info;
	int		 ok = 0;

	if ((r = open_repo(cf)) == NULL)
		return 0;
	if (!repo_lock(r)) {
		admin_warn("%s: cannot lock the repository to publish the CRL", cmd);
		goto out;
	}
	ok = publish_crl(cf, r, ca, NULL, &info);
	repo_unlock(r);
	if (ok)
		print_crl_info(&info, NULL, 0);
out:
	repo_close(r);
	return ok;
}

/* -------------------------------------------------------------------- init */

int
cmd_init(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = {
		{ "subject", required_argument, NULL, 's' },
		{ "key-bits", required_argument, NULL, 'b' },
		{ "days", required_argument, NULL, 'd' },
		{ "ra-subject", required_argument, NULL, 'r' },
		{ "owner", required_argument, NULL, 'o' },
		{ "key", required_argument, NULL, 'k' },
		{ "ra-key", required_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 }
	};
	struct config	*cf = NULL;
	struct ca	*ca = NULL;
	X509_NAME	*ran = NULL;
	const char	*subject = NULL, *ra_subject = NULL, *owner = NULL, *key = NULL;
	const char	*ra_key = NULL;
	char		 err[1024], fp[100], *name = NULL;
	int		 c, bits = DEFAULT_BITS, days = DEFAULT_DAYS, rc = EXIT_FAIL;

	while ((c = admin_getopt(argc, argv, "", lo)) != -1) {
		switch (c) {
		case 's':
			subject = optarg;
			break;
		case 'r':
			ra_subject = optarg;
			break;
		case 'o':
			owner = optarg;
			break;
		case 'k':
		case 'K':
			if (!key_uri_opt(c == 'k' ? "init: --key" : "init: --ra-key", optarg))
				return EXIT_USAGE;
			*(c == 'k' ? &key : &ra_key) = optarg;
			break;
		case 'b':
			if (!parse_decimal(optarg, 2048, 8192, &bits))
				return admin_usage("init: --key-bits must be 2048..8192, not %s",
				    optarg);
			break;
		case 'd':
			if (!parse_decimal(optarg, 1, 36500, &days))
				return admin_usage("init: --days must be 1..36500, not %s",
				    optarg);
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return admin_usage("init: unexpected argument %s", argv[optind]);
	if (subject == NULL)
		return admin_usage("init: --subject DN is required");
	if (ra_key != NULL && ra_subject == NULL)
		return admin_usage("init: --ra-key goes with --ra-subject");
	if (ra_subject != NULL) {
		if ((ran = ca_parse_dn(ra_subject, err, sizeof(err))) == NULL)
			return admin_usage("init: --ra-subject: %s", err);
		X509_NAME_free(ran);
	}

	if ((cf = load_config(conf)) == NULL)
		goto out;
	if (owner != NULL && !init_owner(cf->repository, owner))
		goto out;
	if (!repo_create(cf->repository, err, sizeof(err))) {
		admin_warn("init: %s", err);
		goto out;
	}
	if (!ca_init(cf->repository, subject, bits, days, key, &cf->keysrc, err, sizeof(err))) {
		admin_warn("init: %s", err);
		goto out;
	}
	if (ra_subject != NULL && !ca_init_ra(cf->repository, ra_subject, bits, days, ra_key,
	    &cf->keysrc, err, sizeof(err))) {
		admin_warn("init: the CA was made, the RA not: %s", err);
		goto out;
	}
	if ((ca = ca_load(cf->repository, &cf->keysrc, err, sizeof(err))) == NULL) {
		admin_warn("init: the new CA does not load: %s", err);
		goto out;
	}
	name = X509_NAME_oneline(X509_get_subject_name(ca_cert(ca)), NULL, 0);
	cert_fingerprint(ca_cert(ca), fp, sizeof(fp));
	printf("repository: %s\n", cf->repository);
	printf("subject: %s\n", name != NULL ? name : "?");
	printf("sha256: %s\n", fp);
	if (ra_subject != NULL) {
		OPENSSL_free(name);
		name = X509_NAME_oneline(X509_get_subject_name(ca_scep_cert(ca)), NULL, 0);
		cert_fingerprint(ca_scep_cert(ca), fp, sizeof(fp));
		printf("ra_subject: %s\nra_sha256: %s\n", name != NULL ? name : "?", fp);
	}
	print_key_lines(cf, CA_GEN_CURRENT, "");
	if (!first_crl(cf, ca, "init"))
		goto out;
	rc = EXIT_OK;
out:
	OPENSSL_free(name);
	ca_free(ca);
	config_free(cf);
	return rc;
}

/* ------------------------------------------------------ ra, import, rollover */

/*
 * LABEL: subject, LABEL_serial, LABEL_not_before, LABEL_not_after, LABEL_sha256 of X,
 * or "LABEL: none".
 */
static void
print_cert_lines(const char *label, X509 *x)
{
	char	*subj, serial[REPO_SERIAL_MAX + 2], t[32], fp[100];

	if (x == NULL) {
		printf("%s: none\n", label);
		return;
	}
	subj = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
	printf("%s: ", label);
	print_field(stdout, subj, subj ? strlen(subj) : 0);
	printf("\n%s_serial: %s\n", label, cert_serial(x, serial, sizeof(serial)));
	asn1_iso_time(t, sizeof(t), X509_get0_notBefore(x));
	printf("%s_not_before: %s\n", label, t);
	asn1_iso_time(t, sizeof(t), X509_get0_notAfter(x));
	printf("%s_not_after: %s\n", label, t);
	cert_fingerprint(x, fp, sizeof(fp));
	printf("%s_sha256: %s\n", label, fp);
	OPENSSL_free(subj);
}

/* Load the CA after a change; print the generation WHICH as LABEL and LABEL_ra. */
static int
report_generation(const struct config *cf, const char *cmd, enum ca_generation which,
    const char *label)
{
	struct ca	*ca;
	char		 err[1024], ralabel[64];

	if ((ca = ca_load(cf->repository, &cf->keysrc, err, sizeof(err))) == NULL) {
		admin_warn("%s: the CA does not load: %s", cmd, err);
		return 0;
	}
	snprintf(ralabel, sizeof(ralabel), "%s_ra", label);
	print_cert_lines(label, ca_generation_cert(ca, which, 0));
	print_cert_lines(ralabel, ca_generation_cert(ca, which, 1));
	snprintf(ralabel, sizeof(ralabel), "%s_", label);
	print_key_lines(cf, which, ralabel);
	ca_free(ca);
	return 1;
}

static void
restart_note(void)
{
	admin_warn("note: FastCGI workers load the CA once; restart them to use this change");
}

/* --key-bits and --days of ra and rollover prepare. */
static int
bits_days_opt(int c, const char *cmd, int *bits, int *days)
{
	if (c == 'b' && !parse_decimal(optarg, 2048, 8192, bits))
		return admin_usage("%s: --key-bits must be 2048..8192, not %s", cmd, optarg);
	if (c == 'd' && !parse_decimal(optarg, 1, 36500, days))
		return admin_usage("%s: --days must be 1..36500, not %s", cmd, optarg);
	return 0;
}

int
cmd_ra(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = {
		{ "subject", required_argument, NULL, 's' },
		{ "key-bits", required_argument, NULL, 'b' },
		{ "days", required_argument, NULL, 'd' },
		{ "key", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 }
	};
	struct config	*cf = NULL;
	const char	*subject = NULL, *key = NULL;
	char		 err[1024];
	int		 c, bits = DEFAULT_BITS, days = DEFAULT_DAYS, rc = EXIT_FAIL;

	while ((c = admin_getopt(argc, argv, "", lo)) != -1) {
		switch (c) {
		case 's':
			subject = optarg;
			break;
		case 'k':
			if (!key_uri_opt("ra: --key", optarg))
				return EXIT_USAGE;
			key = optarg;
			break;
		case 'b':
		case 'd':
			if (bits_days_opt(c, "ra", &bits, &days) != 0)
				return EXIT_USAGE;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return admin_usage("ra: unexpected argument %s", argv[optind]);
	if (subject == NULL)
		return admin_usage("ra: --subject DN is required");
	if ((cf = load_config(conf)) == NULL)
		goto out;
	if (!ca_init_ra(cf->repository, subject, bits, days, key, &cf->keysrc, err,
	    sizeof(err))) {
		admin_warn("ra: %s", err);
		goto out;
	}
	if (!report_generation(cf, "ra", CA_GEN_CURRENT, "ca"))
		goto out;
	restart_note();
	rc = EXIT_OK;
out:
	config_free(cf);
	return rc;
}

int
cmd_import(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = {
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "chain", required_argument, NULL, 'C' },
		{ "ra", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	struct config	*cf = NULL;
	struct ca	*ca = NULL;
	const char	*cert = NULL, *key = NULL, *chain = NULL;
	char		 err[1024];
	int		 c, is_ra = 0, rc = EXIT_FAIL;

	while ((c = admin_getopt(argc, argv, "", lo)) != -1) {
		switch (c) {
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'C':
			chain = optarg;
			break;
		case 'r':
			is_ra = 1;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return admin_usage("import: unexpected argument %s", argv[optind]);
	if (cert == NULL || key == NULL)
		return admin_usage("import: --cert FILE and --key FILE are required");
	if (is_ra && chain != NULL)
		return admin_usage("import: --chain is for a CA, not with --ra");
	if ((cf = load_config(conf)) == NULL)
		goto out;
	if (!is_ra && !repo_create(cf->repository, err, sizeof(err))) {
		admin_warn("import: %s", err);
		goto out;
	}
	if (!ca_import(cf->repository, cert, key, chain, is_ra, &cf->keysrc, err, sizeof(err))) {
		admin_warn("import: %s", err);
		goto out;
	}
	printf("repository: %s\n", cf->repository);
	if (!report_generation(cf, "import", CA_GEN_CURRENT, "ca"))
		goto out;
	if (!is_ra) {
		if ((ca = ca_load(cf->repository, &cf->keysrc, err, sizeof(err))) == NULL) {
			admin_warn("import: the CA does not load: %s", err);
			goto out;
		}
		if (!first_crl(cf, ca, "import"))
			goto out;
	}
	restart_note();
	rc = EXIT_OK;
out:
	ca_free(ca);
	config_free(cf);
	return rc;
}

static int
rollover_prepare(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = {
		{ "subject", required_argument, NULL, 's' },
		{ "key-bits", required_argument, NULL, 'b' },
		{ "days", required_argument, NULL, 'd' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "chain", required_argument, NULL, 'C' },
		{ "ra-key", required_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 }
	};
	struct config	*cf = NULL;
	const char	*subject = NULL, *cert = NULL, *key = NULL, *chain = NULL;
	const char	*ra_key = NULL;
	char		 err[1024];
	int		 c, bits = 0, days = 0, made = 0, rc = EXIT_FAIL;

	while ((c = admin_getopt(argc, argv, "", lo)) != -1) {
		switch (c) {
		case 's':
			subject = optarg;
			made = 1;
			break;
		case 'b':
		case 'd':
			if (bits_days_opt(c, "rollover prepare", &bits, &days) != 0)
				return EXIT_USAGE;
			made = 1;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'C':
			chain = optarg;
			break;
		case 'K':
			if (!key_uri_opt("rollover prepare: --ra-key", optarg))
				return EXIT_USAGE;
			ra_key = optarg;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return admin_usage("rollover prepare: unexpected argument %s", argv[optind]);
	/* --key alone: where the new CA's key is made (a token); with --cert: the key of it. */
	if (cert != NULL && key == NULL)
		return admin_usage("rollover prepare: --cert needs --key");
	if (chain != NULL && cert == NULL)
		return admin_usage("rollover prepare: --chain goes with --cert and --key");
	if (cert == NULL && key != NULL && !key_uri_opt("rollover prepare: --key", key))
		return EXIT_USAGE;
	if (cert != NULL && made)
		return admin_usage("rollover prepare: --cert/--key import a CA; "
		    "--subject, --key-bits and --days make one");
	if ((cf = load_config(conf)) == NULL)
		goto out;
	if (cert != NULL ? !ca_rollover_import(cf->repository, cert, key, chain, ra_key,
	    &cf->keysrc, err, sizeof(err)) : !ca_rollover_prepare(cf->repository, subject, bits,
	    days, key, ra_key, &cf->keysrc, err, sizeof(err))) {
		admin_warn("rollover prepare: %s", err);
		goto out;
	}
	if (!report_generation(cf, "rollover prepare", CA_GEN_NEXT, "next"))
		goto out;
	restart_note();
	rc = EXIT_OK;
out:
	config_free(cf);
	return rc;
}

static int
rollover_switch(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = { { NULL, 0, NULL, 0 } };
	struct config	*cf = NULL;
	struct repo	*r = NULL;
	struct ca	*ca = NULL;
	struct crl_info	 info;
	char		 err[1024];
	int		 rc = EXIT_FAIL, locked = 0, crl_ok;

	if (admin_getopt(argc, argv, "", lo) != -1)
		return EXIT_USAGE;
	if (optind != argc)
		return admin_usage("rollover switch: unexpected argument %s", argv[optind]);
	if ((cf = load_config(conf)) == NULL || (r = open_repo(cf)) == NULL)
		goto out;
	if (!repo_lock(r)) {
		admin_warn("rollover switch: cannot lock the repository");
		goto out;
	}
	locked = 1;
	if (!ca_rollover_switch(cf->repository, &cf->keysrc, err, sizeof(err))) {
		admin_warn("rollover switch: %s", err);
		goto out;
	}
	if ((ca = ca_load(cf->repository, &cf->keysrc, err, sizeof(err))) == NULL) {
		admin_warn("rollover switch: the new CA does not load: %s", err);
		goto out;
	}
	/* The published CRL is the current CA's: remake it with the new one. */
	crl_ok = publish_crl(cf, r, ca, NULL, &info);
	repo_unlock(r);
	locked = 0;
	print_cert_lines("ca", ca_generation_cert(ca, CA_GEN_CURRENT, 0));
	print_cert_lines("ca_ra", ca_generation_cert(ca, CA_GEN_CURRENT, 1));
	print_cert_lines("old", ca_generation_cert(ca, CA_GEN_OLD, 0));
	if (crl_ok)
		print_crl_info(&info, NULL, 0);
	else
		admin_warn("rollover switch: switched, but the CRL was not remade: run "
		    PROG " crl");
	restart_note();
	rc = crl_ok ? EXIT_OK : EXIT_FAIL;
out:
	if (locked)
		repo_unlock(r);
	ca_free(ca);
	repo_close(r);
	config_free(cf);
	return rc;
}

static int
rollover_status(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = { { NULL, 0, NULL, 0 } };
	static const struct {
		enum ca_generation	 gen;
		const char		*label, *ralabel;
	} gens[] = {
		{ CA_GEN_CURRENT, "ca", "ca_ra" },
		{ CA_GEN_NEXT, "next", "next_ra" },
		{ CA_GEN_OLD, "old", "old_ra" },
	};
	struct config	*cf = NULL;
	struct ca	*ca = NULL;
	char		 err[1024];
	size_t		 i;
	int		 rc = EXIT_FAIL;

	if (admin_getopt(argc, argv, "", lo) != -1)
		return EXIT_USAGE;
	if (optind != argc)
		return admin_usage("rollover status: unexpected argument %s", argv[optind]);
	if ((cf = load_config(conf)) == NULL)
		goto out;
	if ((ca = ca_load(cf->repository, &cf->keysrc, err, sizeof(err))) == NULL) {
		admin_warn("rollover status: %s", err);
		goto out;
	}
	ca_set_include_root(ca, cf->include_root);	/* as the server will */
	for (i = 0; i < sizeof(gens) / sizeof(gens[0]); i++) {
		print_cert_lines(gens[i].label, ca_generation_cert(ca, gens[i].gen, 0));
		if (ca_generation_cert(ca, gens[i].gen, 0) != NULL)
			print_cert_lines(gens[i].ralabel, ca_generation_cert(ca, gens[i].gen, 1));
	}
	printf("mode: %s\n", ca_generation_cert(ca, CA_GEN_CURRENT, 1) != NULL ? "ra" : "ca");
	printf("getcacert_certs: %d\n", sk_X509_num(ca_getcacert_certs(ca)));
	printf("getnextcacert_certs: %d\n", ca_next_certs(ca) != NULL ?
	    sk_X509_num(ca_next_certs(ca)) : 0);
	printf("rollover: %s\n", ca_generation_cert(ca, CA_GEN_NEXT, 0) != NULL ?
	    "prepared" : "none");
	rc = EXIT_OK;
out:
	ca_free(ca);
	config_free(cf);
	return rc;
}

int
cmd_rollover(int argc, char **argv, const char *conf)
{
	if (argc < 2)
		return admin_usage("rollover: prepare, switch or status expected");
	if (strcmp(argv[1], "prepare") == 0)
		return rollover_prepare(argc - 1, argv + 1, conf);
	if (strcmp(argv[1], "switch") == 0)
		return rollover_switch(argc - 1, argv + 1, conf);
	if (strcmp(argv[1], "status") == 0)
		return rollover_status(argc - 1, argv + 1, conf);
	return admin_usage("rollover: unknown subcommand %s (prepare, switch, status)",
	    argv[1]);
}
