/*
 * Unit tests of repo_migrate() (src/repo_migrate.c): a repository of the older layout (a
 * record a directory of meta and .der files, certs/<SERIAL>.id, bydn/<dnkey>/<SERIAL>, the
 * serial counter) converted, checked clean, and converted again after an interruption.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "repofix.h"
#include "unit.h"

/* <root>/<dir>/<name>, made a directory. */
static int
mkdir_in(const char *root, const char *dir, const char *name)
{
	char	path[2 * MAX_PATH_LEN];

	snprintf(path, sizeof(path), "%s/%s/%s", root, dir, name);
	return mkdir(path, 0750) == 0;
}

static int
put_bytes(const char *root, const char *name, const unsigned char *buf, size_t len)
{
	char	path[2 * MAX_PATH_LEN];

	snprintf(path, sizeof(path), "%s/%s", root, name);
	return write_file(path, buf, len, 0640, NULL, 0);
}

/* An old record directory <state>/<dir> for TXID; with DER, issued that certificate. */
static int
old_record(const char *root, const char *state, const char *dir, const char *txid,
    const char *serial, const unsigned char *der, size_t len, char id[REPO_ID_LEN + 1])
{
	char	name[MAX_PATH_LEN], meta[1024];

	repo_id(id, (const unsigned char *)txid, strlen(txid), NULL);
	if (dir == NULL)
		dir = id;
	snprintf(meta, sizeof(meta), "id=%s\ntransaction_id=%s\nmessage_type=19\n"
	    "subject=/CN=%s/O=Test\nrole=User\n%s%s%screated=1704067200\nupdated=1704067300\n",
	    id, txid, txid, serial ? "serial=" : "", serial ? serial : "", serial ? "\n" : "");
	if (!mkdir_in(root, state, dir))
		return 0;
	snprintf(name, sizeof(name), "%s/%s/meta", state, dir);
	if (!put(root, name, meta))
		return 0;
	snprintf(name, sizeof(name), "%s/%s/csr.der", state, dir);
	if (!put(root, name, "csr-bytes"))
		return 0;
	snprintf(name, sizeof(name), "%s/%s/request.der", state, dir);
	if (!put(root, name, "request-bytes"))
		return 0;
	if (der == NULL)
		return 1;
	snprintf(name, sizeof(name), "%s/%s/cert.der", state, dir);
	return put_bytes(root, name, der, len);
}

/* What an older version published for an issued certificate: PEM, .id, DN entry, line. */
static int
old_published(const char *root, const char *sn, const char *id, const unsigned char *der,
    size_t len)
{
	char		 name[MAX_PATH_LEN], text[256], key[REPO_DNKEY_MAX + 1], *pem;
	BIO		*b = BIO_new(BIO_s_mem());
	long		 n;
	int		 ok = 0;

	if (b == NULL || !PEM_write_bio(b, PEM_STRING_X509, "", der, (long)len) ||
	    (n = BIO_get_mem_data(b, &pem)) <= 0 || dnkey_of_der(der, len, key) == NULL)
		goto out;
	snprintf(name, sizeof(name), "certs/%s.pem", sn);
	if (!put_bytes(root, name, (unsigned char *)pem, (size_t)n))
		goto out;
	snprintf(name, sizeof(name), "certs/%s.id", sn);
	snprintf(text, sizeof(text), "%s\n%s\n", id, key);
	if (!put(root, name, text) || !mkdir_in(root, "bydn", key))
		goto out;
	snprintf(name, sizeof(name), "bydn/%s/%s", key, sn);
	ok = put(root, name, "");
out:
	BIO_free(b);
	return ok;
}

static void
test_migrate(void)
{
	char				 root[256], name[2 * MAX_PATH_LEN];
	char				 key[REPO_DNKEY_MAX + 1];
	char				 idp[REPO_ID_LEN + 1], idi[REPO_ID_LEN + 1], ida[REPO_ID_LEN + 1];
	char				 ido[REPO_ID_LEN + 1], old[REPO_ID_LEN + 8], owner[REPO_ID_LEN + 1], *idx;
	unsigned char			*der1 = NULL, *der2 = NULL;
	size_t				 len1 = 0, len2 = 0;
	struct repo			*r;
	struct record			*rec;
	struct repo_issue_report	 rep = { 0 };
	struct stat			 sb;

	if ((r = new_repo("old", root, sizeof(root))) == NULL) {
		CHECK(0);
		return;
	}
	der1 = make_cert("issued-one", "01", T2030, &len1);
	der2 = make_cert("approved-two", "02", T2030, &len2);
	CHECK(der1 != NULL && der2 != NULL);
	/* The older layout: a pending record, an issued one published, an approved one that
	 * a crash left holding its certificate, one whose conversion was interrupted. */
	CHECK(old_record(root, "pending", NULL, "pending-one", NULL, NULL, 0, idp));
	CHECK(old_record(root, "issued", NULL, "issued-one", "01", der1, len1, idi));
	CHECK(old_published(root, "01", idi, der1, len1));
	CHECK(put(root, "index.txt", "V\t300101000000Z\t\t01\tunknown\t/CN=issued-one/O=Test\n"));
	CHECK(old_record(root, "approved", NULL, "approved-two", "02", der2, len2, ida));
	repo_id(ido, (const unsigned char *)"interrupted", 11, NULL);
	snprintf(old, sizeof(old), ".old-%s", ido);
	CHECK(old_record(root, "rejected", old, "interrupted", NULL, NULL, 0, ido));
	CHECK(put(root, "serial", "03\n"));

	/* Unreadable as it is: the checker says so and points at migrate. */
	CHECK(repo_record_load(r, idp, 0) == NULL);
	CHECK(repo_check(r, 0, repo_issue_collect, &rep) > 0);
	repo_issue_report_free(&rep);
	memset(&rep, 0, sizeof(rep));

	CHECK_MSG(repo_migrate(r, repo_issue_collect, &rep) == 0, "issues left");
	if (getenv("TEST_VERBOSE") != NULL)
		for (size_t i = 0; i < rep.n; i++)
			fprintf(stderr, "migrate: %s: %s%s\n", rep.v[i].what, rep.v[i].detail,
			    rep.v[i].repaired ? " [repaired]" : "");
	repo_issue_report_free(&rep);
	memset(&rep, 0, sizeof(rep));

	/* Every record is a file, with its blobs. */
	CHECK((rec = repo_record_load(r, idp, 1)) != NULL && rec->state == RS_PENDING &&
	    rec->csr_len == 9 && memcmp(rec->csr_der, "csr-bytes", 9) == 0 &&
	    rec->request_len == 13 && rec->created == 1704067200 && rec->updated == 1704067300 &&
	    rec->subject != NULL && strcmp(rec->subject, "/CN=pending-one/O=Test") == 0);
	record_free(rec);
	CHECK((rec = repo_record_load(r, idi, 0)) != NULL && rec->state == RS_ISSUED &&
	    rec->cert_len == len1 && memcmp(rec->cert_der, der1, len1) == 0);
	record_free(rec);
	/* The interrupted issue of the older version is published by the check. */
	CHECK((rec = repo_record_load(r, ida, 0)) != NULL && rec->state == RS_ISSUED &&
	    rec->serial != NULL && strcmp(rec->serial, "02") == 0);
	record_free(rec);
	CHECK(exists(root, "certs/02.pem") && !exists(root, "certs/01.id"));
	CHECK((rec = repo_record_load(r, ido, 0)) != NULL && rec->state == RS_REJECTED);
	record_free(rec);
	snprintf(name, sizeof(name), "rejected/%s", old);
	CHECK(!exists(root, name));
	snprintf(name, sizeof(name), "%s/pending/%s", root, idp);
	CHECK(lstat(name, &sb) == 0 && S_ISREG(sb.st_mode));
	/* certs/01.pem names its record; the DN index is the new one. */
	CHECK(repo_record_by_serial(r, "01", owner) && strcmp(owner, idi) == 0);
	CHECK(dnkey_of_der(der1, len1, key) != NULL);
	snprintf(name, sizeof(name), "bydn/%.3s/%s.01", key, key);
	CHECK(exists(root, name));
	snprintf(name, sizeof(name), "bydn/%s", key);
	CHECK(!exists(root, name));
	idx = slurp(root, "index.txt");
	CHECK(idx != NULL && strstr(idx, "\t01\tunknown\t/CN=issued-one/O=Test\n") != NULL &&
	    strstr(idx, "\t02\tunknown\t/CN=approved-two/O=Test\n") != NULL);
	free(idx);

	/* Clean now, and a second run has nothing to do. */
	CHECK(repo_check(r, 0, repo_issue_collect, &rep) == 0 && rep.n == 0);
	repo_issue_report_free(&rep);
	memset(&rep, 0, sizeof(rep));
	CHECK(repo_migrate(r, repo_issue_collect, &rep) == 0 && rep.n == 0);
	repo_issue_report_free(&rep);

	free(der1);
	free(der2);
	repo_close(r);
}

int
main(void)
{
	if (!repofix_begin("test_repo_migrate"))
		return 1;
	test_migrate();
	repofix_end();
	return unit_done("repo_migrate");
}
