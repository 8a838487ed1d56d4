/*
 * pkimsg: parse and verify a SCEP pkiMessage (RFC 8894 §3.1, §3.2), have the CA module
 * decrypt its pkcsPKIEnvelope (ca_decrypt), and decode the content. The struct it returns
 * carries OpenSSL objects (signer certificate, CSR, names, digest and cipher) that
 * server.c, policy.c and enroll.c read; no key of ours passes through this file.
 *
 * Liberal where real clients force it: BER with indefinite lengths (Apple, Bouncy Castle),
 * any string type for transactionID/messageType (Go marshals UTF8String when the text is
 * not printable), nonces of any size up to MAX_NONCE, unsorted signed attributes
 * (OpenSSL re-encodes them in received order for verification). Strict on meaning:
 * exactly one SignerInfo, no duplicate SCEP attributes, digest and cipher on an allow-list
 * (the CSR's signature digest too), whole buffer consumed by every d2i, no control
 * character in the transactionID. What is wrong in a message whose signature verifies is
 * answered with a signed FAILURE (RFC 8894 §3.3.2), not a bare HTTP error.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "scep.h"
#include "ca.h"
#include "config.h"
#include "pkimsg.h"
#include "pkimsg_layer.h"
#include "spki.h"

int nid_messageType, nid_pkiStatus, nid_failInfo, nid_senderNonce,
    nid_recipientNonce, nid_transactionID, nid_failInfoText;

/* IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name }   (RFC 8894 §3.3.3) */
typedef struct {
	X509_NAME *issuer;
	X509_NAME *subject;
} ISSUER_AND_SUBJECT;

DECLARE_ASN1_FUNCTIONS(ISSUER_AND_SUBJECT)

ASN1_SEQUENCE(ISSUER_AND_SUBJECT) = {
	ASN1_SIMPLE(ISSUER_AND_SUBJECT, issuer, X509_NAME),
	ASN1_SIMPLE(ISSUER_AND_SUBJECT, subject, X509_NAME)
} ASN1_SEQUENCE_END(ISSUER_AND_SUBJECT)
IMPLEMENT_ASN1_FUNCTIONS(ISSUER_AND_SUBJECT)

static int
oid_nid(const char *oid, const char *sn, const char *ln)
{
	int nid;

	if ((nid = OBJ_txt2nid(oid)) != NID_undef)
		return nid;
	return OBJ_create(oid, sn, ln);
}

int
scep_oids_init(void)
{
	static int done;

	if (done)
		return 1;
	nid_messageType = oid_nid("2.16.840.1.113733.1.9.2", "scep-messageType", "messageType");
	nid_pkiStatus = oid_nid("2.16.840.1.113733.1.9.3", "scep-pkiStatus", "pkiStatus");
	nid_failInfo = oid_nid("2.16.840.1.113733.1.9.4", "scep-failInfo", "failInfo");
	nid_senderNonce = oid_nid("2.16.840.1.113733.1.9.5", "scep-senderNonce", "senderNonce");
	nid_recipientNonce = oid_nid("2.16.840.1.113733.1.9.6", "scep-recipientNonce",
	    "recipientNonce");
	nid_transactionID = oid_nid("2.16.840.1.113733.1.9.7", "scep-transactionID",
	    "transactionID");
	nid_failInfoText = oid_nid("1.3.6.1.5.5.7.24.1", "scep-failInfoText", "failInfoText");
	if (nid_messageType == NID_undef || nid_pkiStatus == NID_undef ||
	    nid_failInfo == NID_undef || nid_senderNonce == NID_undef ||
	    nid_recipientNonce == NID_undef || nid_transactionID == NID_undef ||
	    nid_failInfoText == NID_undef)
		return 0;
	done = 1;
	return 1;
}

void
pkimsg_free(struct pkimsg *m)
{
	if (m == NULL)
		return;
	free(m->txid);
	X509_free(m->signer);
	X509_REQ_free(m->csr);
	free(m->challenge);
	X509_NAME_free(m->poll_issuer);
	X509_NAME_free(m->poll_subject);
	X509_NAME_free(m->ias_issuer);
	ASN1_INTEGER_free(m->ias_serial);
	free(m->raw);
	free(m);
}

static void
fail(struct pkimsg_err *e, enum scep_failinfo f, const char *text)
{
	e->fail = f;
	snprintf(e->text, sizeof(e->text), "%s", text);
}

/* Digest allow-list (ScepAllowedDigests): SHA-1 and SHA-2 by default, MD5 on request. */
static const EVP_MD *
digest_allowed(const X509_ALGOR *alg, unsigned allowed)
{
	const ASN1_OBJECT	*obj;

	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	switch (OBJ_obj2nid(obj)) {
	case NID_sha1: return allowed & DIG_SHA1 ? EVP_sha1() : NULL;
	case NID_sha224: return allowed & DIG_SHA224 ? EVP_sha224() : NULL;
	case NID_sha256: return allowed & DIG_SHA256 ? EVP_sha256() : NULL;
	case NID_sha384: return allowed & DIG_SHA384 ? EVP_sha384() : NULL;
	case NID_sha512: return allowed & DIG_SHA512 ? EVP_sha512() : NULL;
	case NID_md5: return allowed & DIG_MD5 ? EVP_md5() : NULL;
	default: return NULL;
	}
}

/*
 * The CSR's signature digest against the same allow-list (RFC 8894 §2.9: MD5 MUST NOT be
 * used unless the CA allows it). EdDSA has no separate digest; RSASSA-PSS carries its
 * digest in parameters that the signature check itself reads, and is accepted here.
 */
static int
csr_digest_allowed(const X509_REQ *req, unsigned allowed)
{
	int	 mdnid = NID_undef, pknid = NID_undef;
	unsigned bit;

	if (!OBJ_find_sigid_algs(X509_REQ_get_signature_nid(req), &mdnid, &pknid))
		return 0;
	switch (mdnid) {
	case NID_sha1: bit = DIG_SHA1; break;
	case NID_sha224: bit = DIG_SHA224; break;
	case NID_sha256: bit = DIG_SHA256; break;
	case NID_sha384: bit = DIG_SHA384; break;
	case NID_sha512: bit = DIG_SHA512; break;
	case NID_md5: bit = DIG_MD5; break;
	case NID_undef:
		return pknid == NID_ED25519 || pknid == NID_ED448 || pknid == NID_rsassaPss;
	default: return 0;
	}
	return (allowed & bit) != 0;
}

/* Content-encryption allow-list (ScepAllowedCiphers): AES-CBC, 3DES, single DES. */
static const EVP_CIPHER *
cipher_allowed(int nid, unsigned allowed)
{
	switch (nid) {
	case NID_aes_128_cbc: return allowed & CIPH_AES128 ? EVP_aes_128_cbc() : NULL;
	case NID_aes_192_cbc: return allowed & CIPH_AES192 ? EVP_aes_192_cbc() : NULL;
	case NID_aes_256_cbc: return allowed & CIPH_AES256 ? EVP_aes_256_cbc() : NULL;
	case NID_des_ede3_cbc: return allowed & CIPH_DES3 ? EVP_des_ede3_cbc() : NULL;
	case NID_des_cbc: return allowed & CIPH_DES ? EVP_des_cbc() : NULL;
	default: return NULL;
	}
}

/*
 * Copy a string-typed attribute value of 1..MAX bytes; any common string type is
 * accepted. With BUF NULL only says whether it is such a string.
 */
static int
attr_string(const ASN1_TYPE *t, unsigned char *buf, size_t max, size_t *len)
{
	const ASN1_STRING *s;

	switch (t->type) {
	case V_ASN1_PRINTABLESTRING:
	case V_ASN1_UTF8STRING:
	case V_ASN1_IA5STRING:
	case V_ASN1_T61STRING:
	case V_ASN1_VISIBLESTRING:
		break;
	default:
		return 0;
	}
	s = t->value.asn1_string;
	if (s->length <= 0 || (size_t)s->length > max)
		return 0;
	if (buf != NULL) {
		memcpy(buf, s->data, (size_t)s->length);
		*len = (size_t)s->length;
	}
	return 1;
}

/*
 * A transactionID is text (RFC 8894 §3.2.1.1: a PrintableString in the RFC, other string
 * types from real clients): no C0 control character, no DEL, and in a UTF8String no C1
 * control character nor invalid UTF-8. NUL in particular is refused, so that no two
 * requests can differ only after a NUL.
 */
static int
txid_is_text(const unsigned char *s, size_t len, int utf8)
{
	size_t		 i, n;
	uint32_t	 cp;

	for (i = 0; i < len; i += n) {
		n = 1;
		if (s[i] < 0x20 || s[i] == 0x7f)
			return 0;
		if (!utf8 || s[i] < 0x80)
			continue;
		if ((n = utf8_decode(s + i, len - i, &cp)) == 0 || (cp >= 0x80 && cp < 0xa0))
			return 0;
	}
	return 1;
}

/*
 * Layer 2, the signed attributes (RFC 8894 §3.2.1): each SCEP attribute at most once with
 * exactly one value.
 * Sets msgtype, txid, nonce. Returns 0 with e->text set when no reply can be built (no
 * usable transactionID or senderNonce, a duplicate). A problem that still lets a CertRep
 * be built (messageType missing or not a number, a transactionID too long or holding
 * control characters) is written to *late and 1 is returned: the caller refuses the
 * message with a signed FAILURE once its signature has been checked.
 */
int
pkimsg_attributes(const STACK_OF(X509_ATTRIBUTE) *attrs, struct pkimsg *m,
    struct pkimsg_err *e, struct pkimsg_err *late)
{
	unsigned int	 seen = 0;
	int		 i, n, mt_ok = 0;
	char		 mt[8];
	size_t		 mtlen = 0;

	m->msgtype = -1;
	n = sk_X509_ATTRIBUTE_num(attrs);
	for (i = 0; i < n; i++) {
		X509_ATTRIBUTE	*a = sk_X509_ATTRIBUTE_value(attrs, i);
		const ASN1_TYPE	*t;
		const ASN1_STRING *s;
		int		 nid = OBJ_obj2nid(X509_ATTRIBUTE_get0_object(a));
		unsigned int	 bit;

		if (nid == nid_messageType)
			bit = 1;
		else if (nid == nid_transactionID)
			bit = 2;
		else if (nid == nid_senderNonce)
			bit = 4;
		else
			continue;	/* unknown attributes are ignored (jscep randomNonce) */
		if (seen & bit) {
			fail(e, FAIL_BADREQUEST, "duplicate SCEP attribute in request");
			return 0;
		}
		seen |= bit;
		if (X509_ATTRIBUTE_count(a) != 1 ||
		    (t = X509_ATTRIBUTE_get0_type(a, 0)) == NULL) {
			fail(e, FAIL_BADREQUEST, "SCEP attribute must have exactly one value");
			return 0;
		}
		if (bit == 1) {
			mt_ok = attr_string(t, (unsigned char *)mt, sizeof(mt) - 1, &mtlen);
			mt[mt_ok ? mtlen : 0] = '\0';
		} else if (bit == 2) {
			/* kept whatever its length, so that a refusal echoes it exactly */
			if (!attr_string(t, NULL, MAX_BODY, NULL)) {
				fail(e, FAIL_BADREQUEST, "transactionID is empty or not a string");
				return 0;
			}
			s = t->value.asn1_string;
			if ((m->txid = malloc((size_t)s->length)) == NULL) {
				fail(e, FAIL_BADREQUEST, "out of memory");
				return 0;
			}
			attr_string(t, m->txid, (size_t)s->length, &m->txid_len);
			if (m->txid_len > MAX_TXID && late->text[0] == '\0')
				fail(late, FAIL_BADREQUEST, "transactionID is longer than 128 "
				    "bytes");
			if (!txid_is_text(m->txid, m->txid_len, t->type == V_ASN1_UTF8STRING) &&
			    late->text[0] == '\0')
				fail(late, FAIL_BADREQUEST, "transactionID holds a control "
				    "character");
		} else {
			if (t->type != V_ASN1_OCTET_STRING ||
			    (s = t->value.octet_string)->length <= 0 ||
			    s->length > MAX_NONCE) {
				fail(e, FAIL_BADREQUEST, "senderNonce is not an OCTET STRING of "
				    "1..64 bytes");
				return 0;
			}
			memcpy(m->nonce, s->data, (size_t)s->length);
			m->nonce_len = (size_t)s->length;
		}
	}
	if (!(seen & 2)) {
		fail(e, FAIL_BADREQUEST, "transactionID attribute missing");
		return 0;
	}
	if (!(seen & 4)) {
		fail(e, FAIL_BADREQUEST, "senderNonce attribute missing");
		return 0;
	}
	if (!mt_ok || mtlen == 0 || mtlen > 3 || strspn(mt, "0123456789") != mtlen) {
		if (late->text[0] == '\0')
			fail(late, FAIL_BADREQUEST, !(seen & 1) ? "messageType attribute "
			    "missing" : "messageType is not a decimal number");
		return 1;
	}
	m->msgtype = atoi(mt);
	return 1;
}

int
pkimsg_signer_self_signed(const struct pkimsg *m)
{
	X509		*x = m->signer;
	EVP_PKEY	*pk = x != NULL ? X509_get0_pubkey(x) : NULL;

	if (pk == NULL)
		return 0;
	if (X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) != 0)
		return 0;
	return X509_verify(x, pk) > 0;
}

/*
 * Layer 3, the pkcsPKIEnvelope, looked at before the CA module decrypts it: an EnvelopedData with
 * key-transport recipients, its content cipher on the allow-list. OpenSSL's PKCS7
 * template makes the content of a ContentInfo and the encryptedContent OPTIONAL, so
 * `SEQUENCE { OID envelopedData }` decodes with d.enveloped NULL: both are checked here,
 * and ca_decrypt() is only called on an envelope that has them.
 */
int
pkimsg_envelope(const unsigned char *der, size_t len, unsigned ciphers, struct pkimsg *m,
    struct pkimsg_err *e)
{
	PKCS7			*p7 = NULL;
	const unsigned char	*p = der;
	int			 rc = 0, nid;

	p7 = d2i_PKCS7(NULL, &p, (long)len);
	if (p7 == NULL || p != der + len || !PKCS7_type_is_enveloped(p7) ||
	    p7->d.enveloped == NULL || sk_PKCS7_RECIP_INFO_num(p7->d.enveloped->recipientinfo) < 1) {
		fail(e, FAIL_BADMESSAGECHECK, "pkcsPKIEnvelope is not an EnvelopedData with "
		    "key-transport recipients");
		goto out;
	}
	if (p7->d.enveloped->enc_data->enc_data == NULL) {
		fail(e, FAIL_BADMESSAGECHECK, "pkcsPKIEnvelope has no encrypted content");
		goto out;
	}
	nid = OBJ_obj2nid(p7->d.enveloped->enc_data->algorithm->algorithm);
	if ((m->cipher = cipher_allowed(nid, ciphers)) == NULL) {
		char buf[160];

		snprintf(buf, sizeof(buf), "content encryption %s is not allowed by this CA; "
		    "use AES-128-CBC", nid == NID_undef ? "(unknown)" : OBJ_nid2sn(nid));
		fail(e, FAIL_BADALG, buf);
		goto out;
	}
	rc = 1;
out:
	PKCS7_free(p7);
	return rc;
}

/* The messageData of the envelope, decrypted by the CA module for the recipient it names. */
static int
decrypt_envelope(const unsigned char *der, size_t len, const struct ca *ca, struct pkimsg *m,
    struct pkimsg_err *e, unsigned char **inner, size_t *innerlen)
{
	enum ca_decrypt_fail	why;

	if (ca_decrypt(ca, der, len, inner, innerlen, &m->recipient, &why))
		return 1;
	switch (why) {
	case CA_DECRYPT_MALFORMED:
		fail(e, FAIL_BADMESSAGECHECK, "pkcsPKIEnvelope is malformed");
		break;
	case CA_DECRYPT_NOT_OURS:
		fail(e, FAIL_BADMESSAGECHECK, "request is not encrypted to this CA's "
		    "certificate (fetch it again with GetCACert)");
		break;
	case CA_DECRYPT_KEY_TRANSPORT:
		fail(e, FAIL_BADALG, "key transport must be RSA (PKCS#1 v1.5 or OAEP)");
		break;
	default:
		log_crypto(LOG_LVL_INFO, "decrypt");
		fail(e, FAIL_BADMESSAGECHECK, "the request cannot be decrypted with this "
		    "CA's key");
		break;
	}
	return 0;
}

static unsigned char *
bio_take(BIO *b, size_t *len)
{
	char		*data;
	long		 n = BIO_get_mem_data(b, &data);
	unsigned char	*out;

	if (n < 0 || (out = malloc(n > 0 ? (size_t)n : 1)) == NULL)
		return NULL;
	memcpy(out, data, (size_t)n);
	*len = (size_t)n;
	return out;
}

/*
 * Layer 4, the decrypted messageData, decoded according to messageType (RFC 8894 §3.3):
 * PKCS#10 (layer 5: its key, digest and subjectAltName checked, not yet its signature),
 * IssuerAndSubject or IssuerAndSerialNumber.
 */
int
pkimsg_content(const unsigned char *der, size_t len, unsigned digests, struct pkimsg *m,
    struct pkimsg_err *e)
{
	const unsigned char	*p = der;
	ISSUER_AND_SUBJECT	*ias = NULL;
	PKCS7_ISSUER_AND_SERIAL	*isn = NULL;
	GENERAL_NAMES		*gens = NULL;
	char			 err[160];
	int			 rc = 0;

	switch (m->msgtype) {
	case MT_PKCSREQ:
	case MT_RENEWALREQ:
		if (len > MAX_CSR) {
			fail(e, FAIL_BADREQUEST, "the PKCS#10 request is larger than the "
			    "16 KiB this CA accepts (MAX_CSR)");
			goto out;
		}
		if ((m->csr = spki_d2i_req(der, len)) == NULL) {
			fail(e, FAIL_BADREQUEST, "messageData is not a PKCS#10 request");
			goto out;
		}
		if (X509_REQ_get0_pubkey(m->csr) == NULL) {
			fail(e, FAIL_BADREQUEST, "the PKCS#10 public key cannot be read");
			goto out;
		}
		if (!csr_digest_allowed(m->csr, digests)) {
			fail(e, FAIL_BADALG, "the PKCS#10 request is signed with a digest this "
			    "CA does not allow; use SHA-256");
			goto out;
		}
		if (!csr_san(m->csr, &gens, err, sizeof(err))) {
			fail(e, FAIL_BADREQUEST, err);
			goto out;
		}
		if (!pubkey_fp(X509_REQ_get0_pubkey(m->csr), m->key_fp))
			goto out;
		m->challenge = csr_challenge(m->csr);
		break;
	case MT_CERTPOLL:
		ias = d2i_ISSUER_AND_SUBJECT(NULL, &p, (long)len);
		if (ias == NULL || p != der + len) {
			fail(e, FAIL_BADREQUEST, "CertPoll messageData is not IssuerAndSubject");
			goto out;
		}
		m->poll_issuer = ias->issuer;
		m->poll_subject = ias->subject;
		ias->issuer = ias->subject = NULL;
		break;
	case MT_GETCERT:
	case MT_GETCRL:
		isn = d2i_PKCS7_ISSUER_AND_SERIAL(NULL, &p, (long)len);
		if (isn == NULL || p != der + len) {
			fail(e, FAIL_BADREQUEST, "messageData is not IssuerAndSerialNumber");
			goto out;
		}
		m->ias_issuer = isn->issuer;
		m->ias_serial = isn->serial;
		isn->issuer = NULL;
		isn->serial = NULL;
		break;
	default:
		fail(e, FAIL_BADREQUEST, "unsupported messageType");
		goto out;
	}
	rc = 1;
out:
	ISSUER_AND_SUBJECT_free(ias);
	PKCS7_ISSUER_AND_SERIAL_free(isn);
	GENERAL_NAMES_free(gens);
	return rc;
}

/* The PKCS#10 self-signature: proof of possession of the key (RFC 2986 §3). */
static int
csr_pop(struct pkimsg *m, struct pkimsg_err *e)
{
	if (m->csr == NULL || X509_REQ_verify(m->csr, X509_REQ_get0_pubkey(m->csr)) > 0)
		return 1;
	fail(e, FAIL_BADMESSAGECHECK, "the PKCS#10 self-signature does not verify (no proof "
	    "of possession of the key)");
	return 0;
}

/*
 * The pkiMessage as a CMS ContentInfo from the start of DER, where it ends in *END (bytes
 * may follow it: the caller decides what they mean). It is parsed with its certificates'
 * keys undecoded and the signer certificate given its key by spki_set_cert_key() (the
 * SignerInfo's key too); when that cannot be done, parsed again as usual. Nothing is
 * checked here that pkimsg_outer() does not check itself.
 */
static CMS_ContentInfo *
request_parse(const unsigned char *der, size_t len, const unsigned char **end)
{
	OSSL_LIB_CTX		*ctx = spki_keyless_ctx();
	CMS_ContentInfo		*cms = NULL;
	CMS_SignerInfo		*si;
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509)		*signers = NULL;
	X509			*signer;
	const unsigned char	*p = der;
	int			 keyed = 0;

	*end = der;
	if (len > LONG_MAX)
		return NULL;
	if (ctx != NULL) {
		ERR_set_mark();
		cms = (CMS_ContentInfo *)ASN1_item_d2i_ex(NULL, &p, (long)len,
		    ASN1_ITEM_rptr(CMS_ContentInfo), ctx, NULL);
		if (cms != NULL &&
		    OBJ_obj2nid(CMS_get0_type(cms)) == NID_pkcs7_signed &&
		    sk_CMS_SignerInfo_num(sis = CMS_get0_SignerInfos(cms)) == 1 &&
		    CMS_set1_signers_certs(cms, NULL, 0) == 1 &&
		    (signers = CMS_get0_signers(cms)) != NULL && sk_X509_num(signers) == 1 &&
		    spki_set_cert_key(signer = sk_X509_value(signers, 0))) {
			si = sk_CMS_SignerInfo_value(sis, 0);
			CMS_SignerInfo_set1_signer_cert(si, signer);
			keyed = 1;
		}
		ERR_pop_to_mark();
		sk_X509_free(signers);
		if (keyed) {
			*end = p;
			return cms;
		}
		CMS_ContentInfo_free(cms);
	}
	p = der;
	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) != NULL)
		*end = p;
	return cms;
}

/*
 * Layer 1, the outer SignedData (RFC 8894 §3.1): one ContentInfo (bytes after it are a
 * refusal in *late), signedData with exactly one SignerInfo, its attributes (layer 2),
 * the digest on the allow-list, id-data content, the signer certificate into m->signer.
 * Checks no signature. The ContentInfo goes to *out for the caller to verify.
 */
int
pkimsg_outer(const unsigned char *der, size_t len, unsigned digests, struct pkimsg *m,
    struct pkimsg_err *e, struct pkimsg_err *late, CMS_ContentInfo **out)
{
	CMS_ContentInfo		*cms = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	CMS_SignerInfo		*si;
	STACK_OF(X509)		*signers = NULL;
	STACK_OF(X509_ATTRIBUTE) *attrs = NULL;
	X509_ALGOR		*dig = NULL, *sig = NULL;
	const unsigned char	*p;
	X509			*signer = NULL;
	const ASN1_OBJECT	*ctype;
	int			 i, n, rc = 0;

	*out = NULL;
	if ((cms = request_parse(der, len, &p)) == NULL) {
		fail(e, FAIL_BADREQUEST, "body is not a DER/BER CMS ContentInfo");
		goto out;
	}
	if (p != der + len) {
		char buf[96];

		snprintf(buf, sizeof(buf), "%zu bytes follow the pkiMessage",
		    (size_t)(der + len - p));
		fail(late, FAIL_BADREQUEST, buf);
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		fail(e, FAIL_BADREQUEST, "pkiMessage is not a SignedData");
		goto out;
	}
	/* NULL, so refused, when the optional content of the ContentInfo is absent */
	sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) != 1) {
		fail(e, FAIL_BADREQUEST, "pkiMessage must have exactly one SignerInfo");
		goto out;
	}
	si = sk_CMS_SignerInfo_value(sis, 0);
	/* a view of the signed attributes; it does not own them */
	if ((attrs = sk_X509_ATTRIBUTE_new_null()) == NULL) {
		fail(e, FAIL_BADREQUEST, "out of memory");
		goto out;
	}
	n = CMS_signed_get_attr_count(si);
	for (i = 0; i < n; i++)
		if (!sk_X509_ATTRIBUTE_push(attrs, CMS_signed_get_attr(si, i))) {
			fail(e, FAIL_BADREQUEST, "out of memory");
			goto out;
		}
	if (!pkimsg_attributes(attrs, m, e, late))
		goto out;

	/* From here a FAILURE CertRep can be built: txid and nonce are known. */
	e->have_reply_info = 1;
	CMS_SignerInfo_get0_algs(si, NULL, &signer, &dig, &sig);
	if ((m->md = digest_allowed(dig, digests)) == NULL) {
		m->md = EVP_sha256();
		fail(e, FAIL_BADALG, "digest algorithm not allowed by this CA; use SHA-256");
		goto out;
	}
	if ((ctype = CMS_get0_eContentType(cms)) == NULL ||
	    OBJ_obj2nid(ctype) != NID_pkcs7_data) {
		fail(e, FAIL_BADREQUEST, "encapsulated content type must be id-data");
		goto out;
	}
	/* request_parse() has found the signer certificate already when it could. */
	if ((signer == NULL && CMS_set1_signers_certs(cms, NULL, 0) < 1) ||
	    (signers = CMS_get0_signers(cms)) == NULL ||
	    sk_X509_num(signers) != 1) {
		fail(e, FAIL_BADMESSAGECHECK, "the signer certificate is not in the message");
		goto out;
	}
	m->signer = sk_X509_value(signers, 0);
	X509_up_ref(m->signer);
	*out = cms;
	cms = NULL;
	rc = 1;
out:
	sk_X509_ATTRIBUTE_free(attrs);
	sk_X509_free(signers);
	CMS_ContentInfo_free(cms);
	return rc;
}

struct pkimsg *
pkimsg_parse(const unsigned char *der, size_t len, const struct ca *ca, unsigned digests,
    unsigned ciphers, struct pkimsg_err *e, struct pkimsg **partial)
{
	struct pkimsg		*m = NULL, *ret = NULL;
	struct pkimsg_err	 late;		/* refusal due once the signature verifies */
	CMS_ContentInfo		*cms = NULL;
	BIO			*content = NULL;
	unsigned char		*envder = NULL, *inner = NULL;
	size_t			 envlen = 0, innerlen = 0;

	memset(e, 0, sizeof(*e));
	memset(&late, 0, sizeof(late));
	*partial = NULL;
	if (!scep_oids_init()) {
		fail(e, FAIL_BADREQUEST, "internal error: OIDs");
		goto out;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL)
		goto out;
	m->msgtype = -1;
	m->md = EVP_sha256();
	if (!pkimsg_outer(der, len, digests, m, e, &late, &cms))
		goto out;
	if (!pubkey_fp(X509_get0_pubkey(m->signer), m->signer_fp))
		goto out;

	/*
	 * Signature and messageDigest; the signer is usually a throw-away self-signed
	 * certificate, so its chain is not built here (policy decides what it is worth).
	 */
	if ((content = BIO_new(BIO_s_mem())) == NULL)
		goto out;
	if (CMS_verify(cms, NULL, NULL, NULL, content,
	    CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
		log_crypto(LOG_LVL_INFO, "request signature");
		fail(e, FAIL_BADMESSAGECHECK, "the signature on the request does not verify");
		goto out;
	}
	/* The signature verifies: what was wrong in its meaning is answered signed. */
	if (late.text[0] != '\0') {
		fail(e, late.fail, late.text);
		goto out;
	}
	if ((envder = bio_take(content, &envlen)) == NULL)
		goto out;

	if (m->msgtype != MT_PKCSREQ && m->msgtype != MT_RENEWALREQ &&
	    m->msgtype != MT_CERTPOLL && m->msgtype != MT_GETCERT &&
	    m->msgtype != MT_GETCRL) {
		char buf[96];

		snprintf(buf, sizeof(buf), "messageType %d is not supported", m->msgtype);
		fail(e, FAIL_BADREQUEST, buf);
		goto out;
	}
	if (!pkimsg_envelope(envder, envlen, ciphers, m, e) ||
	    !decrypt_envelope(envder, envlen, ca, m, e, &inner, &innerlen))
		goto out;
	if (!pkimsg_content(inner, innerlen, digests, m, e) || !csr_pop(m, e))
		goto out;

	if ((m->raw = malloc(len)) == NULL)
		goto out;
	memcpy(m->raw, der, len);
	m->raw_len = len;
	ret = m;
	m = NULL;
out:
	if (ret == NULL && e->text[0] == '\0')
		fail(e, FAIL_BADREQUEST, "out of memory");
	if (m != NULL && e->have_reply_info) {
		*partial = m;
		m = NULL;
	}
	ERR_clear_error();
	pkimsg_free(m);
	BIO_free(content);
	CMS_ContentInfo_free(cms);
	free(envder);
	free(inner);
	return ret;
}

void
pkimsg_print(const struct pkimsg *m, FILE *f)
{
	char buf[MAX_TXID * 4 + 1];

	log_escape(buf, sizeof(buf), m->txid, m->txid_len);
	fprintf(f, "messageType: %d (%s)\n", m->msgtype, msgtype_name(m->msgtype));
	fprintf(f, "transactionID: %s\n", buf);
	fprintf(f, "senderNonce: %zu bytes\n", m->nonce_len);
	fprintf(f, "digest: %s\n", m->md ? EVP_MD_get0_name(m->md) : "-");
	fprintf(f, "cipher: %s\n", m->cipher ? EVP_CIPHER_get0_name(m->cipher) : "-");
	if (m->signer != NULL) {
		X509_NAME_oneline(X509_get_subject_name(m->signer), buf, sizeof(buf));
		fprintf(f, "signer: %s%s\n", buf,
		    pkimsg_signer_self_signed(m) ? " (self-signed)" : "");
	}
	if (m->csr != NULL) {
		X509_NAME_oneline(X509_REQ_get_subject_name(m->csr), buf, sizeof(buf));
		fprintf(f, "subject: %s\n", buf);
	}
}

char *
csr_challenge(X509_REQ *req)
{
	X509_ATTRIBUTE	*a;
	ASN1_TYPE	*t;
	unsigned char	*utf8 = NULL;
	char		*ret = NULL;
	int		 idx, n;

	if ((idx = X509_REQ_get_attr_by_NID(req, NID_pkcs9_challengePassword, -1)) < 0)
		return NULL;
	if (X509_REQ_get_attr_by_NID(req, NID_pkcs9_challengePassword, idx) >= 0)
		return NULL;		/* two challengePassword attributes: none counts */
	a = X509_REQ_get_attr(req, idx);
	if (X509_ATTRIBUTE_count(a) != 1 || (t = X509_ATTRIBUTE_get0_type(a, 0)) == NULL)
		return NULL;
	switch (t->type) {
	case V_ASN1_PRINTABLESTRING:
	case V_ASN1_UTF8STRING:
	case V_ASN1_BMPSTRING:
	case V_ASN1_T61STRING:
	case V_ASN1_UNIVERSALSTRING:
	case V_ASN1_IA5STRING:
		break;
	default:
		return NULL;
	}
	n = ASN1_STRING_to_UTF8(&utf8, t->value.asn1_string);
	if (n < 0 || n > MAX_CHALLENGE || memchr(utf8, '\0', (size_t)n) != NULL)
		goto out;
	if ((ret = malloc((size_t)n + 1)) == NULL)
		goto out;
	memcpy(ret, utf8, (size_t)n);
	ret[n] = '\0';
out:
	OPENSSL_free(utf8);
	return ret;
}

int
csr_san(X509_REQ *req, GENERAL_NAMES **out, char *err, size_t errlen)
{
	STACK_OF(X509_EXTENSION)	*exts;
	GENERAL_NAMES			*gens = NULL;
	int				 idx, n, rc = 0;

	*out = NULL;
	if ((exts = X509_REQ_get_extensions(req)) == NULL) {
		if (X509_REQ_get_attr_by_NID(req, NID_ext_req, -1) >= 0 ||
		    X509_REQ_get_attr_by_NID(req, NID_ms_ext_req, -1) >= 0)
			return errf_crypto(err, errlen, "the CSR's extensionRequest is malformed");
		ERR_clear_error();
		return 1;
	}
	if ((idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1)) < 0) {
		rc = 1;
		goto out;
	}
	if (X509v3_get_ext_by_NID(exts, NID_subject_alt_name, idx) >= 0) {
		errf(err, errlen, "the CSR requests subjectAltName twice");
		goto out;
	}
	if ((gens = X509V3_EXT_d2i(X509v3_get_ext(exts, idx))) == NULL) {
		errf_crypto(err, errlen, "the CSR's subjectAltName is malformed");
		goto out;
	}
	if ((n = sk_GENERAL_NAME_num(gens)) <= 0 || n > MAX_SAN_ENTRIES) {
		errf(err, errlen, "the CSR's subjectAltName has %d names; this CA accepts "
		    "1 to %d", n, MAX_SAN_ENTRIES);
		goto out;
	}
	*out = gens;
	gens = NULL;
	rc = 1;
out:
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

int
pubkey_fp(EVP_PKEY *pk, char out[65])
{
	unsigned char	*der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	int		 len, rc = 0;

	out[0] = '\0';
	if ((len = i2d_PUBKEY(pk, &der)) <= 0)
		goto out;
	if (!EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL))
		goto out;
	hex_encode(out, md, mdlen);
	rc = 1;
out:
	OPENSSL_free(der);
	return rc;
}

/*
 * The CSR as the repository keeps it: every challengePassword attribute removed and the
 * rest re-encoded. Its self-signature no longer verifies (it covered the challenge); it
 * was verified on arrival, and issuing checks the key against the record's key_fp.
 */
unsigned char *
csr_der_at_rest(X509_REQ *req, size_t *len)
{
	X509_REQ	*copy = NULL;
	unsigned char	*der = NULL, *ret = NULL;
	int		 idx, n;

	if ((copy = X509_REQ_dup(req)) == NULL)
		goto out;
	while ((idx = X509_REQ_get_attr_by_NID(copy, NID_pkcs9_challengePassword, -1)) >= 0)
		X509_ATTRIBUTE_free(X509_REQ_delete_attr(copy, idx));
	if ((n = i2d_X509_REQ(copy, &der)) <= 0 || (ret = malloc((size_t)n)) == NULL)
		goto out;
	memcpy(ret, der, (size_t)n);
	*len = (size_t)n;
out:
	OPENSSL_free(der);
	X509_REQ_free(copy);
	return ret;
}
