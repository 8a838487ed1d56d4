/*
 * Unit tests of the repository's certificate indexes (src/repo_index.c): the directories
 * repo_create() makes for them, DN keys, the DN index, and the "record=" line of
 * certs/<SERIAL>.pem (which record holds a certificate), written by repo_issue().
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "names.h"
#include "repofix.h"
#include "unit.h"

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
	/* The hex of name_canon_digest(). */
	CHECK(name_canon_digest(a, md));
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	CHECK(strcmp(hex, ka) == 0);
	/* A parsed copy: same key. */
	n = i2d_X509_NAME(a, &der);
	p = der;
	CHECK(n > 0 && (c = d2i_X509_NAME(NULL, &p, n)) != NULL && repo_dnkey(c, kc) &&
	    strcmp(ka, kc) == 0);
	d = X509_NAME_dup(a);
	CHECK(d != NULL && repo_dnkey(d, kd) && strcmp(ka, kd) == 0);
	/* Same text, other string type (PrintableString vs UTF8String): the same name. */
	CHECK(repo_dnkey(b, kb) && strcmp(ka, kb) == 0);
	/* Another case and blanks around it: the same name too (X509_NAME_cmp). */
	X509_NAME_free(b);
	b = X509_NAME_new();
	X509_NAME_add_entry_by_txt(b, "CN", V_ASN1_IA5STRING, (const unsigned char *)"  X ",
	    -1, -1, 0);
	CHECK(X509_NAME_cmp(a, b) == 0 && repo_dnkey(b, kb) && strcmp(ka, kb) == 0);
	/* Another value: another key. */
	X509_NAME_free(b);
	b = X509_NAME_new();
	X509_NAME_add_entry_by_txt(b, "CN", MBSTRING_UTF8, (const unsigned char *)"x\0y",
	    3, -1, 0);
	CHECK(X509_NAME_cmp(a, b) != 0 && repo_dnkey(b, kb) && strcmp(ka, kb) != 0);
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
	char		 root[512], **v = NULL, name[80];
	const char	*k = "00aa11bb22cc33dd", *sns[] = { "FF", "0100", "02", "05" };
	struct repo	*r;
	unsigned char	*der = NULL;
	size_t		 n = 0, i, len;

	if ((r = new_repo("dn", root, sizeof(root))) == NULL) {
		CHECK(0);
		return;
	}
	/* An entry is a hard link of certs/<SERIAL>.pem: make those first. */
	for (i = 0; i < sizeof(sns) / sizeof(sns[0]); i++) {
		snprintf(name, sizeof(name), "certs/%s.pem", sns[i]);
		CHECK(put(root, name, "not a certificate\n"));
	}
	CHECK(repo_lock(r));
	CHECK(repo_dn_add(r, k, "ff"));
	CHECK(repo_dn_add(r, k, "FF"));		/* idempotent */
	CHECK(repo_dn_add(r, k, "0100"));
	CHECK(repo_dn_add(r, k, "2"));
	CHECK(exists(root, "bydn/00a/00aa11bb22cc33dd.FF") &&
	    exists(root, "bydn/00a/00aa11bb22cc33dd.02"));
	errno = 0;
	CHECK(!repo_dn_add(r, "../../x", "01") && errno == EINVAL);
	CHECK(!repo_dn_add(r, "00AA11BB22CC33DD", "01") && errno == EINVAL);
	CHECK(!repo_dn_add(r, k, "../01") && errno == EINVAL);
	CHECK(!repo_dn_add(r, k, "") && errno == EINVAL);
	CHECK(!repo_dn_add(r, k, NULL));
	CHECK(!repo_dn_add(r, k, "07"));	/* no certs/07.pem */
	repo_unlock(r);

	CHECK(repo_dn_serials(r, k, &v, &n) && n == 3);
	CHECK(n == 3 && strcmp(v[0], "02") == 0 && strcmp(v[1], "FF") == 0 &&
	    strcmp(v[2], "0100") == 0);
	strv_free(v, n);
	/* Other keys in the same bucket, and junk, are not this key's serials. */
	CHECK(put(root, "bydn/00a/junk", ""));
	CHECK(put(root, "bydn/00a/00aa11bb22cc33ddee.03", ""));
	CHECK(put(root, "bydn/00a/00aa11bb22cc33dd.zz", ""));
	CHECK(repo_dn_serials(r, k, &v, &n) && n == 3);
	strv_free(v, n);
	CHECK(!repo_dn_serials(r, "..", &v, &n) && v == NULL && n == 0);
	CHECK(repo_dn_serials(r, "ffffffff", &v, &n) && n == 0);
	/* An entry reads as the certificate it links. */
	errno = 0;
	CHECK(!repo_dn_cert(r, k, "FF", &der, &len) && errno == EINVAL);	/* not PEM */
	CHECK(!repo_dn_cert(r, k, "09", &der, &len) && errno == ENOENT);

	CHECK(repo_lock(r));
	CHECK(repo_dn_remove(r, k, "FF"));
	CHECK(repo_dn_remove(r, k, "FF"));	/* idempotent */
	CHECK(repo_dn_remove(r, k, "02"));
	CHECK(repo_dn_remove(r, k, "0100"));
	CHECK(repo_dn_add(r, k, "05") && repo_dn_remove(r, k, "05"));
	CHECK(exists(root, "bydn/00a/junk") && exists(root, "certs/05.pem"));
	CHECK(!repo_dn_remove(r, "zz", "01") && errno == EINVAL);
	repo_unlock(r);
	CHECK(repo_dn_serials(r, k, &v, &n) && n == 0);
	repo_close(r);
}

static void
test_cert_files(void)
{
	char		 root[512], sn[80], id[REPO_ID_LEN + 1], got[REPO_ID_LEN + 1];
	char		 key[REPO_DNKEY_MAX + 1], name[80], **v = NULL, *idx, *text;
	struct repo	*r;
	unsigned char	*der = NULL, *d2 = NULL;
	size_t		 len = 0, n = 0, l2 = 0;

	if ((r = new_repo("ids", root, sizeof(root))) == NULL) {
		CHECK(0);
		return;
	}
	CHECK(enroll(r, "ids-1", "alpha", T2030, 0, sn, sizeof(sn), id));
	CHECK(strcmp(sn, "01") == 0);
	CHECK(repo_cert_by_serial(r, "01", &der, &len) && dnkey_of_der(der, len, key));
	/* certs/01.pem: the record line, then the certificate in PEM. */
	text = slurp(root, "certs/01.pem");
	CHECK(text != NULL && strncmp(text, "record=", 7) == 0 &&
	    strncmp(text + 7, id, REPO_ID_LEN) == 0 &&
	    strncmp(text + 7 + REPO_ID_LEN, "\n-----BEGIN CERTIFICATE-----\n", 29) == 0);
	free(text);
	CHECK(repo_record_by_serial(r, "01", got) && strcmp(got, id) == 0);
	CHECK(repo_record_by_serial(r, "0001", got) && strcmp(got, id) == 0);
	errno = 0;
	CHECK(!repo_record_by_serial(r, "02", got) && errno == ENOENT);
	CHECK(!repo_record_by_serial(r, "../01", got));
	CHECK(repo_dn_serials(r, key, &v, &n) && n == 1 && strcmp(v[0], "01") == 0);
	strv_free(v, n);
	/* The DN index entry is the certificate itself. */
	CHECK(repo_dn_cert(r, key, "01", &d2, &l2) && l2 == len && memcmp(d2, der, len) == 0);
	free(d2);
	snprintf(name, sizeof(name), "bydn/%.3s/%s.01", key, key);
	CHECK(exists(root, name));

	/* Publishing the same certificate again (an interrupted issue) adds no index line. */
	CHECK(repo_issue_finish(r, id) == 1);
	idx = slurp(root, "index.txt");
	CHECK(idx != NULL && strcmp(idx, "V\t300101000000Z\t\t01\tunknown\t/CN=alpha/O=Test\n")
	    == 0);
	free(idx);

	/* A malformed record line is refused; a file without one names no record. */
	text = slurp(root, "certs/01.pem");
	CHECK(put(root, "certs/01.pem", "record=../../etc/passwd\n-----BEGIN"));
	CHECK(!repo_record_by_serial(r, "01", got) && errno == EINVAL);
	CHECK(text != NULL && put(root, "certs/01.pem", text + 7 + REPO_ID_LEN + 1));
	CHECK(!repo_record_by_serial(r, "01", got) && errno == EINVAL);
	CHECK(repo_cert_by_serial(r, "01", &d2, &l2) && l2 == len && memcmp(d2, der, len) == 0);
	free(d2);
	CHECK(text != NULL && put(root, "certs/01.pem", text));
	free(text);
	free(der);
	CHECK(repo_check(r, 0, NULL, NULL) == 0);
	repo_close(r);
}

int
main(void)
{
	if (!repofix_begin("test_repo_index"))
		return 1;
	test_layout();
	test_dnkey();
	test_dn_index();
	test_cert_files();
	repofix_end();
	return unit_done("repo_index");
}
