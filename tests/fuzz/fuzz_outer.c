/*
 * libFuzzer target, layer 1 of the pkiMessage parser: pkimsg_outer() on arbitrary bytes,
 * the outer SignedData up to (not including) its signature check: ContentInfo, one
 * SignerInfo, signed attributes, digest, content type, signer certificate. No RSA.
 * Seeds: the pkiMessages of fuzz_pkimsg.
 */
#include <stdint.h>
#include <stdlib.h>

#include <openssl/err.h>

#include "scep.h"
#include "config.h"
#include "pkimsg.h"
#include "pkimsg_layer.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkimsg		*m;
	struct pkimsg_err	 e = { 0 }, late = { 0 };
	CMS_ContentInfo		*cms = NULL;
	int			 ok;

	if (size > MAX_BODY || !scep_oids_init() || (m = calloc(1, sizeof(*m))) == NULL)
		return 0;
	ok = pkimsg_outer(data, size, ~0u, m, &e, &late, &cms);
	if (ok != (cms != NULL) || (ok && m->signer == NULL) || (!ok && e.text[0] == '\0'))
		abort();		/* a ContentInfo and a signer iff accepted; else a reason */
	if (e.have_reply_info && (m->txid_len == 0 || m->nonce_len == 0))
		abort();		/* a reply can be built only with txid and nonce */
	CMS_ContentInfo_free(cms);
	pkimsg_free(m);
	ERR_clear_error();
	return 0;
}
