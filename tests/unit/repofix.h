/*
 * Fixtures of the repository unit tests about issued certificates (test_repo_index.c,
 * test_repo_revoke.c, test_repo_challenge.c, test_repo_check.c): a scratch directory under
 * /tmp (kept when TEST_REPO_KEEP is set), a throwaway key, certificates, and records taken
 * through pending -> approved -> issued the way enroll.c does it.
 */
#ifndef REPOFIX_H
#define REPOFIX_H

#include <sys/stat.h>

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fileio.h"
#include "repo.h"

#define T2030		1893456000	/* 2030-01-01T00:00:00Z */
#define T2024		1704067200	/* 2024-01-01T00:00:00Z */

static char		 base[64];	/* the scratch directory */
static EVP_PKEY		*pk;		/* signs every test certificate */

static inline struct repo *
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
static inline char *
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

static inline int
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

static inline int
put(const char *root, const char *name, const char *text)
{
	char	path[2 * MAX_PATH_LEN];

	snprintf(path, sizeof(path), "%s/%s", root, name);
	return write_file(path, text, strlen(text), 0640, NULL, 0);
}

static inline int
exists(const char *root, const char *name)
{
	char		path[MAX_PATH_LEN];
	struct stat	sb;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	return lstat(path, &sb) == 0;
}

static inline int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void
rm_tree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A certificate for CN (O=Test) with hex SERIAL, DER in malloc'd memory. */
static inline unsigned char *
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

static inline char *
dnkey_of_der(const unsigned char *der, size_t len, char key[REPO_DNKEY_MAX + 1])
{
	X509	*x = d2i_X509(NULL, &der, (long)len);
	int	 ok = x != NULL && repo_dnkey(X509_get_subject_name(x), key);

	X509_free(x);
	return ok ? key : NULL;
}

/* The facts of certificate DER, as enroll.c takes them. */
static inline int
facts_of(const unsigned char *der, size_t len, struct repo_cert *cf)
{
	const unsigned char	*p = der;
	X509			*x = d2i_X509(NULL, &p, (long)len);
	int			 ok;

	memset(cf, 0, sizeof(*cf));
	ok = x != NULL && repo_cert_facts(x, cf);
	X509_free(x);
	return ok;
}

/* The serial the fixture gives the next certificate: one more than index.txt has lines. */
static inline void
next_serial(const char *root, char *sn, size_t snlen)
{
	char	*idx = slurp(root, "index.txt"), *p;
	int	 n = 1;

	for (p = idx; p != NULL && *p != '\0'; p++)
		n += *p == '\n';
	free(idx);
	snprintf(sn, snlen, "%02X", n);
}

/*
 * A record for TXID taken through pending -> approved, then issued a certificate for CN
 * with the next serial by repo_issue(). With STAY the certificate is only written into the
 * record in approved/ (an issue committed and never published: what a crash can leave).
 * The serial goes to SN, the id to ID.
 */
static inline int
enroll(struct repo *r, const char *txid, const char *cn, time_t not_after, int stay,
    char *sn, size_t snlen, char id[REPO_ID_LEN + 1])
{
	struct record		 rec, *got = NULL;
	struct repo_cert	 cf;
	unsigned char		*der = NULL;
	size_t			 len = 0;
	int			 ok = 0, locked = 0;

	memset(&rec, 0, sizeof(rec));
	memset(&cf, 0, sizeof(cf));
	repo_id(rec.id, (const unsigned char *)txid, strlen(txid), NULL);
	rec.txid = (unsigned char *)(uintptr_t)txid;
	rec.txid_len = strlen(txid);
	rec.msgtype = MT_PKCSREQ;
	rec.created = T2024;
	next_serial(repo_root(r), sn, snlen);
	if (!repo_record_create(r, &rec, RS_PENDING) || !repo_lock(r))
		goto out;
	locked = 1;
	if (!repo_move(r, rec.id, RS_PENDING, RS_APPROVED) ||
	    (got = repo_record_load(r, rec.id, 1)) == NULL ||
	    (der = make_cert(cn, sn, not_after, &len)) == NULL || !facts_of(der, len, &cf))
		goto out;
	got->cert_der = der;
	got->cert_len = len;
	der = NULL;
	if (stay) {
		if ((got->serial = strdup(cf.serial)) == NULL || !repo_record_update(r, got))
			goto out;
	} else {
		repo_unlock(r);
		locked = 0;
		if (repo_issue(r, got, &cf, RS_APPROVED, NULL, NULL) != 1)
			goto out;
	}
	memcpy(id, rec.id, REPO_ID_LEN + 1);
	ok = 1;
out:
	if (locked)
		repo_unlock(r);
	record_free(got);
	repo_cert_facts_free(&cf);
	free(der);
	return ok;
}

/* Logging, the scratch directory /tmp/PROG.XXXXXX and the key. 0 (reported) on failure. */
static inline int
repofix_begin(const char *prog)
{
	log_init(prog, 0, LOG_LVL_ERR);
	fprintf(stderr, "%s: the ERROR lines below come from negative tests\n", prog);
	snprintf(base, sizeof(base), "/tmp/%s.XXXXXX", prog);
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 0;
	}
	if ((pk = EVP_EC_gen("P-256")) == NULL) {
		fprintf(stderr, "EC key generation failed\n");
		return 0;
	}
	return 1;
}

static inline void
repofix_end(void)
{
	EVP_PKEY_free(pk);
	if (getenv("TEST_REPO_KEEP") == NULL)
		rm_tree(base);
	else
		fprintf(stderr, "kept %s\n", base);
}

#endif
