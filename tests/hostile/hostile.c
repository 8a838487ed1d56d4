/*
 * hostile: the hostile-input corpus of the SCEP server. Test code only: it
 * builds messages with OpenSSL's CMS API (and tests/unit/mkmsg.h), never with the
 * server's code.
 *
 *   hostile gen CA.pem OUTDIR
 *       Write every case of tests/hostile/expected.tsv into OUTDIR:
 *         NAME.body   POST body (may be empty)        NAME.query  QUERY_STRING
 *         NAME.clen   CONTENT_LENGTH to send, when it is not the body size ("-" = unset)
 *         NAME.key    client key, NAME.signer  the certificate the request is signed
 *                     with (the CertRep is encrypted to it)
 *         NAME.meta   "txid HEX" and "nonce HEX" lines: what the CertRep must echo
 *         NAME.msg    the pkiMessage itself (also for GET cases): fuzzing seeds
 *   hostile check CA.pem DIR NAME REPLY.der [CERT.pem]
 *       Read a CertRep for case NAME: signed by CA.pem alone (no other signer accepted),
 *       messageType 3, transactionID and recipientNonce byte-equal to the request's,
 *       senderNonce present; SUCCESS payload decrypted with NAME.key and its first
 *       certificate written to CERT.pem. Prints "pki=SUCCESS|PENDING|FAILURE/<failInfo>"
 *       and exits 0 if the reply is well formed, 1 otherwise.
 *   hostile reqinfo REQUEST.der PREFIX
 *       From a captured pkiMessage write PREFIX.meta and PREFIX.signer for `check`.
 *   hostile ber IN.der OUT.der
 *       Re-encode a DER pkiMessage with indefinite lengths (Bouncy Castle/Apple style),
 *       signed bytes untouched.
 *   hostile getq IN.der std|sscep|urlsafe|formdecoded OUT.query
 *       The QUERY_STRING a GET client of that flavour sends for the message.
 *   hostile split RESPONSE HEAD BODY
 *       Cut a CGI response at its blank line; prints the status code.
 *   hostile fcgi SOCKET DIR NAME METHOD
 *       Send case NAME as one FastCGI request to SOCKET; print the CGI-style response.
 *   hostile listen SOCKET PROG [ARG...]
 *       Bind a unix socket as fd 0 and exec PROG: a FastCGI worker without spawn-fcgi.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/provider.h>

#include "mkmsg.h"

#define CHALLENGE	"hostile-secret"	/* ScepChallengePassword of run.sh's configs */

static const char *outdir;
static X509 *cacert;
static X509 *other_cert;		/* a second CA-like certificate: wrong recipient */
static EVP_PKEY *other_key;
static EVP_PKEY *shared_key;		/* the 2048-bit client key of most cases */
static int ncases;

static void	die(const char *) __attribute__((noreturn));

static void
die(const char *what)
{
	fprintf(stderr, "hostile: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void
write_file(const char *name, const char *ext, const void *buf, size_t len)
{
	char	 path[4096];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s%s", outdir, name, ext);
	if ((f = fopen(path, "wb")) == NULL || (len && fwrite(buf, 1, len, f) != len) ||
	    fclose(f) != 0)
		die(path);
}

static unsigned char *
read_file(const char *path, size_t *len)
{
	FILE		*f = fopen(path, "rb");
	unsigned char	*buf = NULL;
	size_t		 cap = 0, n = 0, r;

	if (f == NULL)
		return NULL;
	do {
		if (n == cap && (buf = realloc(buf, cap = cap ? 2 * cap : 65536)) == NULL)
			die("out of memory");
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	*len = n;
	return buf;
}

static void
hex(char *dst, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(dst + 2 * i, "%02x", p[i]);
	dst[2 * n] = '\0';
}

/* ------------------------------------------------------------------ message building */

struct attr {
	const char		*oid;
	int			 type;
	const unsigned char	*data;
	int			 len;
	int			 nvalues;	/* 2: a SET with the value twice */
};

enum mutation {
	MUT_NONE, MUT_TRUNC_HALF, MUT_TRUNC_1, MUT_TRUNC_10, MUT_FLIP_TAG, MUT_FLIP_LEN,
	MUT_FLIP_ECONTENT, MUT_FLIP_TXID, MUT_TRAILING, MUT_UNSORTED
};

enum getform { GET_NONE, GET_STD, GET_SSCEP, GET_URLSAFE, GET_FORMDECODED };

/* One case. Zero means "the ordinary request" for every field. */
struct spec {
	const char	*name;
	int		 msgtype;		/* 0: 19 */
	const char	*msgtype_str;		/* overrides msgtype */
	const char	*txid;			/* 0: "hostile-NAME" */
	size_t		 txid_len;		/* 0: strlen(txid) */
	size_t		 txid_fill;		/* a transactionID of this many 'T' */
	int		 txid_type;		/* 0: PrintableString */
	int		 nonce_len;		/* 0: 16; -1: an empty OCTET STRING */
	int		 nonce_type;		/* 0: OCTET STRING */
	int		 omit_txid, omit_nonce, omit_msgtype;
	int		 dup_txid, dup_nonce, dup_msgtype, multival_txid;
	int		 extra_attr;		/* jscep's randomNonce, unknown to SCEP */
	const EVP_MD	*(*md)(void);
	const EVP_CIPHER *(*cipher)(void);
	int		 oaep, pss;
	int		 keybits;		/* 0: 2048 */
	int		 ec_key;
	int		 bad_csr_sig, empty_subject, inner_garbage, inner_trailing;
	int		 no_challenge;
	const char	*challenge;		/* 0: CHALLENGE */
	int		 wrong_recip, extra_recip;
	int		 noattr, two_signers, nocerts, econtent_enveloped, inner_not_enveloped;
	int		 corrupt_sig, ber;
	enum mutation	 mut;
	enum getform	 get;
	const char	*post_query;		/* 0: "operation=PKIOperation" */
	int		 clen_wrap;		/* CONTENT_LENGTH "-(2^64 - size)" (strtoul wraps) */
};

/* EnvelopedData (as a ContentInfo) of INNER to RECIPS, DER or BER (indefinite lengths). */
static unsigned char *
envelope(const struct spec *s, const unsigned char *inner, size_t innerlen,
    STACK_OF(X509) *recips, size_t *outlen)
{
	CMS_ContentInfo	*env;
	BIO		*in = BIO_new_mem_buf(inner, (int)innerlen), *out = BIO_new(BIO_s_mem());
	unsigned char	*ret;
	char		*data;
	long		 n;
	int		 i, fl = CMS_BINARY | CMS_PARTIAL | (s->ber ? CMS_STREAM : 0);

	env = CMS_encrypt(NULL, in, s->cipher ? s->cipher() : EVP_aes_128_cbc(), fl);
	if (env == NULL)
		die("CMS_encrypt");
	for (i = 0; i < sk_X509_num(recips); i++) {
		CMS_RecipientInfo *ri = CMS_add1_recipient_cert(env, sk_X509_value(recips, i),
		    CMS_KEY_PARAM | CMS_PARTIAL);
		EVP_PKEY_CTX *pctx;

		if (ri == NULL)
			die("CMS_add1_recipient_cert");
		if (s->oaep && (pctx = CMS_RecipientInfo_get0_pkey_ctx(ri)) != NULL)
			EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING);
	}
	if (s->ber) {
		/* Streaming output: constructed, indefinite-length encoding (Bouncy Castle). */
		if (!i2d_CMS_bio_stream(out, env, in, fl))
			die("i2d_CMS_bio_stream (envelope)");
	} else if (!CMS_final(env, in, NULL, CMS_BINARY) || !i2d_CMS_bio(out, env))
		die("CMS_final (envelope)");
	n = BIO_get_mem_data(out, &data);
	if ((ret = malloc((size_t)n)) == NULL)
		die("out of memory");
	memcpy(ret, data, (size_t)n);
	*outlen = (size_t)n;
	CMS_ContentInfo_free(env);
	BIO_free(in);
	BIO_free(out);
	return ret;
}

static void
add_attr(CMS_SignerInfo *si, const struct attr *a)
{
	ASN1_OBJECT	*o = OBJ_txt2obj(a->oid, 1);
	X509_ATTRIBUTE	*xa = X509_ATTRIBUTE_create_by_OBJ(NULL, o, a->type, a->data, a->len);

	if (xa == NULL)
		die("X509_ATTRIBUTE_create_by_OBJ");
	if (a->nvalues == 2 && !X509_ATTRIBUTE_set1_data(xa, a->type, a->data, a->len))
		die("X509_ATTRIBUTE_set1_data");
	if (!CMS_signed_add1_attr(si, xa))
		die("CMS_signed_add1_attr");
	X509_ATTRIBUTE_free(xa);
	ASN1_OBJECT_free(o);
}

/* SignedData over CONTENT signed by CERT/KEY with the attributes ATTRS. */
static unsigned char *
sign(const struct spec *s, const unsigned char *content, size_t clen, X509 *cert,
    EVP_PKEY *key, const struct attr *attrs, int nattrs, size_t *outlen)
{
	CMS_ContentInfo	*cms;
	CMS_SignerInfo	*si;
	BIO		*in = BIO_new_mem_buf(content, (int)clen), *out = BIO_new(BIO_s_mem());
	const EVP_MD	*md = s->md ? s->md() : EVP_sha256();
	unsigned char	*ret;
	char		*data;
	long		 n;
	int		 i, k, fl = CMS_BINARY | CMS_PARTIAL | (s->ber ? CMS_STREAM : 0);
	int		 sfl = CMS_PARTIAL | CMS_NOSMIMECAP | CMS_BINARY;

	if (s->noattr)
		sfl |= CMS_NOATTR;
	if (s->pss)
		sfl |= CMS_KEY_PARAM;
	if (s->nocerts)
		sfl |= CMS_NOCERTS;
	if ((cms = CMS_sign(NULL, NULL, NULL, NULL, fl)) == NULL)
		die("CMS_sign");
	if (s->econtent_enveloped &&
	    !CMS_set1_eContentType(cms, OBJ_nid2obj(NID_pkcs7_enveloped)))
		die("CMS_set1_eContentType");
	for (k = 0; k < (s->two_signers ? 2 : 1); k++) {
		if ((si = CMS_add1_signer(cms, cert, key, md, sfl | (k ? CMS_NOCERTS : 0))) ==
		    NULL)
			die("CMS_add1_signer");
		if (s->pss)
			EVP_PKEY_CTX_set_rsa_padding(CMS_SignerInfo_get0_pkey_ctx(si),
			    RSA_PKCS1_PSS_PADDING);
		for (i = 0; i < nattrs; i++)
			add_attr(si, &attrs[i]);
	}
	if (s->ber) {
		if (!i2d_CMS_bio_stream(out, cms, in, fl))
			die("i2d_CMS_bio_stream (signed)");
	} else {
		if (!CMS_final(cms, in, NULL, CMS_BINARY))
			die("CMS_final (signed)");
		if (s->corrupt_sig) {
			ASN1_OCTET_STRING *sig = CMS_SignerInfo_get0_signature(
			    sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0));

			sig->data[sig->length / 2] ^= 0x01;
		}
		if (!i2d_CMS_bio(out, cms))
			die("i2d_CMS_bio");
	}
	n = BIO_get_mem_data(out, &data);
	if ((ret = malloc((size_t)n)) == NULL)
		die("out of memory");
	memcpy(ret, data, (size_t)n);
	*outlen = (size_t)n;
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	BIO_free(out);
	return ret;
}

static unsigned char *
find(unsigned char *hay, size_t hlen, const unsigned char *needle, size_t nlen)
{
	size_t i;

	for (i = 0; nlen <= hlen && i <= hlen - nlen; i++)
		if (memcmp(hay + i, needle, nlen) == 0)
			return hay + i;
	return NULL;
}

static unsigned char *
rfind(unsigned char *hay, size_t hlen, const unsigned char *needle, size_t nlen)
{
	size_t i;

	for (i = hlen - nlen + 1; nlen <= hlen && i-- > 0; )
		if (memcmp(hay + i, needle, nlen) == 0)
			return hay + i;
	return NULL;
}

/*
 * Re-order the signed attributes of DER's only SignerInfo (reverse the DER-sorted order)
 * and re-sign them, in place: legacy clients send unsorted SET OF (scep-notes §7.2).
 */
static void
unsort_attrs(unsigned char *der, size_t len, EVP_PKEY *key, const EVP_MD *md)
{
	const unsigned char	*p = der;
	CMS_ContentInfo		*cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	CMS_SignerInfo		*si;
	ASN1_OCTET_STRING	*sig;
	unsigned char		*sorted = NULL, *rev = NULL, *tbs = NULL, *at, *newsig = NULL;
	size_t			 total = 0, off, siglen = 0, hl;
	int			 i, n, l;
	EVP_MD_CTX		*mctx = EVP_MD_CTX_new();

	if (cms == NULL)
		die("unsort: d2i");
	si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
	n = CMS_signed_get_attr_count(si);
	sorted = malloc(len);
	rev = malloc(len);
	tbs = malloc(len + 8);
	for (i = 0; i < n; i++) {
		unsigned char *q = sorted + total;

		l = i2d_X509_ATTRIBUTE(CMS_signed_get_attr(si, i), &q);
		total += (size_t)l;
	}
	off = 0;
	for (i = n - 1; i >= 0; i--) {
		unsigned char *q = rev + off;

		l = i2d_X509_ATTRIBUTE(CMS_signed_get_attr(si, i), &q);
		off += (size_t)l;
	}
	if ((at = find(der, len, sorted, total)) == NULL || memcmp(sorted, rev, total) == 0)
		die("unsort: attributes not found or already unsorted");
	memcpy(at, rev, total);
	/* The signature covers the attributes as a SET (tag 0x31), in the order sent. */
	hl = 0;
	tbs[hl++] = 0x31;
	if (total < 128)
		tbs[hl++] = (unsigned char)total;
	else if (total < 256) {
		tbs[hl++] = 0x81;
		tbs[hl++] = (unsigned char)total;
	} else {
		tbs[hl++] = 0x82;
		tbs[hl++] = (unsigned char)(total >> 8);
		tbs[hl++] = (unsigned char)total;
	}
	memcpy(tbs + hl, rev, total);
	sig = CMS_SignerInfo_get0_signature(si);
	if (EVP_DigestSignInit(mctx, NULL, md, NULL, key) != 1 ||
	    EVP_DigestSign(mctx, NULL, &siglen, tbs, hl + total) != 1 ||
	    (newsig = malloc(siglen)) == NULL ||
	    EVP_DigestSign(mctx, newsig, &siglen, tbs, hl + total) != 1 ||
	    siglen != (size_t)sig->length)
		die("unsort: re-sign");
	if ((at = find(der, len, sig->data, (size_t)sig->length)) == NULL)
		die("unsort: signature not found");
	memcpy(at, newsig, siglen);
	EVP_MD_CTX_free(mctx);
	CMS_ContentInfo_free(cms);
	free(sorted);
	free(rev);
	free(tbs);
	free(newsig);
}

static void
write_pem(const char *name, const char *ext, X509 *x, EVP_PKEY *k)
{
	BIO	*b = BIO_new(BIO_s_mem());
	char	*data;
	long	 n;

	if (x != NULL)
		PEM_write_bio_X509(b, x);
	if (k != NULL)
		PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(b, &data);
	write_file(name, ext, data, (size_t)n);
	BIO_free(b);
}

static void
write_meta(const char *name, const unsigned char *txid, size_t txlen,
    const unsigned char *nonce, size_t nlen)
{
	char	*buf = malloc(2 * txlen + 2 * nlen + 64);
	char	*h1 = malloc(2 * txlen + 1), *h2 = malloc(2 * nlen + 1);

	hex(h1, txid, txlen);
	hex(h2, nonce, nlen);
	sprintf(buf, "txid %s\nnonce %s\n", h1, h2);
	write_file(name, ".meta", buf, strlen(buf));
	free(buf);
	free(h1);
	free(h2);
}

/* base64 of DER for a GET query, in the flavour of one client (scep-notes §2.4). */
static char *
get_query(const unsigned char *der, size_t len, enum getform form)
{
	int	 b64len = 4 * (((int)len + 2) / 3);
	char	*b64 = malloc((size_t)b64len + 1), *q = malloc((size_t)b64len * 4 + 64);
	size_t	 o = 0;
	int	 i;

	EVP_EncodeBlock((unsigned char *)b64, der, (int)len);
	o += (size_t)sprintf(q, form == GET_URLSAFE ? "message=" : "operation=PKIOperation&message=");
	for (i = 0; i < b64len; i++) {
		char c = b64[i];

		if (form == GET_SSCEP && i > 0 && i % 64 == 0)
			o += (size_t)sprintf(q + o, "%%0A");	/* sscep/Cisco line breaks */
		if (form == GET_URLSAFE) {		/* scepclient 2.1.0: '-' '_' */
			if (c == '+')
				c = '-';
			else if (c == '/')
				c = '_';
			q[o++] = c;
		} else if (form == GET_FORMDECODED && c == '+') {
			q[o++] = ' ';			/* a proxy form-decoded it */
		} else if (c == '+' || c == '=' || (c == '/' && form == GET_STD))
			o += (size_t)sprintf(q + o, "%%%02X", (unsigned char)c);
		else
			q[o++] = c;
	}
	if (form == GET_URLSAFE)
		o += (size_t)sprintf(q + o, "&operation=PKIOperation");	/* their order */
	q[o] = '\0';
	free(b64);
	return q;
}

static void
gen_case(const struct spec *s)
{
	EVP_PKEY	*key = NULL, *signkey = NULL;
	X509		*signer = NULL;
	X509_REQ	*req = NULL;
	STACK_OF(X509)	*recips = sk_X509_new_null();
	unsigned char	*inner = NULL, *env = NULL, *msg = NULL, nonce[1000];
	unsigned char	 txbuf[8192];
	size_t		 ilen = 0, elen = 0, mlen = 0, txlen, nlen;
	struct attr	 attrs[12];
	int		 na = 0, n, bits = s->keybits ? s->keybits : 2048, mt;
	char		 mtbuf[16], deftx[256], cn[128];
	const char	*tx, *query;

	/* Keys and the self-signed signer (sscep/strongSwan style). The CMS signer stays
	 * RSA when the requested key is EC. */
	if (s->ec_key)
		key = EVP_EC_gen("P-256");
	else if (bits == 2048 && shared_key != NULL) {
		key = shared_key;		/* key generation is the slow part */
		EVP_PKEY_up_ref(key);
	} else
		key = mk_rsa(bits);
	if (key == NULL)
		die("key generation");
	if (s->ec_key) {
		signkey = shared_key;
		EVP_PKEY_up_ref(signkey);
	} else {
		signkey = key;
		EVP_PKEY_up_ref(key);
	}
	snprintf(cn, sizeof(cn), "hostile-%s", s->name);
	signer = mk_selfsigned(signkey, cn);
	write_pem(s->name, ".key", NULL, signkey);
	write_pem(s->name, ".signer", signer, NULL);

	/* messageData */
	mt = s->msgtype ? s->msgtype : 19;
	if (s->inner_garbage) {
		static const unsigned char g[] = "this is not a PKCS#10 request";

		inner = malloc(sizeof(g));
		memcpy(inner, g, sizeof(g));
		ilen = sizeof(g);
	} else if (mt == 20) {
		unsigned char *a = NULL, *b = NULL, *p;
		int la = i2d_X509_NAME(X509_get_subject_name(cacert), &a);
		int lb = i2d_X509_NAME(X509_get_subject_name(signer), &b);

		n = ASN1_object_size(1, la + lb, V_ASN1_SEQUENCE);
		inner = p = malloc((size_t)n);
		ASN1_put_object(&p, 1, la + lb, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
		memcpy(p, a, (size_t)la);
		memcpy(p + la, b, (size_t)lb);
		ilen = (size_t)n;
		OPENSSL_free(a);
		OPENSSL_free(b);
	} else if (mt == 21 || mt == 22) {
		PKCS7_ISSUER_AND_SERIAL *ias = PKCS7_ISSUER_AND_SERIAL_new();
		unsigned char *d = NULL;

		X509_NAME_set(&ias->issuer, X509_get_subject_name(cacert));
		ASN1_INTEGER_set(ias->serial, 0x7777);
		n = i2d_PKCS7_ISSUER_AND_SERIAL(ias, &d);
		inner = malloc((size_t)n);
		memcpy(inner, d, (size_t)n);
		ilen = (size_t)n;
		OPENSSL_free(d);
		PKCS7_ISSUER_AND_SERIAL_free(ias);
	} else {
		unsigned char *d = NULL;

		req = mk_csr(key, cn, s->no_challenge ? NULL : s->challenge ? s->challenge :
		    CHALLENGE, NULL);
		if (s->empty_subject) {
			X509_NAME *empty = X509_NAME_new();

			X509_REQ_set_subject_name(req, empty);
			X509_NAME_free(empty);
			X509_REQ_sign(req, key, EVP_sha256());
		}
		n = i2d_X509_REQ(req, &d);
		if (n <= 0)
			die("i2d_X509_REQ");
		inner = malloc((size_t)n + 4);
		memcpy(inner, d, (size_t)n);
		ilen = (size_t)n;
		OPENSSL_free(d);
		if (s->bad_csr_sig)
			inner[ilen - 5] ^= 0x40;	/* inside the signature BIT STRING */
		if (s->inner_trailing) {
			memcpy(inner + ilen, "\0\0\0\0", 4);
			ilen += 4;
		}
	}

	/* pkcsPKIEnvelope */
	if (s->extra_recip)
		sk_X509_push(recips, other_cert);	/* micromdm: every GetCACert cert */
	sk_X509_push(recips, s->wrong_recip ? other_cert : cacert);
	if (s->inner_not_enveloped) {
		env = malloc(ilen);
		memcpy(env, inner, ilen);
		elen = ilen;
	} else
		env = envelope(s, inner, ilen, recips, &elen);

	/* Signed attributes */
	if (s->txid != NULL) {
		tx = s->txid;
		txlen = s->txid_len ? s->txid_len : strlen(s->txid);
	} else {
		snprintf(deftx, sizeof(deftx), "hostile-%s", s->name);
		tx = deftx;
		txlen = strlen(deftx);
	}
	if (txlen > sizeof(txbuf))
		die("txid too long");
	memcpy(txbuf, tx, txlen);
	nlen = s->nonce_len < 0 ? 0 : s->nonce_len ? (size_t)s->nonce_len : 16;
	RAND_bytes(nonce, sizeof(nonce));
	if (s->msgtype_str != NULL)
		snprintf(mtbuf, sizeof(mtbuf), "%s", s->msgtype_str);
	else
		snprintf(mtbuf, sizeof(mtbuf), "%d", mt);
	if (!s->noattr) {
		if (!s->omit_txid) {
			attrs[na++] = (struct attr){ MK_OID_TXID, s->txid_type ? s->txid_type :
			    V_ASN1_PRINTABLESTRING, txbuf, (int)txlen, s->multival_txid ? 2 : 1 };
			if (s->dup_txid)
				attrs[na++] = (struct attr){ MK_OID_TXID, V_ASN1_PRINTABLESTRING,
				    (const unsigned char *)"another-txid", 12, 1 };
		}
		if (!s->omit_msgtype) {
			attrs[na++] = (struct attr){ MK_OID_MSGTYPE, V_ASN1_PRINTABLESTRING,
			    (unsigned char *)mtbuf, (int)strlen(mtbuf), 1 };
			if (s->dup_msgtype)
				attrs[na++] = (struct attr){ MK_OID_MSGTYPE,
				    V_ASN1_PRINTABLESTRING, (const unsigned char *)"20", 2, 1 };
		}
		if (!s->omit_nonce) {
			attrs[na++] = (struct attr){ MK_OID_SNONCE, s->nonce_type ? s->nonce_type :
			    V_ASN1_OCTET_STRING, nonce, (int)nlen, 1 };
			if (s->dup_nonce)
				attrs[na++] = (struct attr){ MK_OID_SNONCE, V_ASN1_OCTET_STRING,
				    nonce + 500, 16, 1 };
		}
		if (s->extra_attr)
			attrs[na++] = (struct attr){ "1.2.840.113549.1.9.25.3", V_ASN1_OCTET_STRING,
			    nonce + 600, 16, 1 };
	}
	msg = sign(s, env, elen, signer, signkey, attrs, na, &mlen);

	/* Byte-level damage */
	switch (s->mut) {
	case MUT_TRUNC_HALF:
		mlen /= 2;
		break;
	case MUT_TRUNC_1:
		mlen -= 1;
		break;
	case MUT_TRUNC_10:
		mlen = 10;
		break;
	case MUT_FLIP_TAG:
		msg[0] ^= 0x01;
		break;
	case MUT_FLIP_LEN:
		msg[2] ^= 0x10;		/* 30 82 HH LL: the high length byte */
		break;
	case MUT_FLIP_ECONTENT: {
		unsigned char *e = find(msg, mlen, env + elen - 40, 32);

		if (e == NULL)
			die("flip: envelope not found");
		e[16] ^= 0x01;		/* ciphertext: messageDigest no longer matches */
		break;
	}
	case MUT_FLIP_TXID: {
		unsigned char *t = rfind(msg, mlen, txbuf, txlen);	/* not the signer's CN */

		if (t == NULL)
			die("flip: transactionID not found");
		t[txlen - 1] ^= 0x01;	/* the echo must carry the flipped value */
		txbuf[txlen - 1] ^= 0x01;
		break;
	}
	case MUT_TRAILING:
		msg = realloc(msg, mlen + 3);
		memcpy(msg + mlen, "\0\0\x05", 3);
		mlen += 3;
		break;
	case MUT_UNSORTED:
		unsort_attrs(msg, mlen, signkey, s->md ? s->md() : EVP_sha256());
		break;
	default:
		break;
	}

	write_meta(s->name, txbuf, txlen, nonce, nlen);
	write_file(s->name, ".msg", msg, mlen);		/* the pkiMessage, GET or POST */
	if (s->get != GET_NONE) {
		char *q = get_query(msg, mlen, s->get);

		write_file(s->name, ".query", q, strlen(q));
		write_file(s->name, ".body", "", 0);
		free(q);
	} else {
		query = s->post_query ? s->post_query : "operation=PKIOperation";
		write_file(s->name, ".query", query, strlen(query));
		write_file(s->name, ".body", msg, mlen);
		if (s->clen_wrap) {
			char cl[64];

			snprintf(cl, sizeof(cl), "-%llu", 0ULL - (unsigned long long)mlen);
			write_file(s->name, ".clen", cl, strlen(cl));
		}
	}
	ncases++;
	free(inner);
	free(env);
	free(msg);
	X509_REQ_free(req);
	X509_free(signer);
	EVP_PKEY_free(key);
	EVP_PKEY_free(signkey);
	sk_X509_free(recips);
}

/* A case made of raw HTTP input: QUERY_STRING, body, Content-Length. */
static void
raw_case(const char *name, const char *query, const void *body, size_t blen, const char *clen)
{
	write_file(name, ".query", query, strlen(query));
	write_file(name, ".body", body, blen);
	if (clen != NULL)
		write_file(name, ".clen", clen, strlen(clen));
	ncases++;
}

static const EVP_MD *md_md5(void) { return EVP_md5(); }
static const EVP_MD *md_sha1(void) { return EVP_sha1(); }
static const EVP_MD *md_sha512(void) { return EVP_sha512(); }
static const EVP_CIPHER *ci_des(void) { return EVP_des_cbc(); }
static const EVP_CIPHER *ci_des3(void) { return EVP_des_ede3_cbc(); }
static const EVP_CIPHER *ci_aes256(void) { return EVP_aes_256_cbc(); }
static const EVP_CIPHER *ci_camellia(void) { return EVP_camellia_128_cbc(); }
static const EVP_CIPHER *ci_bf(void) { return EVP_bf_cbc(); }

static const char txid_nul[] = "abc\0def/../x";
static const char txid_ctl[] = "\x01\x02\n\r\x7f\xff";
static const char txid_utf8[] = "transaction-\xc3\xa9\xe2\x82\xac";

static const struct spec specs[] = {
	/* Accepted: what real clients send (must SUCCEED). */
	{ .name = "good-baseline" },
	{ .name = "good-ber-indefinite", .ber = 1 },
	{ .name = "good-multi-recipient", .extra_recip = 1 },
	{ .name = "good-unsorted-attrs", .mut = MUT_UNSORTED },
	{ .name = "good-unknown-attr", .extra_attr = 1 },
	{ .name = "good-oaep", .oaep = 1 },
	{ .name = "good-pss", .pss = 1, .md = md_sha512 },
	{ .name = "good-des3-sha1", .cipher = ci_des3, .md = md_sha1 },
	{ .name = "good-des-legacy", .cipher = ci_des, .md = md_sha1 },
	{ .name = "good-aes256", .cipher = ci_aes256 },
	{ .name = "good-md5-legacy", .md = md_md5 },
	{ .name = "good-txid-utf8", .txid = txid_utf8, .txid_type = V_ASN1_UTF8STRING },
	{ .name = "good-txid-128", .txid_fill = 128 },
	{ .name = "good-nonce-1", .nonce_len = 1 },
	{ .name = "good-nonce-64", .nonce_len = 64 },
	{ .name = "good-no-challenge", .no_challenge = 1 },
	{ .name = "good-get-std", .get = GET_STD },
	{ .name = "good-get-sscep", .get = GET_SSCEP },
	{ .name = "good-get-urlsafe", .get = GET_URLSAFE },
	{ .name = "good-get-formdecoded", .get = GET_FORMDECODED },
	{ .name = "good-post-no-operation", .post_query = "" },
	/* transactionIDs that must never reach a path */
	{ .name = "txid-dotdot", .txid = "../../etc" },
	{ .name = "txid-abs-path", .txid = "/etc/passwd" },
	{ .name = "txid-nul", .txid = txid_nul, .txid_len = sizeof(txid_nul) - 1 },
	{ .name = "txid-control", .txid = txid_ctl, .txid_len = sizeof(txid_ctl) - 1,
	    .txid_type = V_ASN1_IA5STRING },
	{ .name = "txid-dot", .txid = "." },
	/* Refused before a CertRep can be built: HTTP 400 */
	{ .name = "trunc-half", .mut = MUT_TRUNC_HALF },
	{ .name = "trunc-1", .mut = MUT_TRUNC_1 },
	{ .name = "trunc-10", .mut = MUT_TRUNC_10 },
	{ .name = "flip-outer-tag", .mut = MUT_FLIP_TAG },
	{ .name = "flip-outer-len", .mut = MUT_FLIP_LEN },
	{ .name = "trailing-garbage", .mut = MUT_TRAILING },
	{ .name = "no-attributes", .noattr = 1 },
	{ .name = "missing-txid", .omit_txid = 1 },
	{ .name = "missing-nonce", .omit_nonce = 1 },
	{ .name = "missing-msgtype", .omit_msgtype = 1 },
	{ .name = "dup-txid", .dup_txid = 1 },
	{ .name = "dup-nonce", .dup_nonce = 1 },
	{ .name = "dup-msgtype", .dup_msgtype = 1 },
	{ .name = "multivalue-txid", .multival_txid = 1 },
	{ .name = "txid-129", .txid_fill = 129 },
	{ .name = "txid-4096", .txid_fill = 4096 },
	{ .name = "txid-empty", .txid = "", .txid_len = 0 },
	{ .name = "txid-octetstring", .txid_type = V_ASN1_OCTET_STRING },
	{ .name = "nonce-0", .nonce_len = -1 },
	{ .name = "nonce-65", .nonce_len = 65 },
	{ .name = "nonce-1000", .nonce_len = 1000 },
	{ .name = "nonce-printable", .nonce_type = V_ASN1_PRINTABLESTRING },
	{ .name = "msgtype-text", .msgtype_str = "PKCSReq" },
	{ .name = "msgtype-long", .msgtype_str = "00019" },
	{ .name = "two-signers", .two_signers = 1 },
	{ .name = "post-clen-negative-wraps", .clen_wrap = 1 },
	/* Read far enough for a CertRep: FAILURE with the right failInfo, nothing stored */
	{ .name = "wrong-signature", .corrupt_sig = 1 },
	{ .name = "flip-econtent", .mut = MUT_FLIP_ECONTENT },
	{ .name = "flip-txid", .mut = MUT_FLIP_TXID },
	{ .name = "wrong-recipient", .wrong_recip = 1 },
	{ .name = "signer-cert-missing", .nocerts = 1 },
	{ .name = "econtent-type-enveloped", .econtent_enveloped = 1 },
	{ .name = "econtent-not-enveloped", .inner_not_enveloped = 1 },
	{ .name = "csr-bad-selfsig", .bad_csr_sig = 1 },
	{ .name = "csr-garbage", .inner_garbage = 1 },
	{ .name = "csr-trailing", .inner_trailing = 1 },
	{ .name = "csr-empty-subject", .empty_subject = 1 },
	{ .name = "csr-rsa512", .keybits = 512 },
	{ .name = "csr-rsa1024", .keybits = 1024 },
	{ .name = "csr-ec-p256", .ec_key = 1 },
	{ .name = "wrong-challenge", .challenge = "not-the-secret" },
	{ .name = "md5-default", .md = md_md5 },
	{ .name = "des-disabled", .cipher = ci_des, .md = md_sha1 },
	{ .name = "md5-listed-legacy-off", .md = md_md5 },
	{ .name = "cipher-camellia", .cipher = ci_camellia },
	{ .name = "cipher-blowfish", .cipher = ci_bf },
	{ .name = "msgtype-99", .msgtype_str = "99" },
	{ .name = "msgtype-18", .msgtype = 18 },
	{ .name = "msgtype-3", .msgtype_str = "3" },
	{ .name = "msgtype-0", .msgtype_str = "0" },
	{ .name = "renewalreq-selfsigned", .msgtype = 17 },
	{ .name = "certpoll-unknown", .msgtype = 20 },
	{ .name = "getcert-unknown", .msgtype = 21 },
	{ .name = "getcrl-none", .msgtype = 22 },
};

static void
gen(void)
{
	size_t		 i;
	unsigned char	*big;
	char		*q;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct spec s = specs[i];
		char *tx = NULL;

		if (s.txid_fill > 0) {
			tx = malloc(s.txid_fill + 1);
			memset(tx, 'T', s.txid_fill);
			tx[s.txid_fill] = '\0';
			s.txid = tx;
		}
		gen_case(&s);
		free(tx);
	}

	/* HTTP-level cases */
	big = malloc(600 * 1024 + 64);
	memset(big, 'A', 600 * 1024);
	raw_case("post-oversize", "operation=PKIOperation", big, 256 * 1024 + 1, NULL);
	raw_case("post-max-garbage", "operation=PKIOperation", big, 256 * 1024, NULL);
	raw_case("post-empty", "operation=PKIOperation", "", 0, NULL);
	raw_case("post-no-content-length", "operation=PKIOperation", "0\x82", 2, "-");
	raw_case("post-clen-bad", "operation=PKIOperation", "0\x82", 2, "12abc");
	raw_case("post-clen-negative", "operation=PKIOperation", "0\x82", 2, "-1");
	raw_case("post-clen-huge", "operation=PKIOperation", "0\x82", 2,
	    "99999999999999999999999");
	raw_case("get-no-message", "operation=PKIOperation", "", 0, NULL);
	raw_case("get-empty-message", "operation=PKIOperation&message=", "", 0, NULL);
	raw_case("get-b64-garbage", "operation=PKIOperation&message=!!!*~~", "", 0, NULL);
	raw_case("get-b64-one-char", "operation=PKIOperation&message=A", "", 0, NULL);
	raw_case("get-b64-notcms", "operation=PKIOperation&message=SGVsbG8gd29ybGQh", "", 0,
	    NULL);
	raw_case("get-bad-pct", "operation=PKIOperation&message=%ZZAB", "", 0, NULL);
	raw_case("get-bad-pct-trunc", "operation=PKIOperation&message=AAAA%4", "", 0, NULL);
	raw_case("get-bad-pct-operation", "operation=%G1PKIOperation", "", 0, NULL);
	raw_case("get-unknown-operation", "operation=Frobnicate&message=x", "", 0, NULL);
	raw_case("get-no-operation", "message=abc", "", 0, NULL);
	raw_case("get-operation-nul", "operation=GetCACaps%00PKIOperation", "", 0, NULL);
	raw_case("get-many-params", "a&b&c&&&=&==&operation&message&operation=GetCACaps", "", 0,
	    NULL);
	raw_case("method-put", "operation=GetCACaps", "", 0, NULL);
	/* Near the limit of one environment string (128 KiB): base64 of zeros, not CMS */
	q = malloc(120 * 1024 + 64);
	strcpy(q, "operation=PKIOperation&message=");
	memset(q + strlen(q), 'A', 120 * 1024);
	q[31 + 120 * 1024] = '\0';
	raw_case("get-large-query", q, "", 0, NULL);
	/* Past MAX_QUERY (512 KiB); only FastCGI can carry it (execve limits a CGI env var) */
	q = realloc(q, 600 * 1024 + 64);
	strcpy(q, "operation=PKIOperation&message=");
	memset(q + strlen(q), 'A', 600 * 1024);
	q[31 + 600 * 1024] = '\0';
	raw_case("get-oversize-query", q, "", 0, NULL);
	free(q);
	free(big);
}

/* ------------------------------------------------------------------ reply checking */

static const ASN1_TYPE *
get_attr(CMS_SignerInfo *si, const char *oid, int *count)
{
	ASN1_OBJECT	*o = OBJ_txt2obj(oid, 1);
	int		 i = CMS_signed_get_attr_by_OBJ(si, o, -1), j;

	*count = 0;
	for (j = i; j >= 0; j = CMS_signed_get_attr_by_OBJ(si, o, j))
		(*count)++;
	ASN1_OBJECT_free(o);
	if (i < 0)
		return NULL;
	return X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, i), 0);
}

static int
unhex(const char *h, unsigned char *out, size_t max, size_t *len)
{
	size_t n = strlen(h) / 2, i;

	if (n > max)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned int v;

		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return 0;
		out[i] = (unsigned char)v;
	}
	*len = n;
	return 1;
}

static X509 *
load_cert(const char *path)
{
	FILE	*f = fopen(path, "r");
	X509	*x;

	if (f == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

static const char *
failname(int f)
{
	static const char *n[] = { "badAlg", "badMessageCheck", "badRequest", "badTime",
	    "badCertId" };

	return f >= 0 && f <= 4 ? n[f] : "invalid";
}

static int
check(const char *capath, const char *dir, const char *name, const char *reply,
    const char *certout)
{
	char			 path[4096], line[20000], *data;
	unsigned char		 txid[8192], nonce[2048], *der;
	size_t			 txlen = 0, nlen = 0, len;
	const unsigned char	*p;
	FILE			*f;
	X509			*ca, *signer;
	EVP_PKEY		*key = NULL;
	CMS_ContentInfo		*cms = NULL, *env = NULL;
	CMS_SignerInfo		*si;
	STACK_OF(X509)		*trusted = sk_X509_new_null();
	BIO			*content = BIO_new(BIO_s_mem()), *plain = BIO_new(BIO_s_mem());
	BIO			*dcont = NULL;
	const ASN1_TYPE		*t;
	PKCS7			*deg = NULL;
	int			 status = -1, fi = -1, cnt, ok = 1;
	long			 n;
	const char		*why = "";

	if ((ca = load_cert(capath)) == NULL)
		die("cannot read the CA certificate");
	snprintf(path, sizeof(path), "%s/%s.signer", dir, name);
	if ((signer = load_cert(path)) == NULL)
		die("cannot read the case's signer");
	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	if ((f = fopen(path, "r")) == NULL ||
	    (key = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL)
		die("cannot read the case's key");
	fclose(f);
	snprintf(path, sizeof(path), "%s/%s.meta", dir, name);
	if ((f = fopen(path, "r")) == NULL)
		die("cannot read the case's meta");
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "txid ", 5) == 0)
			unhex(line + 5, txid, sizeof(txid), &txlen);
		else if (strncmp(line, "nonce ", 6) == 0)
			unhex(line + 6, nonce, sizeof(nonce), &nlen);
	}
	fclose(f);
	if ((der = read_file(reply, &len)) == NULL)
		die("cannot read the reply");

#define BAD(w) do { ok = 0; why = (w); goto out; } while (0)
	p = der;
	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL || p != der + len)
		BAD("reply is not one CMS ContentInfo");
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed ||
	    sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)) != 1)
		BAD("reply is not a SignedData with one SignerInfo");
	si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
	if (CMS_SignerInfo_cert_cmp(si, ca) != 0)
		BAD("reply not signed by the CA certificate");
	sk_X509_push(trusted, ca);
	if (CMS_is_detached(cms))
		dcont = BIO_new_mem_buf("", 0);
	if (CMS_verify(cms, trusted, NULL, dcont, content,
	    CMS_NOINTERN | CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1)
		BAD("reply signature does not verify with the CA certificate");
	if ((t = get_attr(si, MK_OID_MSGTYPE, &cnt)) == NULL || cnt != 1 ||
	    t->type != V_ASN1_PRINTABLESTRING || t->value.asn1_string->length != 1 ||
	    t->value.asn1_string->data[0] != '3')
		BAD("messageType is not one PrintableString \"3\"");
	if ((t = get_attr(si, MK_OID_STATUS, &cnt)) == NULL || cnt != 1 ||
	    t->type != V_ASN1_PRINTABLESTRING || t->value.asn1_string->length != 1)
		BAD("pkiStatus missing or malformed");
	status = t->value.asn1_string->data[0] - '0';
	if ((t = get_attr(si, MK_OID_FAILINFO, &cnt)) != NULL) {
		if (cnt != 1 || t->type != V_ASN1_PRINTABLESTRING ||
		    t->value.asn1_string->length != 1)
			BAD("failInfo malformed");
		fi = t->value.asn1_string->data[0] - '0';
	}
	if ((status == 2) != (fi >= 0))
		BAD("failInfo present iff FAILURE violated");
	if ((t = get_attr(si, MK_OID_TXID, &cnt)) == NULL || cnt != 1 ||
	    t->type != V_ASN1_PRINTABLESTRING ||
	    (size_t)t->value.asn1_string->length != txlen ||
	    memcmp(t->value.asn1_string->data, txid, txlen) != 0)
		BAD("transactionID is not a byte-exact PrintableString echo");
	if ((t = get_attr(si, MK_OID_RNONCE, &cnt)) == NULL || cnt != 1 ||
	    t->type != V_ASN1_OCTET_STRING ||
	    (size_t)t->value.octet_string->length != nlen ||
	    memcmp(t->value.octet_string->data, nonce, nlen) != 0)
		BAD("recipientNonce is not the request's senderNonce");
	if ((t = get_attr(si, MK_OID_SNONCE, &cnt)) == NULL || cnt != 1 ||
	    t->type != V_ASN1_OCTET_STRING || t->value.octet_string->length < 8)
		BAD("senderNonce missing (certmonger and Mikrotik need it)");
	if (status == 0) {
		n = BIO_get_mem_data(content, &data);
		p = (unsigned char *)data;
		if ((env = d2i_CMS_ContentInfo(NULL, &p, n)) == NULL)
			BAD("SUCCESS payload is not CMS");
		if (CMS_decrypt(env, key, signer, NULL, plain, CMS_BINARY) != 1)
			BAD("SUCCESS payload does not decrypt with the client key");
		n = BIO_get_mem_data(plain, &data);
		p = (unsigned char *)data;
		if ((deg = d2i_PKCS7(NULL, &p, n)) == NULL || !PKCS7_type_is_signed(deg) ||
		    (sk_X509_num(deg->d.sign->cert) <= 0 &&
		    sk_X509_CRL_num(deg->d.sign->crl) <= 0))
			BAD("SUCCESS payload is not a certs-only PKCS#7 with a certificate "
			    "or CRL");
		if (certout != NULL && sk_X509_num(deg->d.sign->cert) > 0 &&
		    (f = fopen(certout, "w")) != NULL) {
			PEM_write_X509(f, sk_X509_value(deg->d.sign->cert, 0));
			fclose(f);
		} else if (certout != NULL && sk_X509_CRL_num(deg->d.sign->crl) > 0 &&
		    (f = fopen(certout, "w")) != NULL) {
			PEM_write_X509_CRL(f, sk_X509_CRL_value(deg->d.sign->crl, 0));
			fclose(f);
		}
	} else if (status != 2 && status != 3)
		BAD("pkiStatus is not 0, 2 or 3");
out:
	if (status == 0)
		printf("pki=SUCCESS");
	else if (status == 3)
		printf("pki=PENDING");
	else if (status == 2)
		printf("pki=FAILURE/%s", failname(fi));
	else
		printf("pki=?");
	printf("%s%s\n", ok ? "" : " malformed: ", why);
	ERR_clear_error();
	sk_X509_free(trusted);
	BIO_free(content);
	BIO_free(plain);
	BIO_free(dcont);
	PKCS7_free(deg);
	CMS_ContentInfo_free(cms);
	CMS_ContentInfo_free(env);
	X509_free(ca);
	X509_free(signer);
	EVP_PKEY_free(key);
	free(der);
	return ok ? 0 : 1;
}

/* ------------------------------------------------------------------ real messages */

/*
 * Write PREFIX.meta (transactionID and senderNonce of the request) and PREFIX.signer
 * (its signer certificate) for `check`, from a pkiMessage captured from a client.
 */
static int
reqinfo(const char *reqpath, const char *prefix)
{
	size_t			 len;
	unsigned char		*der = read_file(reqpath, &len);
	const unsigned char	*p = der;
	CMS_ContentInfo		*cms;
	CMS_SignerInfo		*si;
	STACK_OF(X509)		*certs;
	const ASN1_TYPE		*tx, *nonce;
	X509			*signer = NULL;
	int			 i, cnt;
	char			 path[4096];
	FILE			*f;

	if (der == NULL || (cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL)
		die("reqinfo: not CMS");
	si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
	if ((tx = get_attr(si, MK_OID_TXID, &cnt)) == NULL ||
	    (nonce = get_attr(si, MK_OID_SNONCE, &cnt)) == NULL)
		die("reqinfo: no transactionID or senderNonce");
	certs = CMS_get1_certs(cms);
	for (i = 0; i < sk_X509_num(certs); i++)
		if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(certs, i)) == 0)
			signer = sk_X509_value(certs, i);
	if (signer == NULL)
		die("reqinfo: signer certificate not in the message");
	outdir = ".";
	{
		char *h1 = malloc(2 * (size_t)tx->value.asn1_string->length + 1);
		char *h2 = malloc(2 * (size_t)nonce->value.octet_string->length + 1);

		hex(h1, tx->value.asn1_string->data, (size_t)tx->value.asn1_string->length);
		hex(h2, nonce->value.octet_string->data,
		    (size_t)nonce->value.octet_string->length);
		snprintf(path, sizeof(path), "%s.meta", prefix);
		if ((f = fopen(path, "w")) == NULL)
			die(path);
		fprintf(f, "txid %s\nnonce %s\n", h1, h2);
		fclose(f);
		free(h1);
		free(h2);
	}
	snprintf(path, sizeof(path), "%s.signer", prefix);
	if ((f = fopen(path, "w")) == NULL)
		die(path);
	PEM_write_X509(f, signer);
	fclose(f);
	sk_X509_pop_free(certs, X509_free);
	CMS_ContentInfo_free(cms);
	free(der);
	return 0;
}

/* One DER TLV at p (single-byte tag, definite length): header and content sizes. */
static int
tlv(const unsigned char *p, size_t avail, size_t *hl, size_t *cl)
{
	size_t n, i;

	if (avail < 2)
		return 0;
	if (p[1] < 0x80) {
		*hl = 2;
		*cl = p[1];
	} else {
		n = p[1] & 0x7f;
		if (n == 0 || n > 4 || avail < 2 + n)
			return 0;
		for (*cl = 0, i = 0; i < n; i++)
			*cl = *cl << 8 | p[2 + i];
		*hl = 2 + n;
	}
	return *hl + *cl <= avail;
}

static unsigned char	*bo;
static size_t		 bolen;

static void
put(const void *p, size_t n)
{
	if ((bo = realloc(bo, bolen + n)) == NULL)
		die("out of memory");
	memcpy(bo + bolen, p, n);
	bolen += n;
}

/* Emit the children of the constructed element at p, each through fn (NULL: copy). */
typedef void (*rewrite_fn)(const unsigned char *, size_t, int);

static void
indef(const unsigned char *p, size_t hl, size_t cl, rewrite_fn fn)
{
	unsigned char	 h[2] = { p[0], 0x80 };
	size_t		 off = 0, chl, ccl;
	int		 k = 0;

	put(h, 2);
	while (off < cl) {
		if (!tlv(p + hl + off, cl - off, &chl, &ccl))
			die("ber: bad TLV");
		if (fn != NULL)
			fn(p + hl + off, chl + ccl, k);
		else
			put(p + hl + off, chl + ccl);
		off += chl + ccl;
		k++;
	}
	put("\0\0", 2);
}

/* eContent OCTET STRING -> constructed OCTET STRING of 1000-byte chunks, indefinite. */
static void
rw_octets(const unsigned char *p, size_t n, int k)
{
	size_t hl, cl, off;

	(void)k;
	if (!tlv(p, n, &hl, &cl) || p[0] != 0x04)
		die("ber: eContent is not an OCTET STRING");
	put("\x24\x80", 2);
	for (off = 0; off < cl; off += 1000) {
		size_t		c = cl - off > 1000 ? 1000 : cl - off;
		unsigned char	h[4] = { 0x04, 0x82, (unsigned char)(c >> 8), (unsigned char)c };

		put(h, 4);
		put(p + hl + off, c);
	}
	put("\0\0", 2);
}

static void
rw_encap(const unsigned char *p, size_t n, int k)
{
	size_t hl, cl;

	(void)k;
	if (!tlv(p, n, &hl, &cl))
		die("ber: bad TLV");
	if (p[0] == 0xa0)
		indef(p, hl, cl, rw_octets);
	else
		put(p, n);
}

/* SignedData children: digestAlgorithms, encapContentInfo, certificates, signerInfos */
static void
rw_signeddata_child(const unsigned char *p, size_t n, int k)
{
	size_t hl, cl;

	if (!tlv(p, n, &hl, &cl))
		die("ber: bad TLV");
	if (k == 2 && p[0] == 0x30)
		indef(p, hl, cl, rw_encap);		/* encapContentInfo */
	else if (p[0] == 0x31 || p[0] == 0xa0)
		indef(p, hl, cl, NULL);		/* SETs and [0] certificates */
	else
		put(p, n);
}

static void
rw_signeddata(const unsigned char *p, size_t n, int k)
{
	size_t hl, cl;

	(void)k;
	if (!tlv(p, n, &hl, &cl) || p[0] != 0x30)
		die("ber: SignedData is not a SEQUENCE");
	indef(p, hl, cl, rw_signeddata_child);
}

static void
rw_ci_child(const unsigned char *p, size_t n, int k)
{
	size_t hl, cl;

	(void)k;
	if (!tlv(p, n, &hl, &cl))
		die("ber: bad TLV");
	if (p[0] == 0xa0)
		indef(p, hl, cl, rw_signeddata);
	else
		put(p, n);
}

/*
 * Re-encode a DER pkiMessage the way Bouncy Castle and Apple stream it: indefinite
 * lengths on ContentInfo, SignedData, its SETs, encapContentInfo and [0]s, the eContent as
 * a constructed OCTET STRING in 1000-byte chunks. Signed bytes are untouched (signedAttrs,
 * certificates, the envelope inside eContent), so the signature still verifies.
 */
static int
ber(const char *in, const char *out)
{
	size_t		 len, hl, cl;
	unsigned char	*der = read_file(in, &len);
	FILE		*f;

	if (der == NULL || !tlv(der, len, &hl, &cl) || der[0] != 0x30 || hl + cl != len)
		die("ber: input is not one DER SEQUENCE");
	indef(der, hl, cl, rw_ci_child);
	if ((f = fopen(out, "wb")) == NULL || fwrite(bo, 1, bolen, f) != bolen || fclose(f))
		die(out);
	free(der);
	return 0;
}

/* ------------------------------------------------------------------ CGI/FastCGI plumbing */

static int
split(const char *resp, const char *headout, const char *bodyout)
{
	size_t		 len, i;
	unsigned char	*r = read_file(resp, &len);
	FILE		*h, *b;
	int		 status = 0;

	if (r == NULL)
		return 1;
	for (i = 0; i + 3 < len; i++)
		if (memcmp(r + i, "\r\n\r\n", 4) == 0)
			break;
	if (i + 3 >= len) {
		printf("0\n");
		return 1;
	}
	if ((h = fopen(headout, "wb")) == NULL || (b = fopen(bodyout, "wb")) == NULL)
		return 1;
	fwrite(r, 1, i + 2, h);
	fwrite(r + i + 4, 1, len - i - 4, b);
	fclose(h);
	fclose(b);
	if (len > 8 && memcmp(r, "Status: ", 8) == 0)
		status = atoi((char *)r + 8);
	printf("%d\n", status);
	free(r);
	return 0;
}

/* Append FastCGI records of TYPE carrying DATA (split at 65535 bytes) to OUT. */
static void
fcgi_rec(unsigned char **out, size_t *olen, int type, const unsigned char *data, size_t len)
{
	unsigned char *p;

	do {
		size_t n = len > 65535 ? 65535 : len;

		if ((*out = realloc(*out, *olen + 8 + n)) == NULL)
			die("out of memory");
		p = *out + *olen;
		p[0] = 1;
		p[1] = (unsigned char)type;
		p[2] = 0;
		p[3] = 1;
		p[4] = (unsigned char)(n >> 8);
		p[5] = (unsigned char)n;
		p[6] = p[7] = 0;
		if (n)
			memcpy(p + 8, data, n);
		*olen += 8 + n;
		data += n;
		len -= n;
	} while (len > 0);
}

static size_t
fcgi_len(unsigned char *p, size_t n)
{
	if (n < 128) {
		p[0] = (unsigned char)n;
		return 1;
	}
	p[0] = (unsigned char)(0x80 | (n >> 24));
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
	return 4;
}

/*
 * One FastCGI request (role responder) carrying the case; the response goes to stdout.
 * Writes and reads are interleaved: a server that answers 413 without reading the body
 * must not deadlock the client.
 */
static int
fcgi(const char *sock, const char *dir, const char *name, const char *method)
{
	struct sockaddr_un	 sa;
	struct pollfd		 pfd;
	char			 path[4096], clen[64] = "";
	unsigned char		*query, *body, *params, *out = NULL, *in = NULL;
	static const unsigned char begin[8] = { 0, 1, 0, 0, 0, 0, 0, 0 };
	size_t			 qlen, blen, plen = 0, olen = 0, off = 0, ilen = 0, icap = 0;
	size_t			 pos, cl, i, vlens[5];
	int			 fd, have_clen = 1, done = 0, wdone = 0;
	const char		*names[5] = { "REQUEST_METHOD", "QUERY_STRING", "REMOTE_ADDR",
	    "SCRIPT_NAME", "CONTENT_LENGTH" };
	const unsigned char	*vals[5];

	signal(SIGPIPE, SIG_IGN);
	snprintf(path, sizeof(path), "%s/%s.query", dir, name);
	if ((query = read_file(path, &qlen)) == NULL)
		die("fcgi: no query");
	snprintf(path, sizeof(path), "%s/%s.body", dir, name);
	if ((body = read_file(path, &blen)) == NULL)
		die("fcgi: no body");
	snprintf(path, sizeof(path), "%s/%s.clen", dir, name);
	{
		size_t l;
		unsigned char *c = read_file(path, &l);

		if (c != NULL) {
			snprintf(clen, sizeof(clen), "%.*s", (int)l, c);
			have_clen = strcmp(clen, "-") != 0;
			free(c);
		} else if (strcmp(method, "POST") == 0)
			snprintf(clen, sizeof(clen), "%zu", blen);
		else
			have_clen = 0;
	}
	vals[0] = (const unsigned char *)method; vlens[0] = strlen(method);
	vals[1] = query; vlens[1] = qlen;
	vals[2] = (const unsigned char *)"127.0.0.1"; vlens[2] = 9;
	vals[3] = (const unsigned char *)"/scep"; vlens[3] = 5;
	vals[4] = (const unsigned char *)clen; vlens[4] = strlen(clen);
	params = malloc(qlen + 1024);
	for (i = 0; i < (have_clen ? 5u : 4u); i++) {
		plen += fcgi_len(params + plen, strlen(names[i]));
		plen += fcgi_len(params + plen, vlens[i]);
		memcpy(params + plen, names[i], strlen(names[i]));
		plen += strlen(names[i]);
		memcpy(params + plen, vals[i], vlens[i]);
		plen += vlens[i];
	}
	fcgi_rec(&out, &olen, 1, begin, 8);		/* BEGIN_REQUEST, responder */
	fcgi_rec(&out, &olen, 4, params, plen);		/* PARAMS */
	fcgi_rec(&out, &olen, 4, NULL, 0);
	fcgi_rec(&out, &olen, 5, body, blen);		/* STDIN */
	if (blen)
		fcgi_rec(&out, &olen, 5, NULL, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("fcgi: connect");
	while (!done) {
		ssize_t n;

		pfd.fd = fd;
		pfd.events = POLLIN | (wdone ? 0 : POLLOUT);
		if (poll(&pfd, 1, 60000) <= 0)
			die("fcgi: timeout");
		if (!wdone && (pfd.revents & POLLOUT)) {
			n = write(fd, out + off, olen - off);
			if (n < 0)
				wdone = 1;		/* the server stopped reading */
			else if ((off += (size_t)n) == olen)
				wdone = 1;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			if (ilen + 65536 > icap && (in = realloc(in, icap += 262144)) == NULL)
				die("out of memory");
			if ((n = read(fd, in + ilen, 65536)) <= 0)
				break;
			ilen += (size_t)n;
			/* complete records: STDOUT to stdout, STDERR to stderr, END_REQUEST */
			for (pos = 0; pos + 8 <= ilen; ) {
				cl = (size_t)in[pos + 4] << 8 | in[pos + 5];
				if (pos + 8 + cl + in[pos + 6] > ilen)
					break;
				if (in[pos + 1] == 6)
					fwrite(in + pos + 8, 1, cl, stdout);
				else if (in[pos + 1] == 7)
					fwrite(in + pos + 8, 1, cl, stderr);
				else if (in[pos + 1] == 3)
					done = 1;
				pos += 8 + cl + in[pos + 6];
			}
			memmove(in, in + pos, ilen - pos);
			ilen -= pos;
		}
	}
	close(fd);
	free(query);
	free(body);
	free(params);
	free(out);
	free(in);
	if (!done) {
		fprintf(stderr, "hostile: fcgi: connection closed before END_REQUEST\n");
		return 1;
	}
	return 0;
}

static int
listen_exec(const char *sock, char **argv)
{
	struct sockaddr_un	 sa;
	int			 fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	unlink(sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0)
		die("listen: socket");
	if (fd != 0) {
		if (dup2(fd, 0) < 0)
			die("listen: dup2");
		close(fd);
	}
	execvp(argv[0], argv);
	fprintf(stderr, "hostile: exec %s: %s\n", argv[0], strerror(errno));
	return 127;
}

int
main(int argc, char *argv[])
{
	FILE *f;

	if (argc >= 4 && strcmp(argv[1], "gen") == 0) {
		OSSL_PROVIDER_load(NULL, "legacy");
		OSSL_PROVIDER_load(NULL, "default");
		if ((f = fopen(argv[2], "r")) == NULL ||
		    (cacert = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
			die("cannot read the CA certificate");
		fclose(f);
		outdir = argv[3];
		other_key = mk_rsa(2048);
		other_cert = mk_selfsigned(other_key, "Some Other CA");
		shared_key = mk_rsa(2048);
		gen();
		printf("hostile: %d cases written to %s\n", ncases, outdir);
		return 0;
	}
	if (argc >= 6 && strcmp(argv[1], "check") == 0) {
		OSSL_PROVIDER_load(NULL, "legacy");
		OSSL_PROVIDER_load(NULL, "default");
		return check(argv[2], argv[3], argv[4], argv[5], argc > 6 ? argv[6] : NULL);
	}
	if (argc == 4 && strcmp(argv[1], "reqinfo") == 0)
		return reqinfo(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "ber") == 0)
		return ber(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[1], "getq") == 0) {
		static const char *forms[] = { "", "std", "sscep", "urlsafe", "formdecoded" };
		size_t len, i;
		unsigned char *der = read_file(argv[2], &len);
		char *q;
		FILE *qf;

		for (i = 1; i < 5; i++)
			if (strcmp(argv[3], forms[i]) == 0)
				break;
		if (der == NULL || i == 5)
			die("getq: cannot read the message, or unknown form");
		q = get_query(der, len, (enum getform)i);
		if ((qf = fopen(argv[4], "w")) == NULL || fputs(q, qf) < 0 || fclose(qf) != 0)
			die(argv[4]);
		free(q);
		free(der);
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "split") == 0)
		return split(argv[2], argv[3], argv[4]);
	if (argc == 6 && strcmp(argv[1], "fcgi") == 0)
		return fcgi(argv[2], argv[3], argv[4], argv[5]);
	if (argc >= 4 && strcmp(argv[1], "listen") == 0)
		return listen_exec(argv[2], argv + 3);
	fprintf(stderr, "usage: hostile gen|check|split|fcgi|listen ... (see hostile.c)\n");
	return 2;
}
