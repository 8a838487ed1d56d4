/*
 * libFuzzer target: pkimsg_parse() on arbitrary bytes, as the POST body of a PKIOperation,
 * with every digest and cipher allowed (the widest parser surface), then certrep_build()
 * on what came out: a PENDING reply for a parsed message, a FAILURE reply for a partial
 * one, exactly as the server answers.
 *
 * The CA is made once at start-up in a temporary directory: a copy of the committed
 * corpus CA (tests/corpus/ca, or $FUZZ_CA_DIR) when it is there, so that the seed
 * messages of tests/fuzz/corpus/fuzz_pkimsg (encrypted to that CA) reach decryption and
 * the inner messages; otherwise a fresh CA from ca_init(). The directory is removed at exit.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/provider.h>

#include "scep.h"
#include "ca.h"
#include "certrep.h"
#include "config.h"
#include "pkimsg.h"

#ifndef FUZZ_CA_DIR
#define FUZZ_CA_DIR	"tests/corpus/ca"
#endif

#define ALL_DIGESTS	(DIG_MD5 | DIG_SHA1 | DIG_SHA224 | DIG_SHA256 | DIG_SHA384 | DIG_SHA512)
#define ALL_CIPHERS	(CIPH_DES | CIPH_DES3 | CIPH_AES128 | CIPH_AES192 | CIPH_AES256)

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct ca	*ca;
static char		 root[] = "/tmp/fuzz_pkimsg.XXXXXX";

static void
cleanup(void)
{
	char cmd[256];

	ca_free(ca);
	ca = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_pkimsg: could not remove %s\n", root);
}

static int
copy_file(const char *from, const char *to)
{
	FILE	*in = fopen(from, "rb"), *out;
	char	 buf[8192];
	size_t	 n;

	if (in == NULL)
		return 0;
	if ((out = fopen(to, "wb")) == NULL) {
		fclose(in);
		return 0;
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(in);
	return fclose(out) == 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char		 err[512], src[4096], dst[4096];
	const char	*cadir = getenv("FUZZ_CA_DIR");

	(void)argc;
	(void)argv;
	log_init("fuzz_pkimsg", 0, LOG_LVL_ERR);
	/* single DES lives in the legacy provider, as in server_new() */
	OSSL_PROVIDER_load(NULL, "legacy");
	OSSL_PROVIDER_load(NULL, "default");
	if (mkdtemp(root) == NULL) {
		perror("fuzz_pkimsg: mkdtemp");
		exit(1);
	}
	atexit(cleanup);
	if (cadir == NULL)
		cadir = FUZZ_CA_DIR;
	snprintf(dst, sizeof(dst), "%s/ca", root);
	snprintf(src, sizeof(src), "%s/ca.pem", cadir);
	if (access(src, R_OK) == 0 && mkdir(dst, 0700) == 0) {
		snprintf(dst, sizeof(dst), "%s/ca/ca.pem", root);
		copy_file(src, dst);
		snprintf(src, sizeof(src), "%s/ca.key", cadir);
		snprintf(dst, sizeof(dst), "%s/ca/ca.key", root);
		copy_file(src, dst);
		chmod(dst, 0600);
	} else if (!ca_init(root, "/CN=Fuzz CA", 2048, 365, NULL, NULL, err, sizeof(err))) {
		fprintf(stderr, "fuzz_pkimsg: ca_init: %s\n", err);
		exit(1);
	}
	if ((ca = ca_load(root, NULL, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz_pkimsg: ca_load: %s\n", err);
		exit(1);
	}
	if (!scep_oids_init()) {
		fprintf(stderr, "fuzz_pkimsg: scep_oids_init failed\n");
		exit(1);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkimsg		*m, *partial = NULL;
	struct pkimsg_err	 e;
	struct certrep		 rep;
	unsigned char		*der = NULL;
	size_t			 len = 0;

	if (size > MAX_BODY)
		return 0;
	m = pkimsg_parse(data, size, ca, ALL_DIGESTS, ALL_CIPHERS, &e, &partial);
	if (m != NULL && partial != NULL)
		abort();		/* one or the other */
	if (m == NULL && (e.text[0] == '\0' || (partial != NULL) != (e.have_reply_info != 0)))
		abort();		/* a refusal always says why; partial iff reply info */
	memset(&rep, 0, sizeof(rep));
	if (m != NULL) {
		if (m->txid_len == 0 || m->txid_len > MAX_TXID || m->nonce_len == 0 ||
		    m->nonce_len > MAX_NONCE || m->signer == NULL || m->raw_len != size)
			abort();
		rep.status = PKI_PENDING;
		if (certrep_build(m, &rep, ca, &der, &len) != 1)
			abort();
	} else if (partial != NULL) {
		if (partial->txid_len > MAX_TXID || partial->nonce_len > MAX_NONCE)
			abort();
		rep.status = PKI_FAILURE;
		rep.fail = e.fail;
		rep.fail_text = e.text;
		if (certrep_build(partial, &rep, ca, &der, &len) != 1)
			abort();
	}
	OPENSSL_free(der);
	pkimsg_free(m);
	pkimsg_free(partial);
	ERR_clear_error();
	return 0;
}
