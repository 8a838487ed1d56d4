/*
 * Unit tests of CRL publishing (src/crl.c): crl_path, crl_publish into a fresh repository
 * with a new CA (CRL numbers in sequence, signature, nextUpdate, the --out copy), and its
 * refusal to write into a missing directory. Everything happens under a mkdtemp() directory.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca.h"
#include "crl.h"
#include "repo.h"
#include "scep.h"
#include "unit.h"

static char	 base[] = "/tmp/test_crl.XXXXXX";

/* The whole of PATH in a malloc'd NUL-terminated buffer, or NULL. */
static char *
slurp(const char *path)
{
	FILE	*f;
	char	*buf = NULL;
	long	 n;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = calloc(1, (size_t)n + 1)) != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* 1 if PATH holds a PEM CRL signed by CA's key, with cRLNumber NUMBER (hex). */
static int
crl_ok(const char *path, struct ca *ca, const char *number)
{
	FILE		*f;
	X509_CRL	*crl = NULL;
	ASN1_INTEGER	*num = NULL;
	BIGNUM		*bn = NULL;
	char		*hex = NULL;
	int		 ok = 0;

	if ((f = fopen(path, "r")) == NULL)
		return 0;
	crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
	fclose(f);
	if (crl == NULL || X509_CRL_verify(crl, X509_get0_pubkey(ca_cert(ca))) != 1 ||
	    (num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL)) == NULL ||
	    (bn = ASN1_INTEGER_to_BN(num, NULL)) == NULL || (hex = BN_bn2hex(bn)) == NULL)
		goto out;
	ok = BN_is_zero(bn) ? strcmp(number, "00") == 0 : strtoul(hex, NULL, 16) ==
	    strtoul(number, NULL, 16);
	if (!ok)
		fprintf(stderr, "%s: cRLNumber %s, want %s\n", path, hex, number);
out:
	OPENSSL_free(hex);
	BN_free(bn);
	ASN1_INTEGER_free(num);
	X509_CRL_free(crl);
	return ok;
}

static void
test_publish(void)
{
	struct crl_info	 info;
	struct repo	*r = NULL;
	struct ca	*ca = NULL;
	char		 root[512], path[MAX_PATH_LEN], want[MAX_PATH_LEN];
	char		 copy[MAX_PATH_LEN], err[1024], *a, *b;
	time_t		 now = time(NULL);

	snprintf(root, sizeof(root), "%s/repo", base);
	CHECK_MSG(repo_create(root, err, sizeof(err)), "%s", err);
	CHECK_MSG(ca_init(root, "/CN=CRL Test CA", 2048, 30, NULL, NULL, err, sizeof(err)), "%s", err);
	CHECK_MSG((ca = ca_load(root, NULL, err, sizeof(err))) != NULL, "%s", err);
	CHECK_MSG((r = repo_open(root, err, sizeof(err))) != NULL, "%s", err);
	if (ca == NULL || r == NULL)
		goto out;

	snprintf(want, sizeof(want), "%s/crl.pem", root);
	CHECK(crl_path(r, path, sizeof(path)) && strcmp(path, want) == 0);
	CHECK(!crl_path(r, path, 8));

	CHECK(repo_lock(r));
	CHECK_MSG(crl_publish(r, ca, 7, NULL, NULL, &info, err, sizeof(err)), "%s", err);
	CHECK(strcmp(info.path, want) == 0);
	CHECK(strcmp(info.number, "01") == 0);
	CHECK(info.entries == 0);
	CHECK(info.next_update >= now + 7 * 86400 - 60 && info.next_update <= now + 7 * 86400 + 60);
	CHECK(crl_ok(want, ca, "01"));

	/* The next one takes the next number; OUTFILE gets the same bytes. */
	snprintf(copy, sizeof(copy), "%s/copy.pem", base);
	CHECK_MSG(crl_publish(r, ca, 1, copy, NULL, &info, err, sizeof(err)), "%s", err);
	CHECK(strcmp(info.number, "02") == 0);
	CHECK(crl_ok(want, ca, "02"));
	a = slurp(want);
	b = slurp(copy);
	CHECK(a != NULL && b != NULL && strcmp(a, b) == 0);
	free(a);
	free(b);

	/* A missing directory for OUTFILE: one sentence naming it. */
	snprintf(copy, sizeof(copy), "%s/no/such/crl.pem", base);
	err[0] = '\0';
	CHECK(!crl_publish(r, ca, 7, copy, NULL, &info, err, sizeof(err)));
	CHECK_MSG(strncmp(err, "cannot write ", 13) == 0 && strstr(err, copy) != NULL &&
	    strstr(err, "No such file") != NULL, "%s", err);
	repo_unlock(r);
out:
	repo_close(r);
	ca_free(ca);
}

int
main(void)
{
	log_init("test_crl", 0, LOG_LVL_ERR);
	fprintf(stderr, "test_crl: an ERROR line below comes from a negative test\n");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_publish();
	unit_rmtree(base, "TEST_CRL_KEEP");
	return unit_done("crl");
}
