/*
 * pkiMessage parsing (attributes, algorithms, recipients, inner messages) and CertRep
 * building, with messages made by OpenSSL's CMS API (tests/unit/mkmsg.h) and replies read
 * back with the CMS API.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/provider.h>

#include "unit.h"
#include "mkmsg.h"
#include "scep.h"
#include "ca.h"
#include "config.h"
#include "certrep.h"
#include "pkimsg.h"
#include "repo.h"

#define STD_DIG		(DIG_SHA1 | DIG_SHA224 | DIG_SHA256 | DIG_SHA384 | DIG_SHA512)
#define ALL_DIG		(STD_DIG | DIG_MD5)
#define STD_CIPH	(CIPH_DES3 | CIPH_AES128 | CIPH_AES192 | CIPH_AES256)
#define ALL_CIPH	(STD_CIPH | CIPH_DES)

static struct ca	*ca;
static X509		*cacert;
static EVP_PKEY		*ckey;		/* client key */
static X509		*cself;		/* client's self-signed signer */

static unsigned char *
csr_der(X509_REQ *r, size_t *len)
{
	unsigned char *d = NULL;
	int n = i2d_X509_REQ(r, &d);

	*len = (size_t)n;
	return d;
}

/* Build a PKCSReq with options O over a CSR for ckey; parse it. */
static struct pkimsg *
parse_with(struct mk_opts *o, X509_REQ *req, int legacy, struct pkimsg_err *e,
    struct pkimsg **partial)
{
	unsigned char	*inner, *msg;
	size_t		 ilen, mlen = 0;
	struct pkimsg	*m;

	inner = csr_der(req, &ilen);
	msg = mk_pkimsg(o, inner, ilen, &mlen);
	OPENSSL_free(inner);
	if (msg == NULL)
		return NULL;
	m = pkimsg_parse(msg, mlen, ca, legacy ? ALL_DIG : STD_DIG, legacy ? ALL_CIPH : STD_CIPH,
	    e, partial);
	OPENSSL_free(msg);
	return m;
}

static struct mk_opts
base_opts(void)
{
	struct mk_opts o;

	memset(&o, 0, sizeof(o));
	o.msgtype = MT_PKCSREQ;
	o.txid = "A1B2C3D4E5F60718293A4B5C6D7E8F90";
	o.recip = cacert;
	o.signer = cself;
	o.signkey = ckey;
	return o;
}

static void
test_parse(void)
{
	struct mk_opts		 o;
	struct pkimsg		*m, *partial;
	struct pkimsg_err	 e;
	X509_REQ		*req = mk_csr(ckey, "device-1", "s3cret", NULL);
	char			 fp[65];
	static const unsigned char nonce20[20] = "0123456789abcdefghij";

	/* The ordinary case: AES-128, SHA-256, self-signed signer, challenge. */
	o = base_opts();
	m = parse_with(&o, req, 0, &e, &partial);
	CHECK_MSG(m != NULL, "%s", e.text);
	if (m) {
		CHECK(m->msgtype == MT_PKCSREQ);
		CHECK(m->txid_len == 32 && memcmp(m->txid, o.txid, 32) == 0);
		CHECK(m->nonce_len == 16);
		CHECK(EVP_MD_get_type(m->md) == NID_sha256);
		CHECK(EVP_CIPHER_get_nid(m->cipher) == NID_aes_128_cbc);
		CHECK(m->signer_self_signed);
		CHECK(m->csr != NULL);
		/* Filled in by the parser: the challenge, the CSR's and the signer's keys. */
		CHECK(m->challenge != NULL && strcmp(m->challenge, "s3cret") == 0);
		CHECK(pubkey_fp(ckey, fp) && strlen(fp) == 64);
		CHECK(strcmp(m->key_fp, fp) == 0 && strcmp(m->signer_fp, fp) == 0);
	}
	pkimsg_free(m);

	/* Every allowed cipher and digest. */
	{
		const EVP_CIPHER *ciphers[] = { EVP_aes_192_cbc(), EVP_aes_256_cbc(),
		    EVP_des_ede3_cbc() };
		const EVP_MD *mds[] = { EVP_sha1(), EVP_sha224(), EVP_sha384(), EVP_sha512() };
		size_t i;

		for (i = 0; i < 3; i++) {
			o = base_opts();
			o.cipher = ciphers[i];
			o.md = mds[i];
			m = parse_with(&o, req, 0, &e, &partial);
			CHECK_MSG(m != NULL && EVP_CIPHER_get_nid(m->cipher) ==
			    EVP_CIPHER_get_nid(ciphers[i]) && EVP_MD_get_type(m->md) ==
			    EVP_MD_get_type(mds[i]), "cipher %zu: %s", i, e.text);
			pkimsg_free(m);
		}
		o = base_opts();
		o.md = mds[3];
		m = parse_with(&o, req, 0, &e, &partial);
		CHECK(m != NULL && EVP_MD_get_type(m->md) == NID_sha512);
		pkimsg_free(m);
	}

	/* Single DES: only with legacy crypto allowed; otherwise FAILURE badAlg. */
	o = base_opts();
	o.cipher = EVP_des_cbc();
	m = parse_with(&o, req, 1, &e, &partial);
	CHECK_MSG(m != NULL, "DES legacy: %s", e.text);
	pkimsg_free(m);
	m = parse_with(&o, req, 0, &e, &partial);
	CHECK(m == NULL && partial != NULL && e.have_reply_info && e.fail == FAIL_BADALG);
	pkimsg_free(partial);

	/* MD5: badAlg unless legacy. */
	o = base_opts();
	o.md = EVP_md5();
	m = parse_with(&o, req, 0, &e, &partial);
	CHECK(m == NULL && partial != NULL && e.fail == FAIL_BADALG);
	pkimsg_free(partial);

	/* RSAES-OAEP key transport (Windows) and RSASSA-PSS signature (strongSwan). */
	o = base_opts();
	o.oaep = 1;
	m = parse_with(&o, req, 0, &e, &partial);
	CHECK_MSG(m != NULL, "OAEP: %s", e.text);
	pkimsg_free(m);
	o = base_opts();
	o.pss = 1;
	m = parse_with(&o, req, 0, &e, &partial);
	CHECK_MSG(m != NULL, "PSS: %s", e.text);
	pkimsg_free(m);

	/* transactionID as UTF8String (Go), nonce of 20 bytes: accepted and kept. */
	o = base_opts();
	o.txid_type = V_ASN1_UTF8STRING;
	o.nonce = nonce20;
	o.nonce_len = 20;
	m = parse_with(&o, req, 0, &e, &partial);
	CHECK(m != NULL && m->nonce_len == 20 && memcmp(m->nonce, nonce20, 20) == 0);
	pkimsg_free(m);

	/* Several RecipientInfos (micromdm encrypts to every GetCACert cert). */
	o = base_opts();
	o.extra_recip = cself;
	m = parse_with(&o, req, 0, &e, &partial);
	CHECK_MSG(m != NULL, "two recipients: %s", e.text);
	pkimsg_free(m);

	/* Encrypted to somebody else: badMessageCheck, with reply info. */
	o = base_opts();
	o.recip = cself;
	m = parse_with(&o, req, 0, &e, &partial);
	CHECK(m == NULL && partial && e.fail == FAIL_BADMESSAGECHECK);
	pkimsg_free(partial);

	/* Broken signature: badMessageCheck. */
	o = base_opts();
	o.corrupt_sig = 1;
	m = parse_with(&o, req, 0, &e, &partial);
	CHECK(m == NULL && partial && e.fail == FAIL_BADMESSAGECHECK);
	pkimsg_free(partial);

	/* Missing or duplicate attributes: HTTP 400 (nothing to echo safely). */
	o = base_opts();
	o.dup_txid = 1;
	m = parse_with(&o, req, 0, &e, &partial);
	CHECK(m == NULL && partial == NULL && !e.have_reply_info);
	o = base_opts();
	o.txid = NULL;
	m = parse_with(&o, req, 0, &e, &partial);
	CHECK(m == NULL && partial == NULL);
	o = base_opts();
	o.omit_nonce = 1;
	m = parse_with(&o, req, 0, &e, &partial);
	CHECK(m == NULL && partial == NULL);
	o = base_opts();
	o.omit_msgtype = 1;
	m = parse_with(&o, req, 0, &e, &partial);
	CHECK(m == NULL && partial == NULL);

	/* Unknown and legacy message types: FAILURE badRequest. */
	o = base_opts();
	o.msgtype = 99;
	m = parse_with(&o, req, 0, &e, &partial);
	CHECK(m == NULL && partial && e.fail == FAIL_BADREQUEST);
	pkimsg_free(partial);
	o.msgtype = MT_UPDATEREQ;
	m = parse_with(&o, req, 0, &e, &partial);
	CHECK(m == NULL && partial && e.fail == FAIL_BADREQUEST);
	pkimsg_free(partial);

	X509_REQ_free(req);
}

static void
test_bad_inputs(void)
{
	struct mk_opts		 o = base_opts();
	struct pkimsg		*m, *partial;
	struct pkimsg_err	 e;
	X509_REQ		*req = mk_csr(ckey, "device-2", NULL, NULL);
	unsigned char		*inner, *msg, *big;
	size_t			 ilen, mlen = 0, i;

	inner = csr_der(req, &ilen);
	msg = mk_pkimsg(&o, inner, ilen, &mlen);
	/* Truncations at many places and trailing bytes: never accepted, never a crash. */
	for (i = 0; i < mlen; i += 37) {
		m = pkimsg_parse(msg, i, ca, STD_DIG, STD_CIPH, &e, &partial);
		CHECK(m == NULL);
		pkimsg_free(partial);
	}
	big = malloc(mlen + 1);
	memcpy(big, msg, mlen);
	big[mlen] = 0;
	m = pkimsg_parse(big, mlen + 1, ca, STD_DIG, STD_CIPH, &e, &partial);
	CHECK(m == NULL && partial == NULL);
	/* Bit flips all over: parse must fail or succeed cleanly (ASan watches). */
	for (i = 0; i < mlen; i += 13) {
		memcpy(big, msg, mlen);
		big[i] ^= 0x5a;
		m = pkimsg_parse(big, mlen, ca, STD_DIG, STD_CIPH, &e, &partial);
		pkimsg_free(m);
		pkimsg_free(partial);
	}
	CHECK(1);
	free(big);
	OPENSSL_free(msg);
	OPENSSL_free(inner);

	/* A CSR whose self-signature is broken: badMessageCheck. */
	{
		const ASN1_BIT_STRING *sig;
		X509_REQ_get0_signature(req, &sig, NULL);
		((ASN1_BIT_STRING *)sig)->data[10] ^= 1;
		m = parse_with(&o, req, 0, &e, &partial);
		CHECK(m == NULL && partial && e.fail == FAIL_BADMESSAGECHECK);
		pkimsg_free(partial);
	}
	/* messageData that is not a CSR. */
	msg = mk_pkimsg(&o, (const unsigned char *)"\x30\x03\x02\x01\x01", 5, &mlen);
	m = pkimsg_parse(msg, mlen, ca, STD_DIG, STD_CIPH, &e, &partial);
	CHECK(m == NULL && partial && e.fail == FAIL_BADREQUEST);
	pkimsg_free(partial);
	OPENSSL_free(msg);
	X509_REQ_free(req);
}

static void
test_inner_types(void)
{
	struct mk_opts		 o = base_opts();
	struct pkimsg		*m, *partial;
	struct pkimsg_err	 e;
	unsigned char		*der = NULL, *msg, *p;
	size_t			 mlen = 0;
	int			 n;
	X509_NAME		*subj = X509_NAME_new();
	PKCS7_ISSUER_AND_SERIAL	*ias = PKCS7_ISSUER_AND_SERIAL_new();

	/* CertPoll: IssuerAndSubject = SEQUENCE { Name, Name } built by hand. */
	X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (unsigned char *)"device-1", -1,
	    -1, 0);
	{
		unsigned char	*a = NULL, *b = NULL;
		int		 la = i2d_X509_NAME(X509_get_subject_name(cacert), &a);
		int		 lb = i2d_X509_NAME(subj, &b);

		n = ASN1_object_size(1, la + lb, V_ASN1_SEQUENCE);
		der = p = OPENSSL_malloc((size_t)n);
		ASN1_put_object(&p, 1, la + lb, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
		memcpy(p, a, (size_t)la);
		memcpy(p + la, b, (size_t)lb);
		OPENSSL_free(a);
		OPENSSL_free(b);
	}
	o.msgtype = MT_CERTPOLL;
	msg = mk_pkimsg(&o, der, (size_t)n, &mlen);
	m = pkimsg_parse(msg, mlen, ca, STD_DIG, STD_CIPH, &e, &partial);
	CHECK_MSG(m != NULL && m->poll_subject &&
	    X509_NAME_cmp(m->poll_subject, subj) == 0 &&
	    X509_NAME_cmp(m->poll_issuer, X509_get_subject_name(cacert)) == 0, "%s", e.text);
	pkimsg_free(m);
	OPENSSL_free(msg);
	OPENSSL_free(der);

	/* GetCert: IssuerAndSerialNumber. */
	X509_NAME_set(&ias->issuer, X509_get_subject_name(cacert));
	ASN1_INTEGER_set(ias->serial, 0x1234);
	der = NULL;
	n = i2d_PKCS7_ISSUER_AND_SERIAL(ias, &der);
	o.msgtype = MT_GETCERT;
	msg = mk_pkimsg(&o, der, (size_t)n, &mlen);
	m = pkimsg_parse(msg, mlen, ca, STD_DIG, STD_CIPH, &e, &partial);
	CHECK(m != NULL && m->ias_serial && ASN1_INTEGER_get(m->ias_serial) == 0x1234);
	pkimsg_free(m);
	OPENSSL_free(msg);
	OPENSSL_free(der);
	X509_NAME_free(subj);
	PKCS7_ISSUER_AND_SERIAL_free(ias);
}

static void
test_certrep(void)
{
	struct mk_opts		 o = base_opts();
	struct pkimsg		*m, *partial;
	struct pkimsg_err	 e;
	struct certrep		 rep;
	struct mk_reply		 rr;
	unsigned char		*der = NULL;
	size_t			 len = 0;
	X509_REQ		*req = mk_csr(ckey, "device-3", NULL, NULL);
	EVP_PKEY		*k2 = mk_rsa(2048);
	X509			*leaf = mk_selfsigned(k2, "issued-leaf-with-a-long-name");

	o.md = EVP_sha512();
	o.cipher = EVP_des_ede3_cbc();
	m = parse_with(&o, req, 0, &e, &partial);
	CHECK(m != NULL);
	if (m == NULL)
		goto out;

	/* PENDING */
	memset(&rep, 0, sizeof(rep));
	rep.status = PKI_PENDING;
	CHECK(certrep_build(m, &rep, ca, &der, &len));
	CHECK(mk_read_reply(der, len, cacert, cself, ckey, &rr));
	CHECK(rr.status == 3 && rr.msgtype == 3 && rr.attr_types_printable);
	CHECK(strcmp(rr.txid, o.txid) == 0);
	CHECK(rr.rnonce_len == (int)m->nonce_len && memcmp(rr.rnonce, m->nonce, m->nonce_len) == 0);
	CHECK(rr.snonce_len == 16 && memcmp(rr.snonce, m->nonce, 16) != 0);
	CHECK(rr.sig_alg_rsaenc);
	CHECK(rr.digest_nid == NID_sha512);
	mk_reply_free(&rr);
	OPENSSL_free(der);

	/* FAILURE with failInfo and failInfoText */
	memset(&rep, 0, sizeof(rep));
	rep.status = PKI_FAILURE;
	rep.fail = FAIL_BADCERTID;
	rep.fail_text = "no such transaction";
	CHECK(certrep_build(m, &rep, ca, &der, &len));
	CHECK(mk_read_reply(der, len, cacert, cself, ckey, &rr));
	CHECK(rr.status == 2 && rr.failinfo == 4 && strcmp(rr.failtext, "no such transaction") == 0);
	CHECK(rr.attr_types_printable);
	mk_reply_free(&rr);
	OPENSSL_free(der);

	/* SUCCESS: issued cert first, then the CA; cipher mirrored; decrypts with the signer. */
	memset(&rep, 0, sizeof(rep));
	rep.status = PKI_SUCCESS;
	rep.certs = sk_X509_new_null();
	sk_X509_push(rep.certs, leaf);
	sk_X509_push(rep.certs, cacert);
	CHECK(certrep_build(m, &rep, ca, &der, &len));
	CHECK(mk_read_reply(der, len, cacert, cself, ckey, &rr));
	CHECK(rr.status == 0);
	CHECK(rr.cipher_nid == NID_des_ede3_cbc);
	CHECK(rr.certs != NULL && sk_X509_num(rr.certs) == 2 &&
	    X509_cmp(sk_X509_value(rr.certs, 0), leaf) == 0 &&
	    X509_cmp(sk_X509_value(rr.certs, 1), cacert) == 0);
	mk_reply_free(&rr);
	sk_X509_free(rep.certs);
	OPENSSL_free(der);
out:
	pkimsg_free(m);
	X509_REQ_free(req);
	X509_free(leaf);
	EVP_PKEY_free(k2);
}

static void
test_challenge_types(void)
{
	X509_REQ	*r = X509_REQ_new();
	char		*c;

	/* BMPString challenge (Windows) becomes UTF-8. */
	X509_REQ_add1_attr_by_NID(r, NID_pkcs9_challengePassword, V_ASN1_BMPSTRING,
	    (const unsigned char *)"\0p\0w", 4);
	c = csr_challenge(r);
	CHECK(c != NULL && strcmp(c, "pw") == 0);
	free(c);
	X509_REQ_free(r);
	r = X509_REQ_new();
	CHECK(csr_challenge(r) == NULL);
	X509_REQ_free(r);
}

int
main(void)
{
	char	 dir[] = "/tmp/test_pkimsg.XXXXXX", err[256], cmd[300];

	OSSL_PROVIDER *legacy = OSSL_PROVIDER_load(NULL, "legacy");
	OSSL_PROVIDER *deflt = OSSL_PROVIDER_load(NULL, "default");

	log_init("test_pkimsg", 0, LOG_LVL_ERR);
	CHECK(scep_oids_init());
	if (mkdtemp(dir) == NULL)
		return 1;
	CHECK(repo_create(dir, err, sizeof(err)));
	CHECK_MSG(ca_init(dir, "/CN=Unit Test CA/O=Test", 2048, 30, NULL, NULL, err, sizeof(err)), "%s", err);
	ca = ca_load(dir, NULL, err, sizeof(err));
	CHECK_MSG(ca != NULL, "%s", err);
	if (ca == NULL)
		return unit_done("pkimsg");
	cacert = ca_cert(ca);
	ckey = mk_rsa(2048);
	cself = mk_selfsigned(ckey, "SCEP SIGNER");

	test_parse();
	test_bad_inputs();
	test_inner_types();
	test_certrep();
	test_challenge_types();

	X509_free(cself);
	EVP_PKEY_free(ckey);
	ca_free(ca);
	OSSL_PROVIDER_unload(legacy);
	OSSL_PROVIDER_unload(deflt);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return unit_done("pkimsg");
}
