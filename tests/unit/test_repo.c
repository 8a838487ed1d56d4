/*
 * Unit tests of the repository (src/repo.c, repo_record.c, repo_issue.c): ids, records,
 * states, issuing certificates (serials unique under concurrency), and cross-process
 * locking. Everything happens under a mkdtemp() directory in /tmp.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fileio.h"
#include "repo.h"
#include "unit.h"

#define NCHILD		8
#define NPERCHILD	100

static char	base[] = "/tmp/test_repo.XXXXXX";

/* A fresh repository <base>/<name>, opened. */
static struct repo *
new_repo(const char *name, char *root, size_t rootlen)
{
	char		 err[256];
	struct repo	*r;

	snprintf(root, rootlen, "%s/%s", base, name);
	if (!repo_create(root, err, sizeof(err))) {
		fprintf(stderr, "repo_create %s: %s\n", root, err);
		return NULL;
	}
	if ((r = repo_open(root, err, sizeof(err))) == NULL)
		fprintf(stderr, "repo_open %s: %s\n", root, err);
	return r;
}

static int
file_is(const char *root, const char *name, const char *want)
{
	char		 path[MAX_PATH_LEN];
	unsigned char	*buf = NULL;
	size_t		 len;
	int		 ok;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	if (!read_file(path, &buf, &len, 1 << 20, NULL, 0))
		return 0;
	ok = len == strlen(want) && memcmp(buf, want, len) == 0;
	if (!ok)
		fprintf(stderr, "%s: got \"%.*s\", want \"%s\"\n", path, (int)len, buf, want);
	free(buf);
	return ok;
}

/* Entries in <root>/tmp (staging leftovers). */
static int
tmp_entries(const char *root)
{
	char		 path[MAX_PATH_LEN];
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	snprintf(path, sizeof(path), "%s/tmp", root);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A record for TXID, fields filled with recognizable values; the caller frees it. */
static struct record *
make_record(const void *txid, size_t len, const char *renewal_of)
{
	struct record	*rec;

	if ((rec = calloc(1, sizeof(*rec))) == NULL)
		return NULL;
	repo_id(rec->id, txid, len, renewal_of);
	rec->state = RS_NONE;
	if ((rec->txid = malloc(len + 1)) == NULL) {
		free(rec);
		return NULL;
	}
	memcpy(rec->txid, txid, len);
	rec->txid_len = len;
	rec->msgtype = renewal_of ? MT_RENEWALREQ : MT_PKCSREQ;
	rec->subject = strdup("/CN=host\\with=odd\nchars/O=Ex\xc3\xa4mple");
	rec->key_fp = strdup("00ff");
	rec->digest = strdup("SHA256");
	rec->cipher = strdup("AES-128-CBC");
	rec->client = strdup("192.0.2.7");
	rec->challenge = strdup("valid");
	rec->role = strdup("");
	if (renewal_of)
		rec->renewal_of = strdup(renewal_of);
	rec->created = 1700000000;
	return rec;
}

static int
same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* The id versions before REPO_ID_LABEL gave: SHA-256(txid [|| 0x00 || serial]). */
static void
legacy_id(char out[REPO_ID_LEN + 1], const char *txid, size_t len, const char *serial)
{
	unsigned char	buf[256], md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen = 0;
	size_t		n = len;

	memcpy(buf, txid, len);
	if (serial != NULL) {
		buf[n++] = 0;
		memcpy(buf + n, serial, strlen(serial));
		n += strlen(serial);
	}
	out[0] = '\0';
	if (EVP_Digest(buf, n, md, &mdlen, EVP_sha256(), NULL))
		hex_encode(out, md, mdlen);
}

/*
 * Records stored under the old ids are still found, but only by the transaction they
 * belong to: a record of txid "SQ\0" "01" does not answer for txid "SQ" renewing 01.
 */
static void
test_legacy_ids(void)
{
	char		 root[MAX_PATH_LEN], id[REPO_ID_LEN + 1], want[REPO_ID_LEN + 1];
	struct repo	*r;
	struct record	*rec;

	CHECK((r = new_repo("legacy", root, sizeof(root))) != NULL);
	if (r == NULL)
		return;
	/* A renewal stored by an older version. */
	if ((rec = make_record("RENEW-1", 7, "0A")) != NULL) {
		legacy_id(rec->id, "RENEW-1", 7, "0A");
		CHECK(repo_record_create(r, rec, RS_PENDING));
		CHECK(repo_find_txn(r, (const unsigned char *)"RENEW-1", 7, "0A", id) ==
		    RS_PENDING);
		CHECK(strcmp(id, rec->id) == 0);
		/* The same transactionID as an enrollment is another transaction. */
		CHECK(repo_find_txn(r, (const unsigned char *)"RENEW-1", 7, NULL, id) ==
		    RS_NONE);
		record_free(rec);
	}
	/* A squatter under the old scheme: its old id is the renewal's old id. */
	if ((rec = make_record("SQ\00001", 5, NULL)) != NULL) {
		legacy_id(rec->id, "SQ\00001", 5, NULL);
		legacy_id(want, "SQ", 2, "01");
		CHECK(strcmp(rec->id, want) == 0);
		CHECK(repo_record_create(r, rec, RS_PENDING));
		CHECK(repo_find_txn(r, (const unsigned char *)"SQ", 2, "01", id) == RS_NONE);
		repo_id(want, (const unsigned char *)"SQ", 2, "01");
		CHECK(strcmp(id, want) == 0);
		CHECK(repo_find_txn(r, (const unsigned char *)"SQ\00001", 5, NULL, id) ==
		    RS_PENDING);
		record_free(rec);
	}
	/* A record made now is found under its new id. */
	if ((rec = make_record("NEW-1", 5, NULL)) != NULL) {
		CHECK(repo_record_create(r, rec, RS_APPROVED));
		CHECK(repo_find_txn(r, (const unsigned char *)"NEW-1", 5, NULL, id) ==
		    RS_APPROVED);
		CHECK(strcmp(id, rec->id) == 0);
		record_free(rec);
	}
	repo_close(r);
}

static void
test_escape(void)
{
	char	buf[64];

	log_escape(buf, sizeof(buf), "a\\b\n\0\xff~", 7);
	CHECK(strcmp(buf, "a\\x5Cb\\x0A\\x00\\xFF~") == 0);
	log_escape(buf, 6, "ab\ncd", 5);		/* "\x0A" does not fit: cut before it */
	CHECK(strcmp(buf, "ab") == 0);
	log_escape(buf, 1, "abc", 3);
	CHECK(buf[0] == '\0');
	CHECK(secret_equal("s3cret", "s3cret"));
	CHECK(!secret_equal("s3cret", "s3creT"));
	CHECK(!secret_equal("s3cret", "s3cre"));
	CHECK(!secret_equal(NULL, "x"));
}

static void
test_id(void)
{
	char	id[REPO_ID_LEN + 1];
	char	other[REPO_ID_LEN + 1];

	/*
	 * SHA-256("scep-record-id-v2\0" || u32(len) "enroll" || u32(len) txid
	 * [|| u32(len) serial]), with "renewal" for a renewal; u32 is big-endian.
	 */
	repo_id(id, (const unsigned char *)"abc", 3, NULL);
	CHECK(strcmp(id, "b1599a524746ed38bee91f742a08d7df"
	    "69bb9a3788a33ae306be22d56d680cfa") == 0);
	repo_id(id, (const unsigned char *)"abc", 3, "01");
	CHECK(strcmp(id, "e6c349a23ef4dd39faf9081ff1820cb4"
	    "318af9c77ef038e788a61932dc0618bc") == 0);
	repo_id(id, NULL, 0, NULL);
	CHECK(strcmp(id, "5710bb50631a7f5625c058b804a925c5"
	    "26c29a63255f1c3885710b7c31e6e51d") == 0);
	/* The old encoding's collision: txid "abc\0" "01" against txid "abc" renewing 01. */
	repo_id(other, (const unsigned char *)"abc\00001", 6, NULL);
	repo_id(id, (const unsigned char *)"abc", 3, "01");
	CHECK(strcmp(id, other) != 0);
	repo_id(other, (const unsigned char *)"abc", 3, "");
	repo_id(id, (const unsigned char *)"abc", 3, NULL);
	CHECK(strcmp(id, other) != 0);
	CHECK(repo_id_valid(id));
	CHECK(!repo_id_valid(NULL));
	CHECK(!repo_id_valid(""));
	CHECK(!repo_id_valid("../../etc"));
	CHECK(!repo_id_valid("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
	CHECK(!repo_id_valid("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"));
	CHECK(!repo_id_valid("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555"));
	CHECK(rstate_from_name("issued") == RS_ISSUED);
	CHECK(rstate_from_name("nope") == RS_NONE);
	CHECK(strcmp(rstate_name(RS_REJECTED), "rejected") == 0);
}

static void
test_create_layout(void)
{
	char		 root[512], err[256], path[MAX_PATH_LEN];
	struct repo	*r;
	struct stat	 sb;

	CHECK((r = new_repo("layout", root, sizeof(root))) != NULL);
	repo_close(r);
	snprintf(path, sizeof(path), "%s/serial", root);
	CHECK(access(path, F_OK) == -1 && errno == ENOENT);	/* serials are random */
	CHECK(file_is(root, "crlnumber", "01\n"));
	CHECK(file_is(root, "index.txt", ""));
	CHECK(file_is(root, "index.txt.attr", "unique_subject = no\n"));
	snprintf(path, sizeof(path), "%s/ca", root);
	CHECK(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0700);
	snprintf(path, sizeof(path), "%s/pending", root);
	CHECK(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0750);

	/* A second repo_create keeps existing counters. */
	snprintf(path, sizeof(path), "%s/crlnumber", root);
	CHECK(write_file(path, "1234\n", 5, 0640, NULL, 0));
	CHECK(repo_create(root, err, sizeof(err)));
	CHECK(file_is(root, "crlnumber", "1234\n"));
	CHECK(tmp_entries(root) == 0);

	/* Open refuses a directory that is not a repository. */
	CHECK(repo_open(base, err, sizeof(err)) == NULL && err[0] != '\0');
	CHECK(repo_open("/nonexistent/x", err, sizeof(err)) == NULL);
}

static void
test_files(const char *root)
{
	char		 path[MAX_PATH_LEN], err[MAX_PATH_LEN + 128];
	unsigned char	*buf = NULL;
	size_t		 len = 0;

	snprintf(path, sizeof(path), "%s/ca/blob", root);
	CHECK(write_file(path, "abc\0def", 7, 0600, NULL, 0));
	CHECK(read_file(path, &buf, &len, 7, NULL, 0) && len == 7 && memcmp(buf, "abc\0def", 7) == 0);
	free(buf);
	buf = NULL;
	CHECK(!read_file(path, &buf, &len, 6, NULL, 0) && errno == EFBIG && buf == NULL);
	CHECK(write_file(path, "", 0, 0600, NULL, 0));
	CHECK(read_file(path, &buf, &len, 0, NULL, 0) && len == 0 && buf != NULL && buf[0] == 0);
	free(buf);
	buf = NULL;
	snprintf(path, sizeof(path), "%s/ca/missing", root);
	CHECK(!read_file(path, &buf, &len, 10, NULL, 0) && errno == ENOENT);
	snprintf(path, sizeof(path), "%s/nodir/file", root);
	CHECK(!write_file(path, "x", 1, 0600, NULL, 0) && errno == ENOENT);
	snprintf(path, sizeof(path), "%s/ca", root);
	CHECK(!read_file(path, &buf, &len, 10, NULL, 0));	/* a directory */

	/* fileio.h: one sentence naming the path, errno kept for the caller to test. */
	snprintf(path, sizeof(path), "%s/ca/missing", root);
	CHECK(!read_file(path, &buf, &len, 10, err, sizeof(err)) && errno == ENOENT &&
	    strstr(err, path) != NULL && strstr(err, strerror(ENOENT)) != NULL);
	CHECK(create_file(path, "1", 1, 0600, err, sizeof(err)));
	CHECK(!create_file(path, "2", 1, 0600, err, sizeof(err)) && errno == EEXIST &&
	    strstr(err, path) != NULL);
	CHECK(read_file(path, &buf, &len, 10, NULL, 0) && len == 1 && buf[0] == '1');
	free(buf);
	buf = NULL;
	CHECK(unlink(path) == 0);
	snprintf(path, sizeof(path), "%s/ca/sub", root);
	CHECK(make_dir(path, 0700, err, sizeof(err)) && make_dir(path, 0700, NULL, 0));
	CHECK(create_file(path, "x", 1, 0600, NULL, 0) == 0 && errno == EEXIST);
	snprintf(path, sizeof(path), "%s/ca/sub/f", root);
	CHECK(write_file(path, "x", 1, 0600, NULL, 0));
	CHECK(!make_dir(path, 0700, err, sizeof(err)) && errno == ENOTDIR);
	snprintf(path, sizeof(path), "%s/ca/sub", root);
	CHECK(remove_flat_dir(path, err, sizeof(err)) && access(path, F_OK) == -1);
	CHECK(remove_flat_dir(path, err, sizeof(err)));		/* absent */
	CHECK(!fsync_dir(path, err, sizeof(err)) && errno == ENOENT && strstr(err, path) != NULL);
}

static const struct {
	const char	*txid;
	size_t		 len;
} nasty[] = {
	{ "../../etc", 9 },
	{ "line1\nline2\r\n", 13 },
	{ "nul\0inside\0", 11 },
	{ "\\x41 is not A", 13 },
	{ "id=0000\nserial=FF\ntransaction_id=evil", 37 },
	{ "\xff\xfe\x80\x00\x01", 5 },
	{ "", 0 },
	{ "plain-7f3a", 10 },
};
#define NNASTY	(sizeof(nasty) / sizeof(nasty[0]))

static void
test_records(struct repo *r, const char *root)
{
	struct record	*rec, *got;
	char		 path[MAX_PATH_LEN], *out = NULL;
	size_t		 i, outlen = 0;
	FILE		*f;
	unsigned char	 csr[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
	unsigned char	 req[300];

	for (i = 0; i < sizeof(req); i++)
		req[i] = (unsigned char)i;

	for (i = 0; i < NNASTY; i++) {
		rec = make_record(nasty[i].txid, nasty[i].len, i % 2 ? "0A" : NULL);
		CHECK(rec != NULL && repo_id_valid(rec->id));
		if (rec == NULL)
			continue;
		rec->csr_der = malloc(sizeof(csr));
		memcpy(rec->csr_der, csr, sizeof(csr));
		rec->csr_len = sizeof(csr);
		rec->request_der = malloc(sizeof(req));
		memcpy(rec->request_der, req, sizeof(req));
		rec->request_len = sizeof(req);
		CHECK_MSG(repo_record_create(r, rec, RS_PENDING), "txid %zu", i);
		CHECK(repo_find(r, rec->id) == RS_PENDING);
		CHECK(repo_find_once(r, rec->id) == RS_PENDING);

		got = repo_record_load(r, rec->id, 0);
		CHECK_MSG(got != NULL, "load txid %zu", i);
		if (got != NULL) {
			CHECK(got->state == RS_PENDING);
			CHECK(strcmp(got->id, rec->id) == 0);
			CHECK_MSG(got->txid_len == nasty[i].len && got->txid != NULL &&
			    memcmp(got->txid, nasty[i].txid, nasty[i].len) == 0,
			    "txid %zu round trip", i);
			CHECK(got->msgtype == rec->msgtype);
			CHECK(same_str(got->subject, rec->subject));
			CHECK(same_str(got->key_fp, rec->key_fp));
			CHECK(same_str(got->digest, rec->digest));
			CHECK(same_str(got->cipher, rec->cipher));
			CHECK(same_str(got->client, rec->client));
			CHECK(same_str(got->challenge, rec->challenge));
			CHECK(same_str(got->role, ""));
			CHECK(got->ra == NULL && got->serial == NULL && got->signer_fp == NULL);
			CHECK(same_str(got->renewal_of, rec->renewal_of));
			CHECK(got->created == 1700000000 && got->updated == 1700000000);
			CHECK(got->csr_der == NULL && got->request_der == NULL);
		}
		record_free(got);

		got = repo_record_load(r, rec->id, 1);
		CHECK(got != NULL);
		if (got != NULL) {
			CHECK(got->csr_len == sizeof(csr) &&
			    memcmp(got->csr_der, csr, sizeof(csr)) == 0);
			CHECK(got->request_len == sizeof(req) &&
			    memcmp(got->request_der, req, sizeof(req)) == 0);
			CHECK(got->signer_der == NULL && got->cert_der == NULL);
		}
		record_free(got);

		/* Duplicates: same state and another state, nothing left in tmp/. */
		errno = 0;
		CHECK(!repo_record_create(r, rec, RS_PENDING) && errno == EEXIST);
		errno = 0;
		CHECK(!repo_record_create(r, rec, RS_ISSUED) && errno == EEXIST);
		CHECK(repo_find(r, rec->id) == RS_PENDING);
		CHECK(tmp_entries(root) == 0);
		record_free(rec);
	}

	/* The record file is readable text: the raw newline of a txid is escaped. */
	rec = make_record(nasty[1].txid, nasty[1].len, "0A");	/* as in the loop */
	snprintf(path, sizeof(path), "%s/pending/%s", root, rec->id);
	CHECK(file_is(root, "index.txt", ""));
	{
		unsigned char	*m = NULL;
		size_t		 ml;

		CHECK(read_file(path, &m, &ml, 1 << 20, NULL, 0));
		CHECK(m != NULL && strstr((char *)m,
		    "transaction_id=line1\\x0Aline2\\x0D\\x0A\n") != NULL);
		CHECK(m != NULL && strstr((char *)m,
		    "transaction_id_hex=6c696e65310a6c696e65320d0a\n") != NULL);
		CHECK(m != NULL && strstr((char *)m, "\nstate=") == NULL);
		/* The blobs: one line of base64 each, after the meta. */
		CHECK(m != NULL && strstr((char *)m, "\ncsr=MAMCAQA=\n") != NULL);
		CHECK(m != NULL && strstr((char *)m, "\nrequest=AAECAwQF") != NULL);
		CHECK(m != NULL && strstr((char *)m, "\ncert=") == NULL);
		free(m);
	}

	/* Printer. */
	got = repo_record_load(r, rec->id, 1);
	CHECK(got != NULL);
	if (got != NULL && (f = open_memstream(&out, &outlen)) != NULL) {
		record_print(got, f);
		fclose(f);
		CHECK(strncmp(out, "id: ", 4) == 0);
		CHECK(strstr(out, "\nstate: pending\n") != NULL);
		CHECK(strstr(out, "\ntransaction_id: line1\\x0Aline2\\x0D\\x0A\n") != NULL);
		CHECK(strstr(out, "\nmessage_type: 17 (RenewalReq)\n") != NULL);
		CHECK(strstr(out, "\nsubject: /CN=host\\x5Cwith=odd\\x0Achars/O=Ex\\xC3\\xA4mple\n")
		    != NULL);
		CHECK(strstr(out, "\ncreated: 2023-11-14T22:13:20Z\n") != NULL);
		CHECK(strstr(out, "\ncsr: 5 bytes\n") != NULL);
		free(out);
	}

	/* Update: fields change, created stays, updated moves. */
	if (got != NULL) {
		got->reason = strdup("bad \"name\"\nsecond line");
		CHECK(repo_lock(r));
		CHECK(repo_record_update(r, got));
		repo_unlock(r);
		record_free(got);
		got = repo_record_load(r, rec->id, 0);
		CHECK(got != NULL && same_str(got->reason, "bad \"name\"\nsecond line"));
		CHECK(got != NULL && got->created == 1700000000 && got->updated > 1700000000);
		/* Updated from a record loaded without its blobs: the blobs stay. */
		CHECK(got != NULL && got->csr_der == NULL);
		if (got != NULL) {
			CHECK(repo_lock(r));
			CHECK(repo_record_update(r, got));
			repo_unlock(r);
		}
		record_free(got);
		got = repo_record_load(r, rec->id, 1);
		CHECK(got != NULL && got->csr_len == sizeof(csr) && got->request_len == sizeof(req));
		record_free(got);
	}

	/* Hand-edited meta: unknown keys and comments are fine, bad escapes are not. */
	{
		char	text[512];

		snprintf(text, sizeof(text), "# a comment\nid=%s\nfuture_key=whatever\n"
		    "transaction_id=line1\\x0aline2\\x0D\\x0A\nmessage_type=19\n"
		    "subject=/CN=x", rec->id);
		CHECK(write_file(path, text, strlen(text), 0640, NULL, 0));
		got = repo_record_load(r, rec->id, 0);
		CHECK(got != NULL && got->txid_len == 13 &&
		    memcmp(got->txid, nasty[1].txid, 13) == 0 && same_str(got->subject, "/CN=x"));
		record_free(got);
		snprintf(text, sizeof(text), "id=%s\nsubject=a\\q\n", rec->id);
		CHECK(write_file(path, text, strlen(text), 0640, NULL, 0));
		CHECK(repo_record_load(r, rec->id, 0) == NULL);
		snprintf(text, sizeof(text), "id=%s\nsubject=a\\x0\n", rec->id);
		CHECK(write_file(path, text, strlen(text), 0640, NULL, 0));
		CHECK(repo_record_load(r, rec->id, 0) == NULL);
		snprintf(text, sizeof(text), "id=%s\nsubject=a\\x00b\n", rec->id);
		CHECK(write_file(path, text, strlen(text), 0640, NULL, 0));
		CHECK(repo_record_load(r, rec->id, 0) == NULL);
		snprintf(text, sizeof(text), "id=%s\ntransaction_id=a\n"
		    "transaction_id_hex=62\n", rec->id);
		CHECK(write_file(path, text, strlen(text), 0640, NULL, 0));
		CHECK(repo_record_load(r, rec->id, 0) == NULL);
		snprintf(text, sizeof(text), "id=%.63s0\n", rec->id);
		CHECK(write_file(path, text, strlen(text), 0640, NULL, 0));
		CHECK(repo_record_load(r, rec->id, 0) == NULL || rec->id[63] == '0');
		snprintf(text, sizeof(text), "id=%s\ntransaction_id_hex=6162\n", rec->id);
		CHECK(write_file(path, text, strlen(text), 0640, NULL, 0));
		got = repo_record_load(r, rec->id, 0);
		CHECK(got != NULL && got->txid_len == 2 && memcmp(got->txid, "ab", 2) == 0);
		record_free(got);
		/* Base64 blobs: strict, padded, only the certificate without with_blobs. */
		snprintf(text, sizeof(text), "id=%s\ncsr=YWJj\ncert=YQ==\n", rec->id);
		CHECK(write_file(path, text, strlen(text), 0640, NULL, 0));
		got = repo_record_load(r, rec->id, 0);
		CHECK(got != NULL && got->csr_der == NULL && got->cert_len == 1 &&
		    got->cert_der[0] == 'a');
		record_free(got);
		got = repo_record_load(r, rec->id, 1);
		CHECK(got != NULL && got->csr_len == 3 && memcmp(got->csr_der, "abc", 3) == 0);
		record_free(got);
		snprintf(text, sizeof(text), "id=%s\ncsr=YWJ\n", rec->id);
		CHECK(write_file(path, text, strlen(text), 0640, NULL, 0));
		CHECK(repo_record_load(r, rec->id, 1) == NULL);
		snprintf(text, sizeof(text), "id=%s\ncert=YW=j\n", rec->id);
		CHECK(write_file(path, text, strlen(text), 0640, NULL, 0));
		CHECK(repo_record_load(r, rec->id, 0) == NULL);
		snprintf(text, sizeof(text), "id=%s\ncert=Y Q==\n", rec->id);
		CHECK(write_file(path, text, strlen(text), 0640, NULL, 0));
		CHECK(repo_record_load(r, rec->id, 0) == NULL);
	}
	record_free(rec);

	/* Untrusted ids never reach a path. */
	CHECK(repo_find(r, "../../etc/passwd") == RS_NONE);
	CHECK(repo_record_load(r, "..", 0) == NULL);
	CHECK(repo_record_load(r, "0000000000000000000000000000000000000000000000000000000000000000",
	    0) == NULL && errno == ENOENT);
}

static void
test_moves(struct repo *r)
{
	struct record	*rec;
	char		 path[MAX_PATH_LEN];

	rec = make_record("move-me", 7, NULL);
	CHECK(repo_record_create(r, rec, RS_PENDING));
	CHECK(repo_lock(r));
	CHECK(repo_move(r, rec->id, RS_PENDING, RS_APPROVED));
	CHECK(repo_find(r, rec->id) == RS_APPROVED);
	errno = 0;
	CHECK(!repo_move(r, rec->id, RS_PENDING, RS_REJECTED) && errno == ENOENT);
	CHECK(repo_find(r, rec->id) == RS_APPROVED);
	CHECK(!repo_move(r, rec->id, RS_APPROVED, RS_APPROVED));
	CHECK(!repo_move(r, "../x", RS_APPROVED, RS_ISSUED));
	/* An existing target (even a directory) is never replaced. */
	snprintf(path, sizeof(path), "%s/issued/%s", repo_root(r), rec->id);
	CHECK(mkdir(path, 0750) == 0);
	errno = 0;
	CHECK(!repo_move(r, rec->id, RS_APPROVED, RS_ISSUED) && errno == EEXIST);
	CHECK(rmdir(path) == 0);
	CHECK(repo_move(r, rec->id, RS_APPROVED, RS_ISSUED));
	CHECK(repo_find(r, rec->id) == RS_ISSUED);
	repo_unlock(r);
	record_free(rec);
	rec = repo_record_load(r, "d1b8e10b3c9c7b1e7df9e2a5e3a7c7d1f3f8b7a0f2a9c3b4d5e6f708192a3b4c", 0);
	CHECK(rec == NULL);
}

static int
count_fn(const char *id, void *arg)
{
	(void)id;
	(*(int *)arg)++;
	return 0;
}

static int
stop_fn(const char *id, void *arg)
{
	(void)id;
	return ++(*(int *)arg) == 2 ? 42 : 0;
}

static void
test_foreach(struct repo *r, const char *root)
{
	char	path[MAX_PATH_LEN];
	int	n = 0;

	/* Names of the wrong shape are skipped. */
	snprintf(path, sizeof(path), "%s/pending/not-an-id", root);
	CHECK(mkdir(path, 0750) == 0);
	snprintf(path, sizeof(path), "%s/pending/"
	    "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", root);
	CHECK(mkdir(path, 0750) == 0);
	CHECK(repo_foreach(r, RS_PENDING, count_fn, &n) == 0);
	CHECK_MSG(n == (int)NNASTY, "n = %d", n);
	n = 0;
	CHECK(repo_foreach(r, RS_PENDING, stop_fn, &n) == 42 && n == 2);
	n = 0;
	CHECK(repo_foreach(r, RS_REJECTED, count_fn, &n) == 0 && n == 0);
	n = 0;
	CHECK(repo_foreach(r, RS_ISSUED, count_fn, &n) == 0 && n == 1);
}

static void
test_failed_create(struct repo *r, const char *root)
{
	struct record	*rec;
	char		 dir[MAX_PATH_LEN], save[MAX_PATH_LEN];

	/* A directory in the way of the record's name: the rename fails, tmp/ stays empty. */
	rec = make_record("fails", 5, NULL);
	rec->signer_der = (unsigned char *)strdup("signer");
	rec->signer_len = 6;
	snprintf(dir, sizeof(dir), "%s/rejected/%s", root, rec->id);
	CHECK(mkdir(dir, 0750) == 0);
	CHECK(!repo_record_create(r, rec, RS_REJECTED));
	CHECK(tmp_entries(root) == 0);
	CHECK(rmdir(dir) == 0);
	CHECK(repo_find(r, rec->id) == RS_NONE);

	/* Invalid input. */
	memcpy(rec->id, "../", 4);
	CHECK(!repo_record_create(r, rec, RS_PENDING) && errno == EINVAL);
	CHECK(!repo_record_create(r, NULL, RS_PENDING));
	repo_id(rec->id, (unsigned char *)"fails", 5, NULL);
	CHECK(!repo_record_create(r, rec, RS_NONE));
	CHECK(!repo_record_create(r, rec, RS_COUNT));
	CHECK(tmp_entries(root) == 0);

	/* Now it works, with the signer blob. */
	CHECK(repo_record_create(r, rec, RS_REJECTED));
	record_free(rec);
	repo_id(save, (unsigned char *)"fails", 5, NULL);
	rec = repo_record_load(r, save, 1);
	CHECK(rec != NULL && rec->state == RS_REJECTED && rec->signer_len == 6 &&
	    memcmp(rec->signer_der, "signer", 6) == 0);
	record_free(rec);
}

/* repo_serial_name(): a certificate's serial as certs/<SERIAL>.pem names it. */
static void
test_serial_name(void)
{
	ASN1_INTEGER	*ai = ASN1_INTEGER_new();
	char		 sn[REPO_SERIAL_MAX + 2], small[3];

	CHECK(ai != NULL);
	CHECK(ASN1_INTEGER_set(ai, 0x1a3));
	CHECK(repo_serial_name(ai, sn, sizeof(sn)) && strcmp(sn, "01A3") == 0);
	CHECK(ASN1_INTEGER_set(ai, 0));
	CHECK(repo_serial_name(ai, sn, sizeof(sn)) && strcmp(sn, "00") == 0);
	CHECK(ASN1_INTEGER_set(ai, 0x7f));
	CHECK(repo_serial_name(ai, small, sizeof(small)) && strcmp(small, "7F") == 0);
	CHECK(ASN1_INTEGER_set(ai, 0x1a3));
	CHECK(!repo_serial_name(ai, small, sizeof(small)));
	CHECK(ASN1_INTEGER_set(ai, -5));
	CHECK(!repo_serial_name(ai, sn, sizeof(sn)) && sn[0] == '\0');
	CHECK(!repo_serial_name(NULL, sn, sizeof(sn)));
	ASN1_INTEGER_free(ai);
}

/* A throwaway self-signed certificate with SERIAL, DER in malloc'd memory. */
static unsigned char *
make_cert(EVP_PKEY *pk, const char *cn, long serial, time_t not_after, size_t *len)
{
	X509		*x = NULL;
	X509_NAME	*name;
	unsigned char	*der = NULL, *out = NULL;
	int		 n;

	if ((x = X509_new()) == NULL || !X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), serial) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), not_after) == NULL ||
	    (name = X509_get_subject_name(x)) == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	    (const unsigned char *)"Test", -1, -1, 0) ||
	    !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, pk) ||
	    !X509_sign(x, pk, EVP_sha256()) || (n = i2d_X509(x, &der)) <= 0)
		goto out;
	if ((out = malloc((size_t)n)) != NULL) {
		memcpy(out, der, (size_t)n);
		*len = (size_t)n;
	}
out:
	OPENSSL_free(der);
	X509_free(x);
	return out;
}

/* What repo_issue() is given: the facts of the certificate DER. */
static int
facts_of(const unsigned char *der, size_t len, struct repo_cert *cf)
{
	const unsigned char	*p = der;
	X509			*x;
	int			 ok;

	memset(cf, 0, sizeof(*cf));
	x = der != NULL ? d2i_X509(NULL, &p, (long)len) : NULL;
	ok = x != NULL && repo_cert_facts(x, cf);
	X509_free(x);
	return ok;
}

/* REC (a new record, or as loaded from approved/) issued a certificate for CN, SERIAL. */
static int
issue(struct repo *r, struct record *rec, EVP_PKEY *pk, const char *cn, long serial,
    time_t not_after, enum rstate from, repo_gate_fn *gate)
{
	struct repo_cert	 cf;
	unsigned char		*der;
	size_t			 len = 0;
	int			 rc = 0;

	if ((der = make_cert(pk, cn, serial, not_after, &len)) == NULL ||
	    !facts_of(der, len, &cf)) {
		free(der);
		return 0;
	}
	free(rec->cert_der);
	rec->cert_der = der;
	rec->cert_len = len;
	rc = repo_issue(r, rec, &cf, from, gate, NULL);
	repo_cert_facts_free(&cf);
	return rc;
}

static int
gate_no(struct repo *r, const struct record *rec, void *arg)
{
	(void)r;
	(void)rec;
	(void)arg;
	return 0;
}

static int
gate_error(struct repo *r, const struct record *rec, void *arg)
{
	(void)r;
	(void)rec;
	(void)arg;
	return -1;
}

static void
test_issue(void)
{
	char		 root[512], big[70], path[MAX_PATH_LEN];
	struct repo	*r;
	struct record	*rec, *rec2 = NULL, *got = NULL;
	struct repo_cert cf, bad;
	EVP_PKEY	*pk = NULL;
	unsigned char	*back = NULL, *der = NULL, *first = NULL;
	size_t		 blen = 0, len = 0, flen = 0;
	struct stat	 sb;

	if ((r = new_repo("issue", root, sizeof(root))) == NULL ||
	    (pk = EVP_EC_gen("P-256")) == NULL) {
		CHECK(0);
		repo_close(r);
		return;
	}
	/* A new record, issued at once; 2030-01-01T00:00:00Z: UTCTime in the index. */
	rec = make_record("cert-1", 6, NULL);
	CHECK(issue(r, rec, pk, "test one", 1, 1893456000, RS_NONE, NULL) == 1);
	CHECK(repo_find(r, rec->id) == RS_ISSUED);
	CHECK(file_is(root, "index.txt", "V\t300101000000Z\t\t01\tunknown\t/CN=test one/O=Test\n"));
	got = repo_record_load(r, rec->id, 1);
	CHECK(got != NULL && same_str(got->serial, "01") && got->cert_len == rec->cert_len &&
	    memcmp(got->cert_der, rec->cert_der, rec->cert_len) == 0 &&
	    same_str(got->subject, rec->subject));
	record_free(got);
	got = NULL;
	if ((first = malloc(rec->cert_len)) != NULL) {
		memcpy(first, rec->cert_der, rec->cert_len);
		flen = rec->cert_len;
	}
	/* Again: the id is taken; nothing staged stays. */
	errno = 0;
	CHECK(issue(r, rec, pk, "test one", 7, 1893456000, RS_NONE, NULL) == 0 &&
	    errno == EEXIST);
	snprintf(path, sizeof(path), "%s/certs/07.pem", root);
	CHECK(stat(path, &sb) == -1 && errno == ENOENT);
	CHECK(tmp_entries(root) == 0);

	/* An approved record; 2050-01-01T00:00:00Z: GeneralizedTime. */
	rec2 = make_record("cert-2", 6, NULL);
	CHECK(repo_record_create(r, rec2, RS_PENDING));
	CHECK(repo_lock(r) && repo_move(r, rec2->id, RS_PENDING, RS_APPROVED));
	repo_unlock(r);
	got = repo_record_load(r, rec2->id, 1);
	CHECK(got != NULL && got->state == RS_APPROVED);
	if (got == NULL)
		goto out;
	/* Refused by the gate, or the gate fails: nothing is written. */
	CHECK(issue(r, got, pk, "two", 2, 2524608000, RS_APPROVED, gate_no) == REPO_REFUSED);
	CHECK(issue(r, got, pk, "two", 2, 2524608000, RS_APPROVED, gate_error) == 0);
	snprintf(path, sizeof(path), "%s/certs/02.pem", root);
	CHECK(stat(path, &sb) == -1 && errno == ENOENT && tmp_entries(root) == 0);
	/* A serial that is taken: committed, not published; withdrawn, signed again. */
	CHECK(issue(r, got, pk, "two", 1, 2524608000, RS_APPROVED, NULL) == REPO_TAKEN);
	CHECK(repo_find(r, got->id) == RS_APPROVED);
	CHECK(repo_check(r, 0, NULL, NULL) == 0);	/* young: an issue under way */
	CHECK(!repo_issue_unwind(r, rec->id));		/* issued: nothing to withdraw */
	CHECK(repo_issue_finish(r, got->id) == REPO_TAKEN);
	CHECK(repo_issue_unwind(r, got->id));
	record_free(got);
	got = repo_record_load(r, rec2->id, 1);
	CHECK(got != NULL && got->cert_der == NULL && got->serial == NULL &&
	    got->state == RS_APPROVED);
	CHECK(repo_cert_by_serial(r, "01", &back, &blen) && first != NULL && blen == flen &&
	    memcmp(back, first, blen) == 0);
	free(back);
	back = NULL;
	if (got == NULL)
		goto out;
	/* The file changed since it was loaded: ESTALE. */
	rec2->fid = got->fid + 1;
	errno = 0;
	CHECK(issue(r, rec2, pk, "two", 2, 2524608000, RS_APPROVED, NULL) == 0 &&
	    errno == ESTALE);
	CHECK(issue(r, got, pk, "two", 2, 2524608000, RS_APPROVED, NULL) == 1);
	CHECK(file_is(root, "index.txt",
	    "V\t300101000000Z\t\t01\tunknown\t/CN=test one/O=Test\n"
	    "V\t20500101000000Z\t\t02\tunknown\t/CN=two/O=Test\n"));
	/* Finishing what is published already changes nothing. */
	CHECK(repo_issue_finish(r, got->id) == 1);
	CHECK(repo_sync_issued(r));
	CHECK(repo_check(r, 0, NULL, NULL) == 0);

	/* Bad serials, subjects, DN keys or states. */
	CHECK((der = make_cert(pk, "three", 3, 1893456000, &len)) != NULL &&
	    facts_of(der, len, &cf));
	free(rec->cert_der);
	rec->cert_der = der;
	rec->cert_len = len;
	repo_id(rec->id, (const unsigned char *)"cert-3", 6, NULL);
	bad = cf;
	memcpy(bad.serial, "../x", 5);
	CHECK(!repo_issue(r, rec, &bad, RS_NONE, NULL, NULL) && errno == EINVAL);
	bad.serial[0] = '\0';
	CHECK(!repo_issue(r, rec, &bad, RS_NONE, NULL, NULL) && errno == EINVAL);
	memcpy(bad.serial, "03", 3);
	bad.subject = "/CN=tab\there";
	CHECK(!repo_issue(r, rec, &bad, RS_NONE, NULL, NULL) && errno == EINVAL);
	bad.subject = NULL;
	CHECK(!repo_issue(r, rec, &bad, RS_NONE, NULL, NULL) && errno == EINVAL);
	bad.subject = cf.subject;
	memcpy(bad.dnkey, "../x", 5);
	CHECK(!repo_issue(r, rec, &bad, RS_NONE, NULL, NULL) && errno == EINVAL);
	CHECK(!repo_issue(r, rec, NULL, RS_NONE, NULL, NULL) && errno == EINVAL);
	CHECK(!repo_issue(r, rec, &cf, RS_PENDING, NULL, NULL) && errno == EINVAL);
	memcpy(rec->id, "../../x", 8);
	CHECK(!repo_issue(r, rec, &cf, RS_NONE, NULL, NULL) && errno == EINVAL);
	repo_cert_facts_free(&cf);
	snprintf(path, sizeof(path), "%s/certs/03.pem", root);
	CHECK(stat(path, &sb) == -1 && errno == ENOENT);

	/* Lookups by serial: validated, normalized. */
	CHECK(repo_cert_by_serial(r, "1", &back, &blen) && blen == flen &&
	    memcmp(back, first, blen) == 0);
	free(back);
	back = NULL;
	CHECK(repo_cert_by_serial(r, "0002", &back, &blen));
	free(back);
	back = NULL;
	CHECK(!repo_cert_by_serial(r, "../x", &back, &blen) && back == NULL);
	CHECK(!repo_cert_by_serial(r, "", &back, &blen) && back == NULL);
	CHECK(!repo_cert_by_serial(r, "zz", &back, &blen) && back == NULL);
	CHECK(!repo_cert_by_serial(r, NULL, &back, &blen) && back == NULL);
	CHECK(!repo_cert_by_serial(r, "01/../02", &back, &blen));
	memset(big, '1', 65);
	big[65] = '\0';
	CHECK(!repo_cert_by_serial(r, big, &back, &blen));
	errno = 0;
	CHECK(!repo_cert_by_serial(r, "AB", &back, &blen) && errno == ENOENT);
	CHECK(!repo_cert_by_serial(r, "ab", &back, &blen) && errno == ENOENT);
	CHECK(tmp_entries(root) == 0);
out:
	free(first);
	record_free(got);
	record_free(rec);
	record_free(rec2);
	EVP_PKEY_free(pk);
	repo_close(r);
}

/*
 * One child of the concurrency test: NPERCHILD new records, each issued a certificate
 * with serial i + 1 -- the same serials in every child, so that the exclusive creation of
 * certs/<SERIAL>.pem decides between them: one child wins each serial, the others get
 * REPO_TAKEN and withdraw theirs.
 */
static int
child(const char *root, EVP_PKEY *pk, int c)
{
	struct repo	*r;
	struct record	*rec;
	char		 err[256], txid[64];
	int		 i, rc, bad = 0;

	if ((r = repo_open(root, err, sizeof(err))) == NULL)
		return 1;
	for (i = 0; i < NPERCHILD; i++) {
		snprintf(txid, sizeof(txid), "child-%d-%d", c, i);
		if ((rec = make_record(txid, strlen(txid), NULL)) == NULL) {
			bad++;
			continue;
		}
		rc = issue(r, rec, pk, txid, i + 1, 1893456000, RS_NONE, NULL);
		if (rc == REPO_TAKEN) {
			if (!repo_issue_unwind(r, rec->id))
				bad++;
		} else if (rc != 1)
			bad++;
		record_free(rec);
	}
	repo_close(r);
	return bad ? 1 : 0;
}

struct seen {
	struct repo	*r;
	unsigned char	 count[NPERCHILD + 2];
	int		 records, bad;
};

static int
seen_fn(const char *id, void *arg)
{
	struct seen	*s = arg;
	struct record	*rec;
	unsigned long	 v;
	char		*end;

	s->records++;
	if ((rec = repo_record_load(s->r, id, 0)) == NULL || rec->serial == NULL) {
		s->bad++;
		record_free(rec);
		return 0;
	}
	v = strtoul(rec->serial, &end, 16);
	if (*end != '\0' || v == 0 || v > NPERCHILD || strlen(rec->serial) % 2)
		s->bad++;
	else
		s->count[v]++;
	record_free(rec);
	return 0;
}

static void
test_concurrency(void)
{
	char		 root[512];
	struct repo	*r;
	struct seen	*s;
	EVP_PKEY	*pk;
	pid_t		 pids[NCHILD];
	int		 c, i, status, ok, n = 0;

	if ((r = new_repo("concurrency", root, sizeof(root))) == NULL ||
	    (pk = EVP_EC_gen("P-256")) == NULL) {
		CHECK(0);
		repo_close(r);
		return;
	}
	fflush(stdout);
	fflush(stderr);
	for (c = 0; c < NCHILD; c++) {
		if ((pids[c] = fork()) == 0)
			_exit(child(root, pk, c));
		CHECK(pids[c] > 0);
	}
	for (c = 0; c < NCHILD; c++) {
		ok = pids[c] > 0 && waitpid(pids[c], &status, 0) == pids[c] &&
		    WIFEXITED(status) && WEXITSTATUS(status) == 0;
		CHECK_MSG(ok, "child %d", c);
	}
	EVP_PKEY_free(pk);
	/* Allocated after the fork: a child exiting must not own (and "leak") it. */
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		CHECK(0);
		repo_close(r);
		return;
	}
	s->r = r;
	CHECK(repo_foreach(r, RS_ISSUED, seen_fn, s) == 0);
	CHECK_MSG(s->records == NPERCHILD, "%d issued", s->records);
	CHECK(s->bad == 0);
	ok = 1;
	for (i = 1; i <= NPERCHILD; i++)
		if (s->count[i] != 1) {
			fprintf(stderr, "serial %X issued %d times\n", i, s->count[i]);
			ok = 0;
		}
	CHECK_MSG(ok, "serials 1..%d each issued once", NPERCHILD);
	/* The others wait in approved/, their certificates withdrawn. */
	CHECK(repo_foreach(r, RS_APPROVED, count_fn, &n) == 0);
	CHECK_MSG(n == (NCHILD - 1) * NPERCHILD, "%d approved", n);
	CHECK(tmp_entries(root) == 0);
	CHECK(repo_check(r, 0, NULL, NULL) == 0);
	free(s);
	repo_close(r);
}

int
main(void)
{
	char		 root[512];
	struct repo	*r;

	log_init("test_repo", 0, LOG_LVL_ERR);
	fprintf(stderr, "test_repo: the ERROR lines below come from negative tests\n");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_escape();
	test_id();
	test_legacy_ids();
	test_create_layout();
	if ((r = new_repo("records", root, sizeof(root))) != NULL) {
		test_files(root);
		test_records(r, root);
		test_moves(r);
		test_foreach(r, root);
		test_failed_create(r, root);
		repo_close(r);
	} else
		CHECK(0);
	test_serial_name();
	test_issue();
	test_concurrency();

	if (getenv("TEST_REPO_KEEP") == NULL)
		nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else
		fprintf(stderr, "kept %s\n", base);
	return unit_done("repo");
}
