/*
 * libFuzzer target, layer 3 of the pkiMessage parser: pkimsg_envelope() on arbitrary
 * bytes, the pkcsPKIEnvelope as the server sees it before the CA module decrypts it:
 * EnvelopedData, its content and recipients, the content cipher. No RSA.
 * Seeds: the envelopes of the fuzz_pkimsg messages (mkcorpus.sh).
 */
#include <stdint.h>
#include <stdlib.h>

#include <openssl/err.h>

#include "scep.h"
#include "pkimsg.h"
#include "pkimsg_layer.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkimsg		*m;
	struct pkimsg_err	 e = { 0 };

	if (size > MAX_BODY || (m = calloc(1, sizeof(*m))) == NULL)
		return 0;
	if (pkimsg_envelope(data, size, ~0u, m, &e) ? m->cipher == NULL : e.text[0] == '\0')
		abort();		/* accepted: a cipher; refused: a reason */
	pkimsg_free(m);
	ERR_clear_error();
	return 0;
}
