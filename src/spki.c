/*
 * spki: RSA public keys read from their bits (spki.h). A structure parsed in a library
 * context whose only provider is OpenSSL's "null" provider finds no decoder for its keys
 * and leaves them unset, at the cost of a failed lookup; the key is then set from its bits
 * and the object encoded again to check that it is still the object that was parsed.
 */
#include <limits.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "spki.h"

OSSL_LIB_CTX *
spki_keyless_ctx(void)
{
	static OSSL_LIB_CTX	*ctx;
	static int		 failed;

	/* A process parses requests one at a time (FastCGI worker, CGI, scep-admin). */
	if (ctx != NULL || failed)
		return ctx;
	ERR_set_mark();
	if ((ctx = OSSL_LIB_CTX_new()) != NULL && OSSL_PROVIDER_load(ctx, "null") == NULL) {
		OSSL_LIB_CTX_free(ctx);
		ctx = NULL;
	}
	if (ctx == NULL)
		failed = 1;
	ERR_pop_to_mark();
	return ctx;
}

EVP_PKEY *
spki_rsa_key(const X509_PUBKEY *spk)
{
	ASN1_OBJECT		*alg = NULL;
	const unsigned char	*bits = NULL, *p;
	int			 len = 0;
	EVP_PKEY		*k;

	if (spk == NULL || !X509_PUBKEY_get0_param(&alg, &bits, &len, NULL, spk) ||
	    OBJ_obj2nid(alg) != NID_rsaEncryption || bits == NULL || len <= 0)
		return NULL;
	p = bits;
	ERR_set_mark();
	if ((k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, len)) != NULL && p != bits + len) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	ERR_pop_to_mark();
	return k;
}

/*
 * Set the key of V (an X509 or, with REQ, an X509_REQ) from its own bits. 1 when it then
 * encodes to the same bytes as before; 0 otherwise (V may have changed).
 */
static int
set_key(ASN1_VALUE *v, const ASN1_ITEM *it, int req)
{
	unsigned char	*before = NULL, *after = NULL;
	EVP_PKEY	*k = NULL;
	int		 n, n2 = 0, ok = 0;

	ERR_set_mark();
	k = spki_rsa_key(req ? X509_REQ_get_X509_PUBKEY((X509_REQ *)v) :
	    X509_get_X509_PUBKEY((X509 *)v));
	if (k == NULL || (n = ASN1_item_i2d(v, &before, it)) <= 0 ||
	    !(req ? X509_REQ_set_pubkey((X509_REQ *)v, k) : X509_set_pubkey((X509 *)v, k)) ||
	    (n2 = ASN1_item_i2d(v, &after, it)) <= 0)
		goto out;
	ok = n == n2 && memcmp(before, after, (size_t)n) == 0;
out:
	ERR_pop_to_mark();
	EVP_PKEY_free(k);
	OPENSSL_free(before);
	OPENSSL_free(after);
	return ok;
}

int
spki_set_cert_key(X509 *x)
{
	return set_key((ASN1_VALUE *)x, ASN1_ITEM_rptr(X509), 0);
}

/*
 * DER[LEN], the whole buffer, as IT (X509 or, with REQ, X509_REQ), parsed keyless and given
 * its key by set_key(); else parsed as usual (d2i with the default library context).
 */
static ASN1_VALUE *
parse(const unsigned char *der, size_t len, const ASN1_ITEM *it, int req)
{
	OSSL_LIB_CTX		*ctx = spki_keyless_ctx();
	const unsigned char	*p = der;
	ASN1_VALUE		*v = NULL;

	if (der == NULL || len == 0 || len > LONG_MAX)
		return NULL;
	if (ctx != NULL) {
		ERR_set_mark();
		v = ASN1_item_d2i_ex(NULL, &p, (long)len, it, ctx, NULL);
		if (v != NULL && (p != der + len || !set_key(v, it, req))) {
			ASN1_item_free(v, it);
			v = NULL;
		}
		ERR_pop_to_mark();
		if (v != NULL)
			return v;
	}
	p = der;
	if ((v = ASN1_item_d2i(NULL, &p, (long)len, it)) != NULL && p != der + len) {
		ASN1_item_free(v, it);
		v = NULL;
	}
	return v;
}

X509 *
spki_d2i_cert(const unsigned char *der, size_t len)
{
	return (X509 *)parse(der, len, ASN1_ITEM_rptr(X509), 0);
}

X509_REQ *
spki_d2i_req(const unsigned char *der, size_t len)
{
	return (X509_REQ *)parse(der, len, ASN1_ITEM_rptr(X509_REQ), 1);
}
