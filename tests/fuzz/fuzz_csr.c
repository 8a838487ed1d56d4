/*
 * libFuzzer target, layer 5 of the pkiMessage parser alone: a PKCS#10 request as the
 * messageData of a PKCSReq (pkimsg_content()), then the CSR helpers the policy and the
 * CA use on it: challengePassword, key fingerprint, requested subjectAltName. No RSA.
 * Seeds: the CSRs of the corpus clients and of the hostile messages (mkcorpus.sh).
 */
#include <stdint.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "scep.h"
#include "pkimsg.h"
#include "pkimsg_layer.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkimsg		*m;
	struct pkimsg_err	 e = { 0 };
	GENERAL_NAMES		*gens = NULL;
	char			 fp[65], err[160];

	if (size > MAX_BODY || (m = calloc(1, sizeof(*m))) == NULL)
		return 0;
	m->msgtype = MT_PKCSREQ;
	if (pkimsg_content(data, size, ~0u, m, &e)) {
		free(csr_challenge(m->csr));
		if (!pubkey_fp(X509_REQ_get0_pubkey(m->csr), fp) ||
		    !csr_san(m->csr, &gens, err, sizeof(err)) ||
		    (gens != NULL && sk_GENERAL_NAME_num(gens) > MAX_SAN_ENTRIES))
			abort();	/* what the parser accepted, the CA can read */
	} else if (e.text[0] == '\0')
		abort();
	GENERAL_NAMES_free(gens);
	pkimsg_free(m);
	ERR_clear_error();
	return 0;
}
