/*
 * scep-admin status [--json]: what monitoring polls. The CA certificate's expiry, the
 * CRL's nextUpdate, the number of records in each state, the time of the last issue and
 * whether the audit chain is intact; exit 1 when one of them needs an administrator.
 * Reads only: no lock, no private key.
 */
#include <sys/stat.h>

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "audit.h"
#include "config.h"
#include "fileio.h"
#include "repo.h"
#include "admin.h"

#define STATUS_CA_WARN_DAYS	30	/* a CA expiring sooner is a problem */
#define STATUS_MAX_PROBLEMS	4

struct status {
	char		 ca_subject[512];
	time_t		 ca_not_after;
	time_t		 crl_next_update;
	char		 crl_number[80];
	int		 count[RS_COUNT];
	time_t		 last_issue;	/* 0: none */
	size_t		 audit_entries;
	int		 audit_intact;
	const char	*problem[STATUS_MAX_PROBLEMS];
	int		 nproblems;
};

static void
problem(struct status *st, const char *what)
{
	if (st->nproblems < STATUS_MAX_PROBLEMS)
		st->problem[st->nproblems++] = what;
}

static time_t
asn1_time_t(const ASN1_TIME *at)
{
	struct tm	tm;

	if (at == NULL || !ASN1_TIME_to_tm(at, &tm))
		return 0;
	return timegm(&tm);
}

static int
count_one(const char *id, void *arg)
{
	(void)id;
	(*(int *)arg)++;
	return 0;
}

static int
is_pem_name(const char *name)
{
	size_t	n = strlen(name);

	return n > 4 && strcmp(name + n - 4, ".pem") == 0;
}

/* The newest modification time of certs/<SERIAL>.pem: when the last certificate was issued. */
static time_t
last_issue(const char *root)
{
	struct stat	  sb;
	char		  dir[MAX_PATH_LEN], path[MAX_PATH_LEN], **names = NULL;
	size_t		  i, n = 0;
	time_t		  t = 0;

	if (!path_join(dir, sizeof(dir), root, "certs", NULL, NULL) ||
	    !dir_list(dir, is_pem_name, &names, &n, NULL, 0))
		return 0;
	for (i = 0; i < n; i++)
		if (path_join(path, sizeof(path), dir, names[i], NULL, NULL) &&
		    stat(path, &sb) == 0 && sb.st_mtime > t)
			t = sb.st_mtime;
	strv_free(names, n);
	return t;
}

static void
gather(const struct config *cf, struct repo *r, struct status *st)
{
	X509		*x = NULL;
	X509_CRL	*crl = NULL;
	ASN1_INTEGER	*num = NULL;
	BIGNUM		*bn = NULL;
	char		*hex = NULL, path[MAX_PATH_LEN], head[AUDIT_HASH_LEN + 1], err[512];
	FILE		*f;
	time_t		 now = time(NULL);
	int		 s;

	if (path_join(path, sizeof(path), cf->repository, "ca", "ca.pem", NULL) &&
	    (f = fopen(path, "re")) != NULL) {
		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (x == NULL)
		problem(st, "the CA certificate cannot be read");
	else {
		X509_NAME_oneline(X509_get_subject_name(x), st->ca_subject,
		    sizeof(st->ca_subject));
		st->ca_not_after = asn1_time_t(X509_get0_notAfter(x));
		if (st->ca_not_after <= now)
			problem(st, "the CA certificate has expired");
		else if (st->ca_not_after - now < STATUS_CA_WARN_DAYS * 86400L)
			problem(st, "the CA certificate expires within 30 days");
	}
	if (path_join(path, sizeof(path), cf->repository, "crl.pem", NULL, NULL) &&
	    (f = fopen(path, "re")) != NULL) {
		crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (crl == NULL)
		problem(st, "there is no readable CRL");
	else {
		st->crl_next_update = asn1_time_t(X509_CRL_get0_nextUpdate(crl));
		if ((num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL)) != NULL &&
		    (bn = ASN1_INTEGER_to_BN(num, NULL)) != NULL && (hex = BN_bn2hex(bn)) != NULL)
			snprintf(st->crl_number, sizeof(st->crl_number), "%s", hex);
		if (st->crl_next_update <= now)
			problem(st, "the CRL is past its nextUpdate");
	}
	for (s = 0; s < RS_COUNT; s++)
		repo_foreach(r, (enum rstate)s, count_one, &st->count[s]);
	st->last_issue = last_issue(cf->repository);
	st->audit_intact = audit_verify(cf->repository, &st->audit_entries, head, err,
	    sizeof(err));
	if (!st->audit_intact)
		problem(st, "the audit chain is broken (scep-admin audit --verify)");
	OPENSSL_free(hex);
	BN_free(bn);
	ASN1_INTEGER_free(num);
	X509_CRL_free(crl);
	X509_free(x);
}

static void
print_status(const struct status *st, int json)
{
	char	ca[32], crl[32], last[32];
	int	i;

	iso_time(ca, sizeof(ca), st->ca_not_after);
	iso_time(crl, sizeof(crl), st->crl_next_update);
	iso_time(last, sizeof(last), st->last_issue);
	if (!json) {
		printf("status: %s\n", st->nproblems ? "problem" : "ok");
		for (i = 0; i < st->nproblems; i++)
			printf("problem: %s\n", st->problem[i]);
		printf("ca_subject: %s\nca_not_after: %s\ncrl_number: %s\ncrl_next_update: %s\n",
		    st->ca_subject[0] ? st->ca_subject : "-", st->ca_not_after ? ca : "-",
		    st->crl_number[0] ? st->crl_number : "-", st->crl_next_update ? crl : "-");
		for (i = 0; i < RS_COUNT; i++)
			printf("%s: %d\n", rstate_name((enum rstate)i), st->count[i]);
		printf("last_issue: %s\naudit_entries: %zu\naudit_intact: %s\n",
		    st->last_issue ? last : "-", st->audit_entries,
		    st->audit_intact ? "yes" : "no");
		return;
	}
	printf("{\"status\":\"%s\",\"problems\":[", st->nproblems ? "problem" : "ok");
	for (i = 0; i < st->nproblems; i++) {
		fputs(i ? "," : "", stdout);
		json_str(stdout, st->problem[i]);
	}
	fputs("],\"ca_subject\":", stdout);
	json_str(stdout, st->ca_subject[0] ? st->ca_subject : NULL);
	fputs(",\"ca_not_after\":", stdout);
	json_str(stdout, st->ca_not_after ? ca : NULL);
	fputs(",\"crl_number\":", stdout);
	json_str(stdout, st->crl_number[0] ? st->crl_number : NULL);
	fputs(",\"crl_next_update\":", stdout);
	json_str(stdout, st->crl_next_update ? crl : NULL);
	for (i = 0; i < RS_COUNT; i++)
		printf(",\"%s\":%d", rstate_name((enum rstate)i), st->count[i]);
	fputs(",\"last_issue\":", stdout);
	json_str(stdout, st->last_issue ? last : NULL);
	printf(",\"audit_entries\":%zu,\"audit_intact\":%s}\n", st->audit_entries,
	    st->audit_intact ? "true" : "false");
}

int
cmd_status(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct config	*cf = NULL;
	struct repo	*r = NULL;
	struct status	 st;
	int		 c, json = 0, rc = EXIT_FAIL;

	while ((c = admin_getopt(argc, argv, "", lo)) != -1) {
		if (c != 'j')
			return EXIT_USAGE;
		json = 1;
	}
	if (optind != argc)
		return admin_usage("status: unexpected argument %s", argv[optind]);
	if ((cf = load_config(conf)) == NULL || (r = open_repo(cf)) == NULL)
		goto out;
	memset(&st, 0, sizeof(st));
	gather(cf, r, &st);
	print_status(&st, json);
	rc = st.nproblems ? EXIT_FAIL : EXIT_OK;
out:
	repo_close(r);
	config_free(cf);
	return rc;
}
