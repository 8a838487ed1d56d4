/*
 * libFuzzer target, layer 2 of the pkiMessage parser: pkimsg_attributes() on a DER
 * SET OF Attribute (the signedAttrs of a SignerInfo with its [0] tag made a SET). No RSA.
 * Seeds: the signed attributes of the fuzz_pkimsg messages (mkcorpus.sh).
 */
#include <stdint.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/pkcs7.h>

#include "scep.h"
#include "pkimsg.h"
#include "pkimsg_layer.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509_ATTRIBUTE) *attrs;
	struct pkimsg		 *m;
	struct pkimsg_err	  e = { 0 }, late = { 0 };
	const unsigned char	 *p = data;

	if (size > MAX_BODY || !scep_oids_init())
		return 0;
	attrs = (STACK_OF(X509_ATTRIBUTE) *)ASN1_item_d2i(NULL, &p, (long)size,
	    ASN1_ITEM_rptr(PKCS7_ATTR_SIGN));
	if (attrs == NULL || (m = calloc(1, sizeof(*m))) == NULL)
		goto out;
	if (pkimsg_attributes(attrs, m, &e, &late)) {
		if (m->txid_len == 0 || m->nonce_len == 0 || m->nonce_len > MAX_NONCE ||
		    (late.text[0] == '\0' && (m->msgtype < 0 || m->txid_len > MAX_TXID)))
			abort();	/* accepted: txid and nonce; clean: msgtype too */
	} else if (e.text[0] == '\0')
		abort();
	pkimsg_free(m);
out:
	sk_X509_ATTRIBUTE_pop_free(attrs, X509_ATTRIBUTE_free);
	ERR_clear_error();
	return 0;
}
