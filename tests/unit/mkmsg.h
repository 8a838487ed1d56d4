/*
 * Test-side SCEP message construction with OpenSSL's CMS API, independent of the server's
 * own code paths (the server parses with CMS and replies with PKCS7). Used by the unit
 * tests and by tests/tools/scepreq.c. Knobs exist to build malformed messages on purpose.
 */
#ifndef MKMSG_H
#define MKMSG_H

#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define MK_OID_MSGTYPE	"2.16.840.1.113733.1.9.2"
#define MK_OID_STATUS	"2.16.840.1.113733.1.9.3"
#define MK_OID_FAILINFO	"2.16.840.1.113733.1.9.4"
#define MK_OID_SNONCE	"2.16.840.1.113733.1.9.5"
#define MK_OID_RNONCE	"2.16.840.1.113733.1.9.6"
#define MK_OID_TXID	"2.16.840.1.113733.1.9.7"
#define MK_OID_FAILTEXT	"1.3.6.1.5.5.7.24.1"

struct mk_opts {
	int		 msgtype;
	const char	*msgtype_str;		/* messageType text instead of msgtype */
	const char	*txid;			/* NULL: omit */
	size_t		 txid_len;		/* 0: strlen(txid); set it for a NUL inside */
	int		 txid_type;		/* V_ASN1_PRINTABLESTRING default */
	const unsigned char *nonce;		/* NULL: 16 random bytes */
	size_t		 nonce_len;
	int		 omit_nonce, omit_msgtype, dup_txid;
	const EVP_MD	*md;			/* default SHA-256 */
	const EVP_CIPHER *cipher;		/* default AES-128-CBC */
	int		 oaep, pss;		/* key transport OAEP, signature PSS */
	X509		*recip;			/* encrypt to this */
	X509		*extra_recip;		/* a second RecipientInfo */
	X509		*signer;		/* sign with this cert/key */
	EVP_PKEY	*signkey;
	int		 corrupt_sig;		/* flip a bit of the signature */
	const unsigned char *content;		/* signed content as is (no envelope built) */
	size_t		 content_len;
};

static inline EVP_PKEY *
mk_rsa(int bits)
{
	return EVP_RSA_gen((unsigned int)bits);
}

/* A self-signed certificate for KEY with subject CN=cn (like sscep/strongSwan make). */
static inline X509 *
mk_selfsigned(EVP_PKEY *key, const char *cn)
{
	X509		*x = X509_new();
	X509_NAME	*n = X509_NAME_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), -300);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_sign(x, key, EVP_sha256());
	X509_NAME_free(n);
	return x;
}

/* One subjectAltName entry: GEN_DNS, GEN_EMAIL, GEN_URI, GEN_IPADD or GEN_OTHERNAME (UPN). */
struct mk_san {
	int		 type;
	const char	*v;
	size_t		 len;		/* 0: strlen(v); set it for a NUL inside */
};

/* What goes into a test CSR besides the key. */
struct mk_csr_opts {
	const char	*cn;
	size_t		 cn_len;	/* 0: strlen(cn); set it for a NUL inside */
	const char	*org;		/* default "Test"; "" = no O */
	const char	*ou;		/* NULL: no OU */
	int		 str_type;	/* 0: OpenSSL's choice; else the V_ASN1_ string type of
					 * every RDN value (BMPSTRING: ASCII widened to UCS-2) */
	const char	*challenge;
	const char	*challenge2;	/* a second challengePassword attribute */
	int		 challenge_twice; /* one challengePassword attribute with two values */
	const char	*san_dns;
	const struct mk_san *sans;	/* further subjectAltName entries */
	int		 nsans;
	const char	*template_name;	/* Microsoft certificate-template-name extension */
	const char	*role;		/* our scepRole attribute */
	const EVP_MD	*md;		/* signature digest of the CSR, default SHA-256 */
	size_t		 pad;		/* bytes of an unknown attribute that inflate the CSR */
};

/* Add the RDN FIELD=V (LEN bytes) to N as string type TYPE (0: OpenSSL's choice). */
static inline int
mk_name_add(X509_NAME *n, const char *field, const char *v, size_t len, int type)
{
	unsigned char	*wide;
	size_t		 i;
	int		 rc;

	if (type == 0)
		return X509_NAME_add_entry_by_txt(n, field, MBSTRING_ASC,
		    (const unsigned char *)v, (int)len, -1, 0);
	if (type != V_ASN1_BMPSTRING)
		return X509_NAME_add_entry_by_txt(n, field, type, (const unsigned char *)v,
		    (int)len, -1, 0);
	if ((wide = calloc(2, len + 1)) == NULL)
		return 0;
	for (i = 0; i < len; i++)
		wide[2 * i + 1] = (unsigned char)v[i];
	rc = X509_NAME_add_entry_by_txt(n, field, type, wide, (int)(2 * len), -1, 0);
	free(wide);
	return rc;
}

/* One GeneralName from S, or NULL. */
static inline GENERAL_NAME *
mk_general_name(const struct mk_san *s)
{
	GENERAL_NAME	*g = GENERAL_NAME_new();
	ASN1_STRING	*str;
	size_t		 len = s->len ? s->len : strlen(s->v);

	if (g == NULL)
		return NULL;
	switch (s->type) {
	case GEN_IPADD:
		GENERAL_NAME_free(g);
		return a2i_GENERAL_NAME(NULL, NULL, NULL, GEN_IPADD, s->v, 0);
	case GEN_OTHERNAME: {
		/* Microsoft UPN: otherName 1.3.6.1.4.1.311.20.2.3, UTF8String */
		ASN1_TYPE *val = ASN1_TYPE_new();

		str = ASN1_UTF8STRING_new();
		ASN1_STRING_set(str, s->v, (int)len);
		ASN1_TYPE_set(val, V_ASN1_UTF8STRING, str);
		GENERAL_NAME_set0_othername(g, OBJ_txt2obj("1.3.6.1.4.1.311.20.2.3", 1), val);
		return g;
	}
	default:
		str = ASN1_IA5STRING_new();
		ASN1_STRING_set(str, s->v, (int)len);
		GENERAL_NAME_set0_value(g, s->type, str);
		return g;
	}
}

static inline X509_REQ *
mk_csr_ex(EVP_PKEY *key, const struct mk_csr_opts *o)
{
	X509_REQ			*r = X509_REQ_new();
	X509_NAME			*n = X509_NAME_new();
	STACK_OF(X509_EXTENSION)	*exts = sk_X509_EXTENSION_new_null();
	const char			*org = o->org ? o->org : "Test";

	X509_REQ_set_version(r, 0);
	mk_name_add(n, "CN", o->cn, o->cn_len ? o->cn_len : strlen(o->cn), o->str_type);
	if (*org)
		mk_name_add(n, "O", org, strlen(org), o->str_type);
	if (o->ou != NULL)
		mk_name_add(n, "OU", o->ou, strlen(o->ou), o->str_type);
	X509_REQ_set_subject_name(r, n);
	X509_REQ_set_pubkey(r, key);
	if (o->challenge != NULL && o->challenge_twice) {
		X509_ATTRIBUTE *a = X509_ATTRIBUTE_create_by_NID(NULL,
		    NID_pkcs9_challengePassword, V_ASN1_UTF8STRING, o->challenge,
		    (int)strlen(o->challenge));

		X509_ATTRIBUTE_set1_data(a, V_ASN1_UTF8STRING, o->challenge,
		    (int)strlen(o->challenge));
		X509_REQ_add1_attr(r, a);
		X509_ATTRIBUTE_free(a);
	} else if (o->challenge != NULL && *o->challenge == '\0') {
		/* An empty challenge: OpenSSL's string conversion refuses it, set it raw. */
		X509_REQ_add1_attr_by_NID(r, NID_pkcs9_challengePassword, V_ASN1_UTF8STRING,
		    (const unsigned char *)"", 0);
	} else if (o->challenge != NULL)
		X509_REQ_add1_attr_by_NID(r, NID_pkcs9_challengePassword, MBSTRING_ASC,
		    (const unsigned char *)o->challenge, -1);
	if (o->challenge2 != NULL) {
		/* OpenSSL refuses a duplicate attribute: add it under a stand-in OID of the
		 * same length, renamed in the DER below. */
		ASN1_OBJECT *obj = OBJ_txt2obj("1.2.840.113549.1.9.99", 1);

		X509_REQ_add1_attr_by_OBJ(r, obj, MBSTRING_ASC,
		    (const unsigned char *)o->challenge2, -1);
		ASN1_OBJECT_free(obj);
	}
	if (o->pad > 0) {
		ASN1_OBJECT	*obj = OBJ_txt2obj("1.3.6.1.4.1.99999.1", 1);
		unsigned char	*junk = calloc(1, o->pad);

		X509_REQ_add1_attr_by_OBJ(r, obj, V_ASN1_OCTET_STRING, junk, (int)o->pad);
		free(junk);
		ASN1_OBJECT_free(obj);
	}
	if (o->role != NULL) {
		ASN1_OBJECT *obj = OBJ_txt2obj("2.25.120449421016315358108237866117543876236", 1);

		X509_REQ_add1_attr_by_OBJ(r, obj, MBSTRING_ASC, (const unsigned char *)o->role, -1);
		ASN1_OBJECT_free(obj);
	}
	if (o->san_dns != NULL) {
		char v[300];

		snprintf(v, sizeof(v), "DNS:%s", o->san_dns);
		sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, v));
	}
	if (o->nsans > 0) {
		GENERAL_NAMES	*gens = sk_GENERAL_NAME_new_null();
		int		 i;

		for (i = 0; i < o->nsans; i++)
			sk_GENERAL_NAME_push(gens, mk_general_name(&o->sans[i]));
		sk_X509_EXTENSION_push(exts, X509V3_EXT_i2d(NID_subject_alt_name, 0, gens));
		GENERAL_NAMES_free(gens);
	}
	if (o->template_name != NULL) {
		/* The extension value is a BMPString, as Windows and Intune send it. */
		ASN1_STRING		*bmp = ASN1_STRING_type_new(V_ASN1_BMPSTRING);
		ASN1_OCTET_STRING	*os = ASN1_OCTET_STRING_new();
		ASN1_OBJECT		*obj = OBJ_txt2obj("1.3.6.1.4.1.311.20.2", 1);
		unsigned char		*der = NULL, buf[128];
		size_t			 i, len = strlen(o->template_name);
		int			 dl;

		for (i = 0; i < len && i < 64; i++) {
			buf[2 * i] = 0;
			buf[2 * i + 1] = (unsigned char)o->template_name[i];
		}
		ASN1_STRING_set(bmp, buf, (int)(2 * i));
		dl = i2d_ASN1_BMPSTRING(bmp, &der);
		ASN1_OCTET_STRING_set(os, der, dl);
		sk_X509_EXTENSION_push(exts, X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os));
		OPENSSL_free(der);
		ASN1_STRING_free(bmp);
		ASN1_OCTET_STRING_free(os);
		ASN1_OBJECT_free(obj);
	}
	if (sk_X509_EXTENSION_num(exts) > 0)
		X509_REQ_add_extensions(r, exts);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_sign(r, key, o->md ? o->md : EVP_sha256());
	if (o->challenge2 != NULL) {
		static const unsigned char standin[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
		    0x0d, 0x01, 0x09, 0x63 };
		unsigned char		*der = NULL;
		const unsigned char	*p;
		int			 len = i2d_X509_REQ(r, &der), i;
		X509_REQ		*r2;

		for (i = 0; i + (int)sizeof(standin) <= len; i++)
			if (memcmp(der + i, standin, sizeof(standin)) == 0)
				der[i + sizeof(standin) - 1] = 0x07;	/* challengePassword */
		p = der;
		if ((r2 = d2i_X509_REQ(NULL, &p, len)) != NULL) {
			X509_REQ_sign(r2, key, o->md ? o->md : EVP_sha256());
			X509_REQ_free(r);
			r = r2;
		}
		OPENSSL_free(der);
	}
	X509_NAME_free(n);
	return r;
}

/* A PKCS#10 request with subject CN=cn, O=Test, optional challenge and DNS SAN. */
static inline X509_REQ *
mk_csr(EVP_PKEY *key, const char *cn, const char *challenge, const char *san_dns)
{
	struct mk_csr_opts o = { .cn = cn, .challenge = challenge, .san_dns = san_dns };

	return mk_csr_ex(key, &o);
}

static inline int
mk_attr(CMS_SignerInfo *si, const char *oid, int type, const void *data, int len)
{
	ASN1_OBJECT	*o = OBJ_txt2obj(oid, 1);
	int		 rc = CMS_signed_add1_attr_by_OBJ(si, o, type, data, len);

	ASN1_OBJECT_free(o);
	return rc;
}

/* Build a pkiMessage around INNER (messageData DER). Returns DER (OPENSSL_free) or NULL. */
static inline unsigned char *
mk_pkimsg(const struct mk_opts *o, const unsigned char *inner, size_t innerlen, size_t *outlen)
{
	CMS_ContentInfo	*env = NULL, *cms = NULL;
	CMS_SignerInfo	*si;
	CMS_RecipientInfo *ri;
	STACK_OF(X509)	*recips = sk_X509_new_null();
	BIO		*in = NULL, *envbio = NULL;
	unsigned char	*envder = NULL, *out = NULL, nonce[16];
	char		 mt[32];
	int		 n;
	EVP_PKEY_CTX	*pctx;

	if (o->content != NULL) {
		envbio = BIO_new_mem_buf(o->content, (int)o->content_len);
		goto sign;
	}
	sk_X509_push(recips, o->recip);
	if (o->extra_recip)
		sk_X509_push(recips, o->extra_recip);
	in = BIO_new_mem_buf(inner, (int)innerlen);
	env = CMS_encrypt(NULL, in, o->cipher ? o->cipher : EVP_aes_128_cbc(),
	    CMS_BINARY | CMS_PARTIAL);
	if (env == NULL)
		goto out;
	for (n = 0; n < sk_X509_num(recips); n++) {
		ri = CMS_add1_recipient_cert(env, sk_X509_value(recips, n),
		    CMS_KEY_PARAM | CMS_PARTIAL);
		if (ri == NULL)
			goto out;
		pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
		if (o->oaep && pctx != NULL)
			EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING);
	}
	if (!CMS_final(env, in, NULL, CMS_BINARY))
		goto out;
	if ((n = i2d_CMS_ContentInfo(env, &envder)) <= 0)
		goto out;
	envbio = BIO_new_mem_buf(envder, n);
sign:
	cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY);
	si = CMS_add1_signer(cms, o->signer, o->signkey, o->md ? o->md : EVP_sha256(),
	    CMS_PARTIAL | CMS_NOSMIMECAP | (o->pss ? CMS_KEY_PARAM : 0));
	if (si == NULL)
		goto out;
	if (o->pss) {
		pctx = CMS_SignerInfo_get0_pkey_ctx(si);
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
	}
	if (o->txid != NULL) {
		mk_attr(si, MK_OID_TXID, o->txid_type ? o->txid_type : V_ASN1_PRINTABLESTRING,
		    o->txid, (int)(o->txid_len ? o->txid_len : strlen(o->txid)));
		if (o->dup_txid)
			mk_attr(si, MK_OID_TXID, V_ASN1_PRINTABLESTRING, o->txid,
			    (int)strlen(o->txid));
	}
	snprintf(mt, sizeof(mt), "%d", o->msgtype);
	if (o->msgtype_str != NULL)
		snprintf(mt, sizeof(mt), "%s", o->msgtype_str);
	if (!o->omit_msgtype)
		mk_attr(si, MK_OID_MSGTYPE, V_ASN1_PRINTABLESTRING, mt, (int)strlen(mt));
	if (!o->omit_nonce) {
		if (o->nonce != NULL)
			mk_attr(si, MK_OID_SNONCE, V_ASN1_OCTET_STRING, o->nonce,
			    (int)o->nonce_len);
		else {
			RAND_bytes(nonce, sizeof(nonce));
			mk_attr(si, MK_OID_SNONCE, V_ASN1_OCTET_STRING, nonce, 16);
		}
	}
	if (!CMS_final(cms, envbio, NULL, CMS_BINARY))
		goto out;
	if (o->corrupt_sig) {
		ASN1_OCTET_STRING *sig = CMS_SignerInfo_get0_signature(si);

		sig->data[sig->length / 2] ^= 0x01;
	}
	if ((n = i2d_CMS_ContentInfo(cms, &out)) <= 0) {
		out = NULL;
		goto out;
	}
	*outlen = (size_t)n;
out:
	ERR_print_errors_fp(stderr);
	sk_X509_free(recips);
	BIO_free(in);
	BIO_free(envbio);
	CMS_ContentInfo_free(env);
	CMS_ContentInfo_free(cms);
	OPENSSL_free(envder);
	return out;
}

/* What a CertRep said, read with the CMS API (not the server's PKCS7 code). */
struct mk_reply {
	int		 status, failinfo, msgtype;
	char		 failtext[256];
	char		 txid[256];
	unsigned char	 rnonce[64], snonce[64];
	int		 rnonce_len, snonce_len;
	int		 attr_types_printable;	/* txid, msgtype, status, failInfo are PrintableString */
	int		 sig_alg_rsaenc;	/* SignerInfo.signatureAlgorithm is rsaEncryption */
	int		 digest_nid;
	int		 cipher_nid;
	STACK_OF(X509)	*certs;			/* decrypted payload, in order */
	STACK_OF(X509_CRL) *crls;
};

static inline void
mk_reply_free(struct mk_reply *r)
{
	sk_X509_pop_free(r->certs, X509_free);
	sk_X509_CRL_pop_free(r->crls, X509_CRL_free);
	memset(r, 0, sizeof(*r));
}

static inline const ASN1_TYPE *
mk_get_attr(CMS_SignerInfo *si, const char *oid)
{
	ASN1_OBJECT	*o = OBJ_txt2obj(oid, 1);
	int		 i = CMS_signed_get_attr_by_OBJ(si, o, -1);

	ASN1_OBJECT_free(o);
	if (i < 0)
		return NULL;
	return X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, i), 0);
}

/*
 * Verify a CertRep with CA as the only acceptable signer, read its attributes and, for
 * SUCCESS, decrypt the payload with (cert, key). Returns 1 if the reply is well formed.
 */
static inline int
mk_read_reply(const unsigned char *der, size_t len, X509 *ca, X509 *cert, EVP_PKEY *key,
    struct mk_reply *r)
{
	const unsigned char	*p = der;
	CMS_ContentInfo		*cms = NULL, *env = NULL;
	PKCS7			*deg = NULL;
	BIO			*content = BIO_new(BIO_s_mem()), *plain = BIO_new(BIO_s_mem());
	BIO			*dcont = NULL;
	STACK_OF(X509)		*ok = sk_X509_new_null();
	CMS_SignerInfo		*si;
	X509_ALGOR		*dig, *sig;
	const ASN1_TYPE		*t;
	char			*data;
	long			 n;
	int			 rc = 0, i;

	memset(r, 0, sizeof(*r));
	r->status = r->failinfo = -1;
	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL)
		goto out;
	if (sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)) != 1)
		goto out;
	si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
	if (CMS_SignerInfo_cert_cmp(si, ca) != 0)
		goto out;
	sk_X509_push(ok, ca);
	/* PENDING and FAILURE have no eContent: verify over the empty string. */
	if (CMS_is_detached(cms))
		dcont = BIO_new_mem_buf("", 0);
	if (CMS_verify(cms, ok, NULL, dcont, content,
	    CMS_NOINTERN | CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1)
		goto out;
	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
	r->digest_nid = OBJ_obj2nid(dig->algorithm);
	r->sig_alg_rsaenc = OBJ_obj2nid(sig->algorithm) == NID_rsaEncryption;
	r->attr_types_printable = 1;
	if ((t = mk_get_attr(si, MK_OID_TXID)) != NULL) {
		r->attr_types_printable &= t->type == V_ASN1_PRINTABLESTRING;
		snprintf(r->txid, sizeof(r->txid), "%.*s", t->value.asn1_string->length,
		    t->value.asn1_string->data);
	}
	if ((t = mk_get_attr(si, MK_OID_MSGTYPE)) != NULL) {
		r->attr_types_printable &= t->type == V_ASN1_PRINTABLESTRING;
		r->msgtype = atoi((char *)t->value.asn1_string->data);
	}
	if ((t = mk_get_attr(si, MK_OID_STATUS)) != NULL) {
		r->attr_types_printable &= t->type == V_ASN1_PRINTABLESTRING;
		r->status = atoi((char *)t->value.asn1_string->data);
	}
	if ((t = mk_get_attr(si, MK_OID_FAILINFO)) != NULL) {
		r->attr_types_printable &= t->type == V_ASN1_PRINTABLESTRING;
		r->failinfo = atoi((char *)t->value.asn1_string->data);
	}
	if ((t = mk_get_attr(si, MK_OID_FAILTEXT)) != NULL && t->type == V_ASN1_UTF8STRING)
		snprintf(r->failtext, sizeof(r->failtext), "%.*s",
		    t->value.asn1_string->length, t->value.asn1_string->data);
	if ((t = mk_get_attr(si, MK_OID_RNONCE)) != NULL && t->type == V_ASN1_OCTET_STRING &&
	    t->value.octet_string->length <= 64) {
		r->rnonce_len = t->value.octet_string->length;
		memcpy(r->rnonce, t->value.octet_string->data, (size_t)r->rnonce_len);
	}
	if ((t = mk_get_attr(si, MK_OID_SNONCE)) != NULL && t->type == V_ASN1_OCTET_STRING &&
	    t->value.octet_string->length <= 64) {
		r->snonce_len = t->value.octet_string->length;
		memcpy(r->snonce, t->value.octet_string->data, (size_t)r->snonce_len);
	}
	if (r->status == 0) {
		n = BIO_get_mem_data(content, &data);
		p = (unsigned char *)data;
		if ((env = d2i_CMS_ContentInfo(NULL, &p, n)) == NULL)
			goto out;
		if (CMS_decrypt(env, key, cert, NULL, plain, CMS_BINARY) != 1)
			goto out;
		{
			/* Read the cipher from the envelope with the PKCS7 structures. */
			PKCS7 *e7;
			p = (unsigned char *)data;
			if ((e7 = d2i_PKCS7(NULL, &p, n)) != NULL) {
				r->cipher_nid = OBJ_obj2nid(
				    e7->d.enveloped->enc_data->algorithm->algorithm);
				PKCS7_free(e7);
			}
		}
		n = BIO_get_mem_data(plain, &data);
		p = (unsigned char *)data;
		if ((deg = d2i_PKCS7(NULL, &p, n)) == NULL || !PKCS7_type_is_signed(deg))
			goto out;
		r->certs = sk_X509_new_null();
		for (i = 0; i < sk_X509_num(deg->d.sign->cert); i++) {
			X509 *x = sk_X509_value(deg->d.sign->cert, i);
			X509_up_ref(x);
			sk_X509_push(r->certs, x);
		}
		r->crls = sk_X509_CRL_new_null();
		for (i = 0; i < sk_X509_CRL_num(deg->d.sign->crl); i++) {
			X509_CRL *c = sk_X509_CRL_value(deg->d.sign->crl, i);
			X509_CRL_up_ref(c);
			sk_X509_CRL_push(r->crls, c);
		}
	}
	rc = 1;
out:
	ERR_clear_error();
	sk_X509_free(ok);
	BIO_free(content);
	BIO_free(plain);
	BIO_free(dcont);
	PKCS7_free(deg);
	CMS_ContentInfo_free(cms);
	CMS_ContentInfo_free(env);
	return rc;
}

#endif
