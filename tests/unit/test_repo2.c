/*
 * Unit tests of the repository additions (src/repo.c): DN index, certificate -> record,
 * revocation (checked against `openssl ca -gencrl`), CRL numbers, one-time challenges
 * (with an 8-process race), and the repository checker on clean and damaged trees.
 * Everything happens under a mkdtemp() directory in /tmp.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fileio.h"
#include "repo.h"
#include "unit.h"

#define NRACE		8	/* processes presenting one challenge */
#define RACE_ROUNDS	20
#define T2030		1893456000	/* 2030-01-01T00:00:00Z */
#define T2024		1704067200	/* 2024-01-01T00:00:00Z */

static char		 base[] = "/tmp/test_repo2.XXXXXX";
static EVP_PKEY		*pk;

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

/* Read <root>/<name> into a malloc'd string (NULL if absent). */
static char *
slurp(const char *root, const char *name)
{
	char		 path[MAX_PATH_LEN];
	unsigned char	*buf = NULL;
	size_t		 len;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	if (!read_file(path, &buf, &len, 1 << 24, NULL, 0))
		return NULL;
	return (char *)buf;
}

static int
file_is(const char *root, const char *name, const char *want)
{
	char	*got = slurp(root, name);
	int	 ok = got != NULL && strcmp(got, want) == 0;

	if (!ok)
		fprintf(stderr, "%s/%s: got \"%s\", want \"%s\"\n", root, name,
		    got ? got : "(none)", want);
	free(got);
	return ok;
}

static int
put(const char *root, const char *name, const char *text)
{
	char	path[MAX_PATH_LEN];

	snprintf(path, sizeof(path), "%s/%s", root, name);
	return write_file(path, text, strlen(text), 0640, NULL, 0);
}

static int
exists(const char *root, const char *name)
{
	char		path[MAX_PATH_LEN];
	struct stat	sb;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	return lstat(path, &sb) == 0;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rm_tree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A certificate for CN (O=Test) with hex SERIAL, DER in malloc'd memory. */
static unsigned char *
make_cert(const char *cn, const char *serial, time_t not_after, size_t *len)
{
	X509		*x = NULL;
	X509_NAME	*name;
	BIGNUM		*bn = NULL;
	unsigned char	*der = NULL, *out = NULL;
	int		 n;

	if ((x = X509_new()) == NULL || !X509_set_version(x, 2) ||
	    !BN_hex2bn(&bn, serial) ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &(time_t){ T2024 }) == NULL ||
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
	BN_free(bn);
	X509_free(x);
	return out;
}

static char *
dnkey_of_der(const unsigned char *der, size_t len, char key[REPO_DNKEY_MAX + 1])
{
	X509	*x = d2i_X509(NULL, &der, (long)len);
	int	 ok = x != NULL && repo_dnkey(X509_get_subject_name(x), key);

	X509_free(x);
	return ok ? key : NULL;
}

/* [locked] Store certificate DER in record ID, as enroll.c does. */
static int
store(struct repo *r, const char *id, const unsigned char *der, size_t len)
{
	const unsigned char	*p = der;
	struct repo_cert	 cf;
	X509			*x = d2i_X509(NULL, &p, (long)len);
	int			 ok;

	memset(&cf, 0, sizeof(cf));
	ok = x != NULL && repo_cert_facts(x, &cf) && repo_store_cert(r, id, der, len, &cf);
	repo_cert_facts_free(&cf);
	X509_free(x);
	return ok;
}

/*
 * A record for TXID taken through pending -> approved, a serial, a certificate for CN,
 * stored, and (unless STAY) moved to issued/. The serial goes to SN, the id to ID.
 */
static int
enroll(struct repo *r, const char *txid, const char *cn, time_t not_after, int stay,
    char *sn, size_t snlen, char id[REPO_ID_LEN + 1])
{
	struct record	 rec;
	unsigned char	*der = NULL;
	size_t		 len = 0;
	int		 ok = 0;

	memset(&rec, 0, sizeof(rec));
	repo_id(rec.id, (const unsigned char *)txid, strlen(txid), NULL);
	rec.txid = (unsigned char *)(uintptr_t)txid;
	rec.txid_len = strlen(txid);
	rec.msgtype = MT_PKCSREQ;
	rec.created = T2024;
	if (!repo_lock(r))
		return 0;
	if (!repo_record_create(r, &rec, RS_PENDING) ||
	    !repo_move(r, rec.id, RS_PENDING, RS_APPROVED) ||
	    !repo_serial_next(r, sn, snlen) ||
	    (der = make_cert(cn, sn, not_after, &len)) == NULL ||
	    !store(r, rec.id, der, len) ||
	    (!stay && !repo_move(r, rec.id, RS_APPROVED, RS_ISSUED)))
		goto out;
	memcpy(id, rec.id, REPO_ID_LEN + 1);
	ok = 1;
out:
	repo_unlock(r);
	free(der);
	return ok;
}

static void
test_layout(void)
{
	char		 root[512], err[256], sn[80], id[REPO_ID_LEN + 1], key[REPO_DNKEY_MAX + 1];
	char		 path[MAX_PATH_LEN], **v = NULL;
	struct repo	*r;
	struct stat	 sb;
	size_t		 n = 9;

	CHECK((r = new_repo("layout", root, sizeof(root))) != NULL);
	repo_close(r);
	CHECK(exists(root, "bydn") && exists(root, "revoked") && exists(root, "challenges") &&
	    exists(root, "challenges/used"));
	snprintf(path, sizeof(path), "%s/bydn", root);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0750);

	/* A repository made before these directories existed still opens and works. */
	rm_tree(path);
	snprintf(path, sizeof(path), "%s/revoked", root);
	rm_tree(path);
	snprintf(path, sizeof(path), "%s/challenges", root);
	rm_tree(path);
	CHECK((r = repo_open(root, err, sizeof(err))) != NULL);
	if (r == NULL)
		return;
	CHECK(repo_dn_serials(r, "0123456789abcdef", &v, &n) && n == 0 && v == NULL);
	CHECK(repo_is_revoked(r, "01") == 0);
	CHECK(repo_challenge_consume(r, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad", T2024) == 0 && errno == ENOENT);
	CHECK(repo_challenge_purge(r, T2024) == 0);
	CHECK(enroll(r, "old-1", "old", T2030, 0, sn, sizeof(sn), id));
	CHECK(exists(root, "bydn"));
	{
		unsigned char	*der = NULL;
		size_t		 len = 0;

		CHECK(repo_cert_by_serial(r, sn, &der, &len));
		CHECK(der != NULL && dnkey_of_der(der, len, key) != NULL);
		free(der);
	}
	CHECK(repo_dn_serials(r, key, &v, &n) && n == 1 && strcmp(v[0], sn) == 0);
	strv_free(v, n);
	CHECK(repo_check(r, 0, NULL, NULL) == 0);
	repo_close(r);
}

static void
test_dnkey(void)
{
	X509_NAME		*a = X509_NAME_new(), *b = X509_NAME_new(), *c = NULL, *d;
	unsigned char		*der = NULL;
	const unsigned char	*p;
	char			 ka[REPO_DNKEY_MAX + 1], kb[REPO_DNKEY_MAX + 1];
	char			 kc[REPO_DNKEY_MAX + 1], kd[REPO_DNKEY_MAX + 1];
	unsigned char		 md[32];
	char			 hex[65];
	int			 n, i;

	X509_NAME_add_entry_by_txt(a, "CN", V_ASN1_PRINTABLESTRING, (const unsigned char *)"x",
	    -1, -1, 0);
	X509_NAME_add_entry_by_txt(b, "CN", MBSTRING_UTF8, (const unsigned char *)"x", -1, -1,
	    0);
	CHECK(repo_dnkey(a, ka) && strlen(ka) == 64 && repo_dnkey_valid(ka));
	/* The hex SHA-256 of i2d_X509_NAME(). */
	n = i2d_X509_NAME(a, &der);
	CHECK(n > 0 && EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL));
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	CHECK(strcmp(hex, ka) == 0);
	/* A parsed copy keeps the encoding: same key. */
	p = der;
	CHECK((c = d2i_X509_NAME(NULL, &p, n)) != NULL && repo_dnkey(c, kc) &&
	    strcmp(ka, kc) == 0);
	d = X509_NAME_dup(a);
	CHECK(d != NULL && repo_dnkey(d, kd) && strcmp(ka, kd) == 0);
	/* Same text, other string type (PrintableString vs UTF8String): another key. */
	CHECK(repo_dnkey(b, kb) && strcmp(ka, kb) != 0);
	CHECK(!repo_dnkey(NULL, kb) && kb[0] == '\0');
	OPENSSL_free(der);
	X509_NAME_free(a);
	X509_NAME_free(b);
	X509_NAME_free(c);
	X509_NAME_free(d);

	CHECK(repo_dnkey_valid("0123abcd"));
	CHECK(!repo_dnkey_valid("0123abc"));
	CHECK(!repo_dnkey_valid("0123ABCD"));
	CHECK(!repo_dnkey_valid("../../etc"));
	CHECK(!repo_dnkey_valid(""));
	CHECK(!repo_dnkey_valid(NULL));
	CHECK(repo_dnkey_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
	CHECK(!repo_dnkey_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0"));
}

static void
test_dn_index(void)
{
	char		 root[512], **v = NULL;
	const char	*k = "00aa11bb22cc33dd";
	struct repo	*r;
	size_t		 n = 0;

	if ((r = new_repo("dn", root, sizeof(root))) == NULL) {
		CHECK(0);
		return;
	}
	CHECK(repo_lock(r));
	CHECK(repo_dn_add(r, k, "ff"));
	CHECK(repo_dn_add(r, k, "FF"));		/* idempotent */
	CHECK(repo_dn_add(r, k, "0100"));
	CHECK(repo_dn_add(r, k, "2"));
	CHECK(exists(root, "bydn/00aa11bb22cc33dd/FF") && exists(root, "bydn/00aa11bb22cc33dd/02"));
	errno = 0;
	CHECK(!repo_dn_add(r, "../../x", "01") && errno == EINVAL);
	CHECK(!repo_dn_add(r, "00AA11BB22CC33DD", "01") && errno == EINVAL);
	CHECK(!repo_dn_add(r, k, "../01") && errno == EINVAL);
	CHECK(!repo_dn_add(r, k, "") && errno == EINVAL);
	CHECK(!repo_dn_add(r, k, NULL));
	repo_unlock(r);

	CHECK(repo_dn_serials(r, k, &v, &n) && n == 3);
	CHECK(n == 3 && strcmp(v[0], "02") == 0 && strcmp(v[1], "FF") == 0 &&
	    strcmp(v[2], "0100") == 0);
	strv_free(v, n);
	/* Junk inside a key directory is not a serial. */
	CHECK(put(root, "bydn/00aa11bb22cc33dd/junk", ""));
	CHECK(repo_dn_serials(r, k, &v, &n) && n == 3);
	strv_free(v, n);
	CHECK(!repo_dn_serials(r, "..", &v, &n) && v == NULL && n == 0);
	CHECK(repo_dn_serials(r, "ffffffff", &v, &n) && n == 0);

	CHECK(repo_lock(r));
	CHECK(repo_dn_remove(r, k, "FF"));
	CHECK(repo_dn_remove(r, k, "FF"));	/* idempotent */
	CHECK(repo_dn_remove(r, k, "02"));
	CHECK(repo_dn_remove(r, k, "0100"));
	CHECK(exists(root, "bydn/00aa11bb22cc33dd"));	/* "junk" keeps it */
	CHECK(unlink(strcat(strcpy((char[MAX_PATH_LEN]){ 0 }, root),
	    "/bydn/00aa11bb22cc33dd/junk")) == 0);
	CHECK(repo_dn_add(r, k, "05") && repo_dn_remove(r, k, "05"));
	CHECK(!exists(root, "bydn/00aa11bb22cc33dd"));	/* the last one takes the dir */
	CHECK(!repo_dn_remove(r, "zz", "01") && errno == EINVAL);
	repo_unlock(r);
	CHECK(!exists(root, "tmp/x") && repo_check(r, 0, NULL, NULL) == 0);
	repo_close(r);
}

static void
test_store_ids(void)
{
	char		 root[512], sn[80], id[REPO_ID_LEN + 1], got[REPO_ID_LEN + 1];
	char		 key[REPO_DNKEY_MAX + 1], want[200], **v = NULL, *idx;
	struct repo	*r;
	unsigned char	*der = NULL;
	size_t		 len = 0, n = 0;

	if ((r = new_repo("ids", root, sizeof(root))) == NULL) {
		CHECK(0);
		return;
	}
	CHECK(enroll(r, "ids-1", "alpha", T2030, 0, sn, sizeof(sn), id));
	CHECK(strcmp(sn, "01") == 0);
	CHECK(repo_cert_by_serial(r, "01", &der, &len) && dnkey_of_der(der, len, key));
	snprintf(want, sizeof(want), "%s\n%s\n", id, key);
	CHECK(file_is(root, "certs/01.id", want));
	CHECK(repo_record_by_serial(r, "01", got) && strcmp(got, id) == 0);
	CHECK(repo_record_by_serial(r, "0001", got) && strcmp(got, id) == 0);
	errno = 0;
	CHECK(!repo_record_by_serial(r, "02", got) && errno == ENOENT);
	CHECK(!repo_record_by_serial(r, "../01", got));
	CHECK(repo_dn_serials(r, key, &v, &n) && n == 1 && strcmp(v[0], "01") == 0);
	strv_free(v, n);

	/* Storing the same certificate again (an interrupted issue) adds no index line. */
	CHECK(repo_lock(r));
	CHECK(store(r, id, der, len));
	repo_unlock(r);
	idx = slurp(root, "index.txt");
	CHECK(idx != NULL && strcmp(idx, "V\t300101000000Z\t\t01\tunknown\t/CN=alpha/O=Test\n")
	    == 0);
	free(idx);

	/* A malformed .id file is refused. */
	CHECK(put(root, "certs/01.id", "../../etc/passwd\n"));
	CHECK(!repo_record_by_serial(r, "01", got) && errno == EINVAL);
	CHECK(put(root, "certs/01.id", want));
	free(der);
	CHECK(repo_check(r, 0, NULL, NULL) == 0);
	repo_close(r);
}

/* Serials, dates and reasons of a CRL file, as OpenSSL reads them. */
static int
crl_entries(const char *path, struct revoked *out, size_t max, size_t *n)
{
	FILE			*f;
	X509_CRL		*crl = NULL;
	STACK_OF(X509_REVOKED)	*revs;
	X509_REVOKED		*rv;
	ASN1_ENUMERATED		*e;
	BIGNUM			*bn;
	char			*hex;
	struct tm		 tm;
	int			 i, crit;

	*n = 0;
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
	fclose(f);
	if (crl == NULL)
		return 0;
	revs = X509_CRL_get_REVOKED(crl);
	for (i = 0; i < sk_X509_REVOKED_num(revs) && *n < max; i++) {
		rv = sk_X509_REVOKED_value(revs, i);
		bn = ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(rv), NULL);
		hex = bn ? BN_bn2hex(bn) : NULL;
		snprintf(out[*n].serial, sizeof(out[*n].serial), "%s%s",
		    hex && strlen(hex) % 2 ? "0" : "", hex ? hex : "?");
		OPENSSL_free(hex);
		BN_free(bn);
		ASN1_TIME_to_tm(X509_REVOKED_get0_revocationDate(rv), &tm);
		out[*n].when = timegm(&tm);
		e = X509_REVOKED_get_ext_d2i(rv, NID_crl_reason, &crit, NULL);
		out[*n].reason = e ? (int)ASN1_ENUMERATED_get(e) : REPO_REASON_NONE;
		ASN1_ENUMERATED_free(e);
		(*n)++;
	}
	X509_CRL_free(crl);
	return 1;
}

/* Run `openssl ca -gencrl` over ROOT's index.txt; compare with repo_revoked_list(). */
static void
check_gencrl(struct repo *r, const char *root, size_t want_n)
{
	char		 cnf[MAX_PATH_LEN], cmd[4 * MAX_PATH_LEN], *text = NULL, *p;
	struct revoked	*list = NULL, crl[16];
	size_t		 n = 0, ncrl = 0, i, lines = 0;
	FILE		*f;

	snprintf(cnf, sizeof(cnf), "%s/ca.cnf", base);
	if ((f = fopen(cnf, "w")) == NULL) {
		CHECK(0);
		return;
	}
	fprintf(f, "[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\n"
	    "database = %s/index.txt\ncrlnumber = %s/crlnum\ncertificate = %s/ca.pem\n"
	    "private_key = %s/ca.key\ndefault_md = sha256\ndefault_crl_days = 1\n", root, base, base, base);
	fclose(f);
	CHECK(put(base, "crlnum", "01\n"));
	snprintf(cmd, sizeof(cmd), "openssl ca -config %s -gencrl -out %s/crl.pem "
	    "2>%s/gencrl.err && openssl crl -in %s/crl.pem -noout -text >%s/crl.txt",
	    cnf, base, base, base, base);
	CHECK_MSG(system(cmd) == 0, "%s (see %s/gencrl.err)", cmd, base);

	CHECK(repo_revoked_list(r, &list, &n));
	CHECK_MSG(n == want_n, "%zu revoked, want %zu", n, want_n);
	/* `openssl crl -text` lists the same serials ... */
	snprintf(cmd, sizeof(cmd), "crl.txt");
	text = slurp(base, cmd);
	CHECK(text != NULL);
	for (p = text; p != NULL && (p = strstr(p, "Serial Number: ")) != NULL; p++) {
		char	s[80];

		if (sscanf(p + 15, "%79s", s) == 1) {
			for (i = 0; i < n && strcmp(list[i].serial, s) != 0; i++)
				;
			CHECK_MSG(i < n, "CRL lists %s, repo_revoked_list() does not", s);
			lines++;
		}
	}
	CHECK_MSG(lines == n, "CRL text lists %zu serials, want %zu", lines, n);
	free(text);
	/* ... with the same dates and reasons. */
	CHECK(crl_entries(strcat(strcpy((char[MAX_PATH_LEN]){ 0 }, base), "/crl.pem"), crl,
	    16, &ncrl));
	CHECK(ncrl == n);
	for (i = 0; i < n && i < ncrl; i++) {
		size_t	j;

		for (j = 0; j < ncrl && strcmp(crl[j].serial, list[i].serial) != 0; j++)
			;
		CHECK_MSG(j < ncrl && crl[j].when == list[i].when &&
		    crl[j].reason == list[i].reason, "serial %s: date or reason differs",
		    list[i].serial);
	}
	repo_revoked_free(list);
}

static void
test_revoke(void)
{
	char		 root[512], sn[5][80], id[5][REPO_ID_LEN + 1], key[REPO_DNKEY_MAX + 1];
	char		 cmd[3 * MAX_PATH_LEN], *idx, **v = NULL;
	struct repo	*r;
	struct revoked	*list = NULL;
	unsigned char	*der = NULL;
	size_t		 len = 0, n = 0;
	int		 i;

	if ((r = new_repo("revoke", root, sizeof(root))) == NULL) {
		CHECK(0);
		return;
	}
	for (i = 0; i < 4; i++) {
		char	txid[16];

		snprintf(txid, sizeof(txid), "rev-%d", i);
		CHECK(enroll(r, txid, i < 3 ? "same" : "other", T2030, 0, sn[i], sizeof(sn[i]),
		    id[i]));
	}
	CHECK(repo_cert_by_serial(r, "01", &der, &len) && dnkey_of_der(der, len, key));
	free(der);
	CHECK(repo_dn_serials(r, key, &v, &n) && n == 3);
	strv_free(v, n);
	CHECK(repo_revoked_list(r, &list, &n) && n == 0 && list == NULL);

	CHECK(repo_lock(r));
	/* 2024-03-04T05:06:07Z */
	CHECK(repo_revoke(r, "01", 1, 1709528767));
	CHECK(repo_revoke(r, "2", REPO_REASON_NONE, 1709528768));
	CHECK(repo_revoke(r, "04", 8, 1709528769));
	errno = 0;
	CHECK(!repo_revoke(r, "01", 4, 1709528770) && errno == EALREADY);
	errno = 0;
	CHECK(!repo_revoke(r, "7F", 0, 1709528770) && errno == ENOENT);
	errno = 0;
	CHECK(!repo_revoke(r, "03", 7, 1709528770) && errno == EINVAL);	/* unused code */
	CHECK(!repo_revoke(r, "03", 9, 1709528770) && errno == EINVAL);	/* not in openssl ca */
	CHECK(!repo_revoke(r, "03", 0, 2524608000) && errno == EINVAL);	/* 2050: no UTCTime */
	CHECK(!repo_revoke(r, "../03", 0, 1709528770) && errno == EINVAL);
	repo_unlock(r);

	idx = slurp(root, "index.txt");
	CHECK_MSG(idx != NULL && strcmp(idx,
	    "R\t300101000000Z\t240304050607Z,keyCompromise\t01\tunknown\t/CN=same/O=Test\n"
	    "R\t300101000000Z\t240304050608Z\t02\tunknown\t/CN=same/O=Test\n"
	    "V\t300101000000Z\t\t03\tunknown\t/CN=same/O=Test\n"
	    "R\t300101000000Z\t240304050609Z,removeFromCRL\t04\tunknown\t/CN=other/O=Test\n")
	    == 0, "index.txt is\n%s", idx ? idx : "(none)");
	free(idx);
	CHECK(file_is(root, "revoked/01", "240304050607Z,keyCompromise\n"));
	CHECK(file_is(root, "revoked/02", "240304050608Z\n"));
	CHECK(repo_is_revoked(r, "01") == 1 && repo_is_revoked(r, "0002") == 1);
	CHECK(repo_is_revoked(r, "03") == 0 && repo_is_revoked(r, "../x") == -1);
	CHECK(repo_dn_serials(r, key, &v, &n) && n == 1 && strcmp(v[0], "03") == 0);
	strv_free(v, n);

	CHECK(repo_revoked_list(r, &list, &n) && n == 3);
	if (n == 3) {
		CHECK(strcmp(list[0].serial, "01") == 0 && list[0].when == 1709528767 &&
		    list[0].reason == 1);
		CHECK(strcmp(list[1].serial, "02") == 0 && list[1].when == 1709528768 &&
		    list[1].reason == REPO_REASON_NONE);
		CHECK(strcmp(list[2].serial, "04") == 0 && list[2].reason == 8);
	}
	repo_revoked_free(list);

	/* openssl ca reads our index.txt and lists the same revocations. */
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -keyout %s/ca.key -out %s/ca.pem -subj /CN=CA "
	    "-days 2 2>/dev/null", base, base);
	CHECK(system(cmd) == 0);
	check_gencrl(r, root, 3);
	CHECK(repo_check(r, 0, NULL, NULL) == 0);

	/* Every reason openssl ca knows, including certificateHold. */
	CHECK(repo_lock(r));
	CHECK(repo_revoke(r, "03", 6, T2024));
	repo_unlock(r);
	check_gencrl(r, root, 4);
	for (i = -1; i <= 8; i++)
		CHECK((i == 7 || i == -1) ? repo_reason_name(i) == NULL :
		    repo_reason_from_name(repo_reason_name(i)) == i);
	CHECK(repo_reason_from_name("KEYCOMPROMISE") == 1);
	CHECK(repo_reason_from_name("privilegeWithdrawn") == -1);

	/* A marker without its R line (a crash inside repo_revoke) is still listed. */
	CHECK(enroll(r, "rev-9", "late", T2030, 0, sn[4], sizeof(sn[4]), id[4]));
	CHECK(put(root, "revoked/05", "240101000000Z,superseded\n"));
	CHECK(repo_revoked_list(r, &list, &n) && n == 5);
	CHECK(n == 5 && strcmp(list[4].serial, "05") == 0 && list[4].reason == 4 &&
	    list[4].when == T2024);
	repo_revoked_free(list);
	/* An unreadable R date fails the list (the CRL would be wrong). */
	idx = slurp(root, "index.txt");
	CHECK(put(root, "index.txt", "R\t300101000000Z\tyesterday\t01\tunknown\t/CN=x\n"));
	errno = 0;
	CHECK(!repo_revoked_list(r, &list, &n) && errno == EINVAL && list == NULL);
	CHECK(idx != NULL && put(root, "index.txt", idx));
	free(idx);
	repo_close(r);
}

static void
test_crlnumber(void)
{
	char		 root[512], out[80];
	struct repo	*r;

	if ((r = new_repo("crlnumber", root, sizeof(root))) == NULL) {
		CHECK(0);
		return;
	}
	CHECK(repo_lock(r));
	CHECK(repo_crlnumber_next(r, out, sizeof(out)) && strcmp(out, "01") == 0);
	CHECK(file_is(root, "crlnumber", "02\n"));
	CHECK(put(root, "crlnumber", "00\n"));	/* zero is a valid CRL number */
	CHECK(repo_crlnumber_next(r, out, sizeof(out)) && strcmp(out, "00") == 0);
	CHECK(put(root, "crlnumber", "ff"));
	CHECK(repo_crlnumber_next(r, out, sizeof(out)) && strcmp(out, "FF") == 0);
	CHECK(file_is(root, "crlnumber", "0100\n"));
	CHECK(unlink(strcat(strcpy((char[MAX_PATH_LEN]){ 0 }, root), "/crlnumber")) == 0);
	CHECK(repo_crlnumber_next(r, out, sizeof(out)) && strcmp(out, "01") == 0);
	CHECK(file_is(root, "crlnumber", "02\n"));
	CHECK(put(root, "crlnumber", "x1\n"));
	CHECK(!repo_crlnumber_next(r, out, sizeof(out)));
	CHECK(!repo_crlnumber_next(r, out, 2));
	/* The serial counter is unaffected and still refuses zero. */
	CHECK(file_is(root, "serial", "01\n"));
	CHECK(put(root, "serial", "00\n"));
	CHECK(!repo_serial_next(r, out, sizeof(out)));
	repo_unlock(r);
	repo_close(r);
}

static void
hash_of(const char *secret, char out[65])
{
	unsigned char	md[32];
	int		i;

	EVP_Digest(secret, strlen(secret), md, NULL, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void
test_challenges(void)
{
	char		 root[512], h[65], h2[65], h3[65], name[128];
	struct repo	*r;
	time_t		 now = T2024;

	if ((r = new_repo("chal", root, sizeof(root))) == NULL) {
		CHECK(0);
		return;
	}
	hash_of("one-time secret", h);
	CHECK(repo_challenge_add(r, h, now + 3600));
	snprintf(name, sizeof(name), "challenges/%s", h);
	CHECK(file_is(root, name, "1704070800\n"));
	errno = 0;
	CHECK(!repo_challenge_add(r, h, now + 7200) && errno == EEXIST);
	CHECK(file_is(root, name, "1704070800\n"));
	CHECK(repo_challenge_consume(r, h, now + 10) == 1);
	CHECK(!exists(root, name));
	errno = 0;
	CHECK(repo_challenge_consume(r, h, now + 11) == 0 && errno == ENOENT);
	/* The same secret cannot come back while its use is remembered. */
	errno = 0;
	CHECK(!repo_challenge_add(r, h, now + 7200) && errno == EEXIST);

	/* Expired: refused, and gone. */
	hash_of("expired secret", h2);
	CHECK(repo_challenge_add(r, h2, now + 60));
	CHECK(repo_challenge_consume(r, h2, now + 60) == 1);	/* valid up to its expiry */
	hash_of("expired secret 2", h2);
	CHECK(repo_challenge_add(r, h2, now + 60));
	CHECK(repo_challenge_consume(r, h2, now + 61) == -1);
	snprintf(name, sizeof(name), "challenges/used/%s", h2);
	CHECK(!exists(root, name));
	CHECK(repo_challenge_consume(r, h2, now + 62) == 0);

	/* Malformed hashes never reach a path. */
	CHECK(!repo_challenge_add(r, "../../etc/passwd", now));
	CHECK(!repo_challenge_add(r, "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", now));
	CHECK(repo_challenge_consume(r, "..", now) == 0 && errno == EINVAL);
	CHECK(repo_challenge_consume(r, NULL, now) == 0);

	/* A corrupted challenge is consumed and refused. */
	hash_of("corrupt", h3);
	snprintf(name, sizeof(name), "challenges/%s", h3);
	CHECK(put(root, name, "soon\n"));
	CHECK(repo_challenge_consume(r, h3, now) == 0);

	/* Purge: expired pending ones now, used ones after a day. */
	hash_of("pending, expires", h2);
	CHECK(repo_challenge_add(r, h2, now + 100));
	hash_of("pending, valid", h3);
	CHECK(repo_challenge_add(r, h3, now + 10 * 86400));
	CHECK(repo_challenge_purge(r, now + 50) == 0);
	CHECK(repo_challenge_purge(r, now + 101) == 1);	/* "pending, expires" */
	snprintf(name, sizeof(name), "challenges/%s", h2);
	CHECK(!exists(root, name));
	/* used/: "one-time secret" (used at now+10), "expired secret" (now+60), "corrupt". */
	CHECK(repo_challenge_purge(r, now + REPO_CHALLENGE_KEEP) == 0);
	CHECK(repo_challenge_purge(r, now + 10 + REPO_CHALLENGE_KEEP) == 1);	/* corrupt */
	CHECK(repo_challenge_purge(r, now + 61 + REPO_CHALLENGE_KEEP) == 2);
	snprintf(name, sizeof(name), "challenges/%s", h3);
	CHECK(exists(root, name));
	/* Forgotten: the first secret may be handed out again. */
	CHECK(repo_challenge_add(r, h, now + 200000));
	CHECK(repo_challenge_consume(r, h, now + 100000) == 1);
	CHECK(repo_check(r, 0, NULL, NULL) == 0);
	repo_close(r);
}

/* NRACE processes released at once present the same challenge; exactly one may win. */
static void
test_challenge_race(void)
{
	char		 root[512], err[256], h[65], secret[32];
	struct repo	*r;
	pid_t		 pids[NRACE];
	int		 round, c, status, wins, losses, bad = 0, fds[2];

	if ((r = new_repo("race", root, sizeof(root))) == NULL) {
		CHECK(0);
		return;
	}
	for (round = 0; round < RACE_ROUNDS; round++) {
		snprintf(secret, sizeof(secret), "race-%d", round);
		hash_of(secret, h);
		CHECK(repo_challenge_add(r, h, time(NULL) + 600));
		if (pipe(fds) == -1) {
			CHECK(0);
			break;
		}
		fflush(stdout);
		fflush(stderr);
		for (c = 0; c < NRACE; c++) {
			if ((pids[c] = fork()) == 0) {
				struct repo	*cr;
				char		 b;
				int		 rc;

				close(fds[1]);
				cr = repo_open(root, err, sizeof(err));
				(void)read(fds[0], &b, 1);	/* EOF: everyone goes */
				rc = cr ? repo_challenge_consume(cr, h, time(NULL)) : -2;
				repo_close(cr);
				_exit(rc == 1 ? 0 : rc == 0 ? 1 : 2);
			}
			CHECK(pids[c] > 0);
		}
		close(fds[0]);
		close(fds[1]);
		wins = losses = 0;
		for (c = 0; c < NRACE; c++) {
			if (pids[c] <= 0 || waitpid(pids[c], &status, 0) != pids[c] ||
			    !WIFEXITED(status)) {
				bad++;
				continue;
			}
			if (WEXITSTATUS(status) == 0)
				wins++;
			else if (WEXITSTATUS(status) == 1)
				losses++;
			else
				bad++;
		}
		CHECK_MSG(wins == 1 && losses == NRACE - 1, "round %d: %d wins, %d losses",
		    round, wins, losses);
	}
	CHECK(bad == 0);
	repo_close(r);
}

/* The checker's reports, by code. */
static size_t
count(const struct repo_issue_report *rep, const char *what, int repaired)
{
	size_t	i, n = 0;

	for (i = 0; i < rep->n; i++)
		if (strcmp(rep->v[i].what, what) == 0 &&
		    (repaired == -1 || rep->v[i].repaired == repaired))
			n++;
	return n;
}

static void
dump(const char *label, const struct repo_issue_report *rep)
{
	size_t	i;

	if (getenv("TEST_VERBOSE") == NULL)
		return;
	for (i = 0; i < rep->n; i++)
		fprintf(stderr, "%s: %s: %s%s\n", label, rep->v[i].what, rep->v[i].detail,
		    rep->v[i].repaired ? " [repaired]" : "");
}

/* Drop the index.txt line of SERIAL. */
static int
drop_line(const char *root, const char *serial)
{
	char	*idx = slurp(root, "index.txt"), *p, *eol, pat[128];
	int	 ok = 0;

	snprintf(pat, sizeof(pat), "\t%s\tunknown\t", serial);
	if (idx == NULL || (p = strstr(idx, pat)) == NULL)
		goto out;
	while (p > idx && p[-1] != '\n')
		p--;
	if ((eol = strchr(p, '\n')) == NULL)
		goto out;
	memmove(p, eol + 1, strlen(eol + 1) + 1);
	ok = put(root, "index.txt", idx);
out:
	free(idx);
	return ok;
}

static void
test_check(void)
{
	char				 root[512], sn[8][80], id[8][REPO_ID_LEN + 1], path[MAX_PATH_LEN];
	char				 key[REPO_DNKEY_MAX + 1], name[200], *idx, *before;
	struct repo			*r;
	struct repo_issue_report	 rep;
	struct timespec			 old[2];
	unsigned char			*der = NULL;
	size_t				 len = 0;
	int				 i, n;

	if ((r = new_repo("check", root, sizeof(root))) == NULL) {
		CHECK(0);
		return;
	}
	memset(&rep, 0, sizeof(rep));
	CHECK(repo_check(r, 0, repo_issue_collect, &rep) == 0 && rep.n == 0);

	for (i = 0; i < 5; i++) {
		char	txid[16], cn[16];

		snprintf(txid, sizeof(txid), "chk-%d", i);
		snprintf(cn, sizeof(cn), "host%d", i % 2);
		CHECK(enroll(r, txid, cn, T2030, 0, sn[i], sizeof(sn[i]), id[i]));
	}
	CHECK(repo_lock(r));
	CHECK(repo_revoke(r, sn[1], 5, 1709528767));
	repo_unlock(r);
	/* An expired certificate: its DN entry is not a violation, repair prunes it. */
	CHECK(enroll(r, "chk-expired", "gone", T2024 + 10, 0, sn[5], sizeof(sn[5]), id[5]));
	CHECK(repo_check(r, 0, repo_issue_collect, &rep) == 0);
	dump("clean", &rep);
	CHECK_MSG(rep.n == 0, "%zu reports on a clean repository", rep.n);
	repo_issue_report_free(&rep);

	/* Damage. A crash between storing the certificate and the rename: approved with cert. */
	CHECK(enroll(r, "chk-approved", "host7", T2030, 1, sn[6], sizeof(sn[6]), id[6]));
	CHECK(repo_find(r, id[6]) == RS_APPROVED);
	before = slurp(root, "index.txt");
	snprintf(path, sizeof(path), "%s/tmp/rec-AbC123", root);
	CHECK(mkdir(path, 0750) == 0 && put(root, "tmp/rec-AbC123/meta", "half"));
	snprintf(name, sizeof(name), "issued/%s/.tmp-Xy12Zq", id[0]);
	CHECK(put(root, name, "old temp"));
	snprintf(path, sizeof(path), "%s/%s", root, name);
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 3600;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	CHECK(utimensat(AT_FDCWD, path, old, 0) == 0);
	CHECK(put(root, "certs/.tmp-fresh1", "a writer at work"));	/* young: not stray */
	CHECK(drop_line(root, sn[2]));						/* deleted line */
	idx = slurp(root, "index.txt");
	CHECK(idx != NULL);
	if (idx != NULL) {
		char	*more;

		CHECK(asprintf(&more, "%sV\t300101000000Z\t\t7F\tunknown\t/CN=ghost\n", idx) > 0);
		CHECK(put(root, "index.txt", more));				/* extra line */
		free(more);
		free(idx);
	}
	CHECK(put(root, "serial", "03\n"));					/* set back */
	CHECK(repo_cert_by_serial(r, sn[3], &der, &len) && dnkey_of_der(der, len, key));
	free(der);
	snprintf(name, sizeof(name), "bydn/%s/%s", key, sn[3]);
	snprintf(path, sizeof(path), "%s/%s", root, name);
	CHECK(unlink(path) == 0);						/* missing DN entry */
	snprintf(path, sizeof(path), "%s/revoked/%s", root, sn[1]);
	CHECK(unlink(path) == 0);						/* lost marker */
	snprintf(path, sizeof(path), "%s/certs/%s.id", root, sn[4]);
	CHECK(unlink(path) == 0);						/* lost .id */
	snprintf(path, sizeof(path), "%s/certs/%s.pem", root, sn[0]);
	CHECK(unlink(path) == 0);						/* lost PEM */
	CHECK(repo_lock(r));
	CHECK(repo_dn_add(r, key, sn[1]));		/* a revoked cert in the DN index */
	repo_unlock(r);

	/* Check only: everything reported, nothing changed. */
	n = repo_check(r, 0, repo_issue_collect, &rep);
	dump("damaged", &rep);
	CHECK_MSG(n == (int)rep.unrepaired && n > 0, "check returned %d, %zu unrepaired", n,
	    rep.unrepaired);
	CHECK(count(&rep, "stray-temp", 0) == 2);
	CHECK(count(&rep, "cert-no-index", 0) == 1);
	CHECK(count(&rep, "index-no-cert", 0) == 1);
	CHECK(count(&rep, "serial-behind", 0) == 1);
	CHECK(count(&rep, "dn-index", 0) == 2);		/* missing 04, revoked 02 present */
	CHECK(count(&rep, "approved-has-cert", 0) == 1);
	CHECK(count(&rep, "revoked-marker", 0) == 1);
	CHECK(count(&rep, "cert-id", 0) == 1);
	CHECK(count(&rep, "issued-no-cert", 0) == 1);
	CHECK(count(&rep, "dn-expired", -1) == 0);
	CHECK_MSG(rep.n == 11, "%zu reports", rep.n);
	CHECK(exists(root, "tmp/rec-AbC123") && repo_find(r, id[6]) == RS_APPROVED);
	CHECK(file_is(root, "serial", "03\n"));
	repo_issue_report_free(&rep);

	/* Repair: everything fixed, the expired DN entry pruned. */
	n = repo_check(r, 1, repo_issue_collect, &rep);
	dump("repair", &rep);
	CHECK_MSG(n == 0, "repair left %d", n);
	CHECK(rep.unrepaired == 0 && rep.n == 12);
	CHECK(count(&rep, "dn-expired", 1) == 1);
	repo_issue_report_free(&rep);
	CHECK(!exists(root, "tmp/rec-AbC123") && exists(root, "certs/.tmp-fresh1"));
	CHECK(repo_find(r, id[6]) == RS_ISSUED);
	/* 7F appeared in index.txt: never handed out again, whatever it was. */
	CHECK(file_is(root, "serial", "80\n"));
	CHECK(file_is(root, "revoked/02", "240304050607Z,cessationOfOperation\n"));
	snprintf(name, sizeof(name), "certs/%s.pem", sn[0]);
	CHECK(exists(root, name));
	idx = slurp(root, "index.txt");
	CHECK_MSG(idx != NULL && strcmp(idx,
	    "V\t300101000000Z\t\t01\tunknown\t/CN=host0/O=Test\n"
	    "R\t300101000000Z\t240304050607Z,cessationOfOperation\t02\tunknown\t/CN=host1/O=Test\n"
	    "V\t300101000000Z\t\t03\tunknown\t/CN=host0/O=Test\n"
	    "V\t300101000000Z\t\t04\tunknown\t/CN=host1/O=Test\n"
	    "V\t300101000000Z\t\t05\tunknown\t/CN=host0/O=Test\n"
	    "V\t240101000010Z\t\t06\tunknown\t/CN=gone/O=Test\n"
	    "V\t300101000000Z\t\t07\tunknown\t/CN=host7/O=Test\n") == 0,
	    "index.txt is\n%s", idx ? idx : "(none)");
	/* The original lines survive unchanged. */
	CHECK(before != NULL && idx != NULL && strncmp(before, idx, strlen(before)) == 0);
	free(idx);
	free(before);
	CHECK(repo_check(r, 0, repo_issue_collect, &rep) == 0);
	dump("after", &rep);
	CHECK_MSG(rep.n == 0, "%zu reports after repair", rep.n);
	repo_issue_report_free(&rep);
	CHECK(repo_check(r, 1, NULL, NULL) == 0);
	repo_close(r);
}

/* What the checker must not touch: reported, left alone, counted. */
static void
test_check_unsafe(void)
{
	char				 root[512], sn[4][80], id[4][REPO_ID_LEN + 1], path[MAX_PATH_LEN];
	char				 dst[MAX_PATH_LEN], name[200];
	struct repo			*r;
	struct repo_issue_report	 rep;
	int				 n;

	if ((r = new_repo("unsafe", root, sizeof(root))) == NULL) {
		CHECK(0);
		return;
	}
	memset(&rep, 0, sizeof(rep));
	for (n = 0; n < 3; n++) {
		char	txid[16];

		snprintf(txid, sizeof(txid), "uns-%d", n);
		CHECK(enroll(r, txid, "u", T2030, 0, sn[n], sizeof(sn[n]), id[n]));
	}
	CHECK(repo_lock(r));
	CHECK(repo_revoke(r, sn[2], 1, 1709528767));
	repo_unlock(r);
	/* One id in two states. */
	snprintf(path, sizeof(path), "%s/rejected/%s", root, id[0]);
	CHECK(mkdir(path, 0750) == 0);
	snprintf(name, sizeof(name), "rejected/%s/meta", id[0]);
	snprintf(dst, sizeof(dst), "id=%s\n", id[0]);
	CHECK(put(root, name, dst));
	/* An unreadable record. */
	snprintf(name, sizeof(name), "issued/%s/meta", id[1]);
	CHECK(put(root, name, "id=nope\n"));
	/* A certificate file that does not parse, with its index line and DN entry. */
	CHECK(put(root, "certs/03.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n"));
	/* A stray name and a revoked line whose certificate is gone. */
	CHECK(put(root, "pending/README.md", "documentation is fine"));
	CHECK(put(root, "pending/notes.txt", "not a record"));
	{
		char	*idx = slurp(root, "index.txt"), *more = NULL;

		CHECK(idx != NULL && asprintf(&more, "%sR\t300101000000Z\t240101000000Z\t"
		    "0100\tunknown\t/CN=lost\n", idx) > 0 && put(root, "index.txt", more));
		free(idx);
		free(more);
	}
	CHECK(put(root, "serial", "0101\n"));
	CHECK(put(root, "revoked/0100", "240101000000Z\n"));

	n = repo_check(r, 1, repo_issue_collect, &rep);
	dump("unsafe", &rep);
	CHECK(count(&rep, "dup-state", 0) == 1);
	CHECK(count(&rep, "bad-record", 0) == 1);
	CHECK(count(&rep, "bad-cert", 0) == 1);
	CHECK(count(&rep, "bad-name", 0) == 1);
	CHECK(count(&rep, "index-no-cert", 0) == 1);
	CHECK(count(&rep, "issued-no-cert", 0) == 1);	/* the record of the garbled 03 */
	CHECK_MSG(n == 6 && rep.unrepaired == 6 && rep.n == 6, "returned %d, %zu reports", n,
	    rep.n);
	repo_issue_report_free(&rep);
	/* Left alone. */
	CHECK(exists(root, "certs/03.pem") && exists(root, "pending/notes.txt"));
	snprintf(path, sizeof(path), "rejected/%s", id[0]);
	CHECK(exists(root, path));
	{
		char	*idx = slurp(root, "index.txt");

		CHECK(idx != NULL && strstr(idx, "\t03\tunknown\t") != NULL &&
		    strstr(idx, "\t0100\tunknown\t/CN=lost\n") != NULL);
		free(idx);
	}
	CHECK(repo_is_revoked(r, "0100") == 1);
	repo_close(r);
}

int
main(void)
{
	log_init("test_repo2", 0, LOG_LVL_ERR);
	fprintf(stderr, "test_repo2: the ERROR lines below come from negative tests\n");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if ((pk = EVP_EC_gen("P-256")) == NULL) {
		fprintf(stderr, "EC key generation failed\n");
		return 1;
	}
	test_layout();
	test_dnkey();
	test_dn_index();
	test_store_ids();
	test_revoke();
	test_crlnumber();
	test_challenges();
	test_challenge_race();
	test_check();
	test_check_unsafe();

	EVP_PKEY_free(pk);
	if (getenv("TEST_REPO_KEEP") == NULL)
		rm_tree(base);
	else
		fprintf(stderr, "kept %s\n", base);
	return unit_done("repo2");
}
