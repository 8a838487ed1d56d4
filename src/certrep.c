/*
 * certrep: build CertRep pkiMessages (RFC 8894 §3.3.2), the GetNextCACert reply (§4.7.1)
 * and degenerate certs-only SignedData (§3.4). This file builds the content, the envelope
 * and the signed attributes; the CA module signs (ca_sign_scep). Both use OpenSSL's PKCS7
 * API on purpose: its certificates field keeps insertion order, while the CMS API
 * DER-sorts the SET OF and can put a CA certificate before the issued one (sscep takes the
 * first non-self-signed certificate, Apple element 0: the issued certificate must come
 * first; scep-notes §8.3).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "scep.h"
#include "ca.h"
#include "certrep.h"
#include "pkimsg.h"

int
degenerate_p7(STACK_OF(X509) *certs, X509_CRL *crl, unsigned char **out, size_t *len)
{
	PKCS7	*p7 = NULL;
	int	 i, n, rc = 0;

	*out = NULL;
	if ((p7 = PKCS7_new()) == NULL || !PKCS7_set_type(p7, NID_pkcs7_signed))
		goto out;
	/* eContentType id-data with the eContent absent, as `openssl crl2pkcs7` writes. */
	p7->d.sign->contents->type = OBJ_nid2obj(NID_pkcs7_data);
	for (i = 0; i < sk_X509_num(certs); i++)
		if (!PKCS7_add_certificate(p7, sk_X509_value(certs, i)))
			goto out;
	if (crl != NULL && !PKCS7_add_crl(p7, crl))
		goto out;
	if ((n = i2d_PKCS7(p7, out)) <= 0)
		goto out;
	*len = (size_t)n;
	rc = 1;
out:
	PKCS7_free(p7);
	return rc;
}

/* A signed attribute NID with one value of ASN.1 string TYPE (PrintableString, OCTET...). */
static int
add_attr(STACK_OF(X509_ATTRIBUTE) **attrs, int nid, int type, const void *data, size_t len)
{
	return len <= INT_MAX && X509at_add1_attr_by_NID(attrs, nid, type, data, (int)len) != NULL;
}

/* The pkcsPKIEnvelope of a SUCCESS: certs-only payload encrypted to the request signer. */
static int
success_envelope(const struct pkimsg *req, const struct certrep *rep, unsigned char **out,
    size_t *outlen)
{
	STACK_OF(X509)	*recips = NULL;
	PKCS7		*env = NULL;
	BIO		*in = NULL;
	unsigned char	*deg = NULL;
	size_t		 deglen = 0;
	int		 n, rc = 0;
	const EVP_CIPHER *cipher = req->cipher ? req->cipher : EVP_aes_128_cbc();

	*out = NULL;
	if (req->signer == NULL)
		goto out;
	if (!degenerate_p7(rep->certs, rep->crl, &deg, &deglen))
		goto out;
	if ((recips = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(recips, req->signer))
		goto out;
	if ((in = BIO_new_mem_buf(deg, (int)deglen)) == NULL)
		goto out;
	if ((env = PKCS7_encrypt(recips, in, cipher, PKCS7_BINARY)) == NULL)
		goto out;
	if ((n = i2d_PKCS7(env, out)) <= 0)
		goto out;
	*outlen = (size_t)n;
	rc = 1;
out:
	if (!rc)
		log_crypto(LOG_LVL_ERR, "cannot build the CertRep envelope");
	sk_X509_free(recips);
	PKCS7_free(env);
	BIO_free(in);
	OPENSSL_free(deg);
	return rc;
}

int
certrep_build(const struct pkimsg *req, const struct certrep *rep, const struct ca *ca,
    unsigned char **out, size_t *outlen)
{
	STACK_OF(X509_ATTRIBUTE) *attrs = NULL;
	unsigned char		*data = NULL, nonce[16];
	size_t			 datalen = 0;
	char			 num[16];
	int			 rc = 0;
	const EVP_MD		*md = req->md ? req->md : EVP_sha256();

	*out = NULL;
	if (!scep_oids_init())
		goto out;
	/*
	 * PENDING and FAILURE have nothing to carry. RFC 8894 §3.3.2 omits the eContent, but
	 * certmonger's PKCS7_verify() then fails with "no content": send an empty one, as
	 * micromdm does; sscep and strongSwan read zero bytes either way.
	 */
	if (rep->status == PKI_SUCCESS && !success_envelope(req, rep, &data, &datalen))
		goto out;
	snprintf(num, sizeof(num), "%d", MT_CERTREP);
	if (!add_attr(&attrs, nid_transactionID, V_ASN1_PRINTABLESTRING, req->txid,
	    req->txid_len) ||
	    !add_attr(&attrs, nid_messageType, V_ASN1_PRINTABLESTRING, num, strlen(num)))
		goto out;
	snprintf(num, sizeof(num), "%d", (int)rep->status);
	if (!add_attr(&attrs, nid_pkiStatus, V_ASN1_PRINTABLESTRING, num, strlen(num)))
		goto out;
	if (rep->status == PKI_FAILURE) {
		snprintf(num, sizeof(num), "%d", (int)rep->fail);
		if (!add_attr(&attrs, nid_failInfo, V_ASN1_PRINTABLESTRING, num, strlen(num)))
			goto out;
		if (rep->fail_text != NULL && !add_attr(&attrs, nid_failInfoText,
		    V_ASN1_UTF8STRING, rep->fail_text, strlen(rep->fail_text)))
			goto out;
	}
	/* A fresh senderNonce always: certmonger and Mikrotik require it (scep-notes §6.2). */
	if (RAND_bytes(nonce, sizeof(nonce)) != 1 ||
	    !add_attr(&attrs, nid_senderNonce, V_ASN1_OCTET_STRING, nonce, sizeof(nonce)))
		goto out;
	if (req->nonce_len > 0 &&
	    !add_attr(&attrs, nid_recipientNonce, V_ASN1_OCTET_STRING, req->nonce,
	    req->nonce_len))
		goto out;
	/*
	 * Signed by the SCEP certificate of the generation the request was encrypted to: during
	 * a rollover overlap a client still holding the old CA verifies with that one (sscep
	 * checks the signature against the very certificate it encrypted to).
	 */
	if (!ca_sign_scep(ca, req->recipient, md, data, datalen, attrs, NULL, out, outlen))
		goto out;
	rc = 1;
out:
	if (!rc)
		log_crypto(LOG_LVL_ERR, "cannot build CertRep");
	sk_X509_ATTRIBUTE_pop_free(attrs, X509_ATTRIBUTE_free);
	OPENSSL_free(data);
	return rc;
}

int
nextca_build(const struct ca *ca, STACK_OF(X509) *next, unsigned char **out, size_t *outlen)
{
	unsigned char	*deg = NULL;
	size_t		 deglen = 0;
	int		 rc = 0;

	*out = NULL;
	/* sscep reads the new certificates from the outer certificates field. */
	if (!degenerate_p7(next, NULL, &deg, &deglen) ||
	    !ca_sign_scep(ca, NULL, EVP_sha256(), deg, deglen, NULL, next, out, outlen))
		goto out;
	rc = 1;
out:
	if (!rc)
		log_crypto(LOG_LVL_ERR, "cannot build the GetNextCACert reply");
	OPENSSL_free(deg);
	return rc;
}
