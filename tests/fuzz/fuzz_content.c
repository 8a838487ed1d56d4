/*
 * libFuzzer target, layers 4 and 5 of the pkiMessage parser: pkimsg_content() on the
 * decrypted messageData. The first byte chooses the messageType (PKCSReq, RenewalReq,
 * CertPoll, GetCert, GetCRL), the rest is the content: PKCS#10 request (key, digest,
 * subjectAltName; then what policy reads of it: challengePassword, key fingerprint),
 * IssuerAndSubject or IssuerAndSerialNumber. The CSR's signature is not checked: no RSA.
 * Seeds: the decrypted contents of the fuzz_pkimsg messages (mkcorpus.sh).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>

#include "scep.h"
#include "pkimsg.h"
#include "pkimsg_layer.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const int types[] = { MT_PKCSREQ, MT_RENEWALREQ, MT_CERTPOLL, MT_GETCERT, MT_GETCRL };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkimsg		*m;
	struct pkimsg_err	 e = { 0 };
	char			 fp[65], *pw;
	FILE			*null;

	if (size < 1 || size > MAX_BODY || (m = calloc(1, sizeof(*m))) == NULL)
		return 0;
	m->msgtype = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	if (pkimsg_content(data + 1, size - 1, ~0u, m, &e)) {
		if (m->csr != NULL) {
			free(pw = csr_challenge(m->csr));
			if (!pubkey_fp(X509_REQ_get0_pubkey(m->csr), fp))
				abort();	/* an accepted CSR has a readable key */
		} else if (m->poll_subject == NULL && m->ias_serial == NULL)
			abort();
		if ((null = fopen("/dev/null", "w")) != NULL) {
			pkimsg_print(m, null);
			fclose(null);
		}
	} else if (e.text[0] == '\0')
		abort();
	pkimsg_free(m);
	ERR_clear_error();
	return 0;
}
