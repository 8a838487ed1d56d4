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
 * exactly one SignerInfo, no duplicate SCEP attributes, digest and cipher on an allow-list,
 * whole buffer consumed by every d2i.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "scep.h"
#include "ca.h"
#include "config.h"
#include "pkimsg.h"

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

/* Copy a string-typed attribute value; any common string type is accepted. */
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
	memcpy(buf, s->data, (size_t)s->length);
	*len = (size_t)s->length;
	return 1;
}

/*
 * Walk every signed attribute: each SCEP attribute at most once with exactly one value.
 * Sets msgtype, txid, nonce. Returns 1, or 0 with e->text set.
 */
static int
read_attributes(CMS_SignerInfo *si, struct pkimsg *m, struct pkimsg_err *e)
{
	unsigned int	 seen = 0;
	int		 i, n;
	char		 mt[8];
	size_t		 mtlen = 0;

	m->msgtype = -1;
	n = CMS_signed_get_attr_count(si);
	for (i = 0; i < n; i++) {
		X509_ATTRIBUTE	*a = CMS_signed_get_attr(si, i);
		const ASN1_TYPE	*t;
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
			if (!attr_string(t, (unsigned char *)mt, sizeof(mt) - 1, &mtlen)) {
				fail(e, FAIL_BADREQUEST, "messageType is not a short string");
				return 0;
			}
			mt[mtlen] = '\0';
		} else if (bit == 2) {
			if (!attr_string(t, m->txid, sizeof(m->txid), &m->txid_len)) {
				fail(e, FAIL_BADREQUEST, "transactionID is empty, too long or "
				    "not a string");
				return 0;
			}
		} else {
			const ASN1_STRING *s;

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
	if (!(seen & 1)) {
		fail(e, FAIL_BADREQUEST, "messageType attribute missing");
		return 0;
	}
	if (mtlen == 0 || mtlen > 3 || strspn(mt, "0123456789") != mtlen) {
		fail(e, FAIL_BADREQUEST, "messageType is not a decimal number");
		return 0;
	}
	m->msgtype = atoi(mt);
	return 1;
}

static int
is_self_signed(X509 *x)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);

	if (pk == NULL)
		return 0;
	if (X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) != 0)
		return 0;
	return X509_verify(x, pk) > 0;
}

/*
 * Look at the EnvelopedData before the CA module decrypts it: an EnvelopedData with
 * key-transport recipients, its content cipher on the allow-list.
 */
static int
check_envelope(const unsigned char *der, size_t len, unsigned ciphers, struct pkimsg *m,
    struct pkimsg_err *e)
{
	PKCS7			*p7 = NULL;
	const unsigned char	*p = der;
	int			 rc = 0, nid;

	p7 = d2i_PKCS7(NULL, &p, (long)len);
	if (p7 == NULL || p != der + len || !PKCS7_type_is_enveloped(p7)) {
		fail(e, FAIL_BADMESSAGECHECK, "pkcsPKIEnvelope is not an EnvelopedData with "
		    "key-transport recipients");
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

/* Decode messageData according to messageType (RFC 8894 §3.3). */
static int
decode_inner(const unsigned char *der, size_t len, struct pkimsg *m, struct pkimsg_err *e)
{
	const unsigned char	*p = der;
	ISSUER_AND_SUBJECT	*ias = NULL;
	PKCS7_ISSUER_AND_SERIAL	*isn = NULL;
	EVP_PKEY		*pk;
	int			 rc = 0;

	switch (m->msgtype) {
	case MT_PKCSREQ:
	case MT_RENEWALREQ:
		m->csr = d2i_X509_REQ(NULL, &p, (long)len);
		if (m->csr == NULL || p != der + len) {
			fail(e, FAIL_BADREQUEST, "messageData is not a PKCS#10 request");
			goto out;
		}
		if ((pk = X509_REQ_get0_pubkey(m->csr)) == NULL ||
		    X509_REQ_verify(m->csr, pk) <= 0) {
			fail(e, FAIL_BADMESSAGECHECK, "the PKCS#10 self-signature does not "
			    "verify (no proof of possession of the key)");
			goto out;
		}
		if (!pubkey_fp(pk, m->key_fp))
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
	return rc;
}

struct pkimsg *
pkimsg_parse(const unsigned char *der, size_t len, const struct ca *ca, unsigned digests,
    unsigned ciphers, struct pkimsg_err *e, struct pkimsg **partial)
{
	struct pkimsg		*m = NULL, *ret = NULL;
	CMS_ContentInfo		*cms = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	CMS_SignerInfo		*si;
	STACK_OF(X509)		*signers = NULL;
	X509_ALGOR		*dig = NULL, *sig = NULL;
	BIO			*content = NULL;
	unsigned char		*envder = NULL, *inner = NULL;
	size_t			 envlen = 0, innerlen = 0;
	const unsigned char	*p = der;
	const ASN1_OBJECT	*ctype;

	memset(e, 0, sizeof(*e));
	*partial = NULL;
	if (!scep_oids_init()) {
		fail(e, FAIL_BADREQUEST, "internal error: OIDs");
		goto out;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL)
		goto out;
	m->msgtype = -1;

	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	if (cms == NULL || p != der + len) {
		fail(e, FAIL_BADREQUEST, "body is not a single DER/BER CMS ContentInfo");
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		fail(e, FAIL_BADREQUEST, "pkiMessage is not a SignedData");
		goto out;
	}
	sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) != 1) {
		fail(e, FAIL_BADREQUEST, "pkiMessage must have exactly one SignerInfo");
		goto out;
	}
	si = sk_CMS_SignerInfo_value(sis, 0);
	if (!read_attributes(si, m, e))
		goto out;

	/* From here a FAILURE CertRep can be built: txid and nonce are known. */
	e->have_reply_info = 1;
	m->md = EVP_sha256();
	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
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
	if (CMS_set1_signers_certs(cms, NULL, 0) < 1 ||
	    (signers = CMS_get0_signers(cms)) == NULL ||
	    sk_X509_num(signers) != 1) {
		fail(e, FAIL_BADMESSAGECHECK, "the signer certificate is not in the message");
		goto out;
	}
	m->signer = sk_X509_value(signers, 0);
	X509_up_ref(m->signer);
	m->signer_self_signed = is_self_signed(m->signer);
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
	if (!check_envelope(envder, envlen, ciphers, m, e) ||
	    !decrypt_envelope(envder, envlen, ca, m, e, &inner, &innerlen))
		goto out;
	if (!decode_inner(inner, innerlen, m, e))
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
	sk_X509_free(signers);
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
		fprintf(f, "signer: %s%s\n", buf, m->signer_self_signed ? " (self-signed)" : "");
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
