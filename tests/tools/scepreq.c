/*
 * scepreq: build SCEP pkiMessages and read CertReps, for the integration tests (with curl)
 * and for crafting bad input on purpose. Test code only; it shares tests/unit/mkmsg.h
 * with the unit tests and nothing with the server.
 *
 *   scepreq build -c CA.pem -k KEY.pem [-n CN] [-p CHALLENGE] [-x TXID] [-t TYPE]
 *                 [-e CIPHER] [-d DIGEST] [-S SIGNER.pem -K SIGNERKEY.pem] [--oaep]
 *                 [--pss] [--corrupt-sig] [--serial HEX] [-L SELF.pem] [--org O]
 *                 [--san DNS] [--template NAME] [--role NAME] -o OUT.der
 *       TYPE 19 (default) or 17 carry a CSR for KEY, 20 an IssuerAndSubject,
 *       21/22 an IssuerAndSerialNumber (--serial). Without -S the signer is a self-signed
 *       certificate for KEY (written to -L when given, reused when -L exists).
 *   scepreq read -c CA.pem -k KEY.pem -S SIGNER.pem [-w CERT.pem] [--crl CRL.pem] REPLY.der
 *       prints "status=N failinfo=N text=..." and exits 0 if the reply verifies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/provider.h>

#include "mkmsg.h"

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

static EVP_PKEY *
load_key(const char *path)
{
	FILE		*f = fopen(path, "r");
	EVP_PKEY	*k;

	if (f == NULL)
		return NULL;
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

static int
write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(buf, 1, len, f) != len) {
		if (f)
			fclose(f);
		return 0;
	}
	return fclose(f) == 0;
}

static unsigned char *
read_file(const char *path, size_t *len)
{
	FILE		*f = fopen(path, "rb");
	unsigned char	*buf;
	long		 n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void
usage(void)
{
	fprintf(stderr, "usage: scepreq build|read ... (see the comment in scepreq.c)\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	const char	*ca = NULL, *key = NULL, *cn = "scepreq-test", *pw = NULL, *txid = NULL;
	const char	*signer = NULL, *signkey = NULL, *out = NULL, *self = NULL, *wcert = NULL;
	const char	*serial = "01", *wcrl = NULL, *cipher = "aes-128-cbc", *digest = "sha256";
	const char	*san = NULL, *org = NULL, *tmpl = NULL, *role = NULL;
	struct mk_opts	 o;
	X509		*cacert, *scert = NULL;
	EVP_PKEY	*k, *sk = NULL;
	unsigned char	*inner = NULL, *msg;
	size_t		 ilen = 0, mlen = 0;
	int		 i, type = 19, build, n;

	if (argc < 2)
		usage();
	OSSL_PROVIDER_load(NULL, "legacy");
	OSSL_PROVIDER_load(NULL, "default");
	build = strcmp(argv[1], "build") == 0;
	if (!build && strcmp(argv[1], "read") != 0)
		usage();
	memset(&o, 0, sizeof(o));
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

#define ARG(flag, var) if (strcmp(a, flag) == 0 && v) { var = v; i++; continue; }
		ARG("-c", ca) ARG("-k", key) ARG("-n", cn) ARG("-p", pw) ARG("-x", txid)
		ARG("-S", signer) ARG("-K", signkey) ARG("-o", out) ARG("-L", self)
		ARG("-w", wcert) ARG("--serial", serial) ARG("--crl", wcrl)
		ARG("-e", cipher) ARG("-d", digest) ARG("--san", san) ARG("--org", org)
		ARG("--template", tmpl) ARG("--role", role)
		if (strcmp(a, "-t") == 0 && v) { type = atoi(v); i++; continue; }
		if (strcmp(a, "--oaep") == 0) { o.oaep = 1; continue; }
		if (strcmp(a, "--pss") == 0) { o.pss = 1; continue; }
		if (strcmp(a, "--corrupt-sig") == 0) { o.corrupt_sig = 1; continue; }
		if (!build && a[0] != '-' && out == NULL) { out = a; continue; }
		usage();
	}
	if (ca == NULL || key == NULL || out == NULL)
		usage();
	if ((cacert = load_cert(ca)) == NULL || (k = load_key(key)) == NULL) {
		fprintf(stderr, "scepreq: cannot read %s or %s\n", ca, key);
		return 1;
	}
	if (signer != NULL) {
		scert = load_cert(signer);
		sk = signkey ? load_key(signkey) : (EVP_PKEY_up_ref(k), k);
	} else if (self != NULL && (scert = load_cert(self)) != NULL) {
		sk = (EVP_PKEY_up_ref(k), k);
	} else {
		scert = mk_selfsigned(k, cn);
		sk = (EVP_PKEY_up_ref(k), k);
		if (self != NULL) {
			FILE *f = fopen(self, "w");
			if (f) {
				PEM_write_X509(f, scert);
				fclose(f);
			}
		}
	}
	if (scert == NULL || sk == NULL) {
		fprintf(stderr, "scepreq: no signer\n");
		return 1;
	}

	if (!build) {
		struct mk_reply r;
		unsigned char *der = read_file(out, &mlen);

		if (der == NULL || !mk_read_reply(der, mlen, cacert, scert, k, &r)) {
			fprintf(stderr, "scepreq: reply does not verify or decrypt\n");
			return 1;
		}
		printf("status=%d failinfo=%d msgtype=%d digest=%s cipher=%s rsaenc=%d "
		    "printable=%d rnonce=%d snonce=%d txid=%s certs=%d crls=%d text=%s\n",
		    r.status, r.failinfo, r.msgtype, OBJ_nid2sn(r.digest_nid),
		    r.cipher_nid ? OBJ_nid2sn(r.cipher_nid) : "-", r.sig_alg_rsaenc,
		    r.attr_types_printable, r.rnonce_len, r.snonce_len, r.txid,
		    r.certs ? sk_X509_num(r.certs) : 0, r.crls ? sk_X509_CRL_num(r.crls) : 0,
		    r.failtext);
		if (wcert && r.certs && sk_X509_num(r.certs) > 0) {
			FILE *f = fopen(wcert, "w");
			if (f) {
				PEM_write_X509(f, sk_X509_value(r.certs, 0));
				fclose(f);
			}
		}
		if (wcrl && r.crls && sk_X509_CRL_num(r.crls) > 0) {
			FILE *f = fopen(wcrl, "w");
			if (f) {
				PEM_write_X509_CRL(f, sk_X509_CRL_value(r.crls, 0));
				fclose(f);
			}
		}
		return 0;
	}

	o.msgtype = type;
	o.txid = txid ? txid : "0123456789ABCDEF0123456789ABCDEF";
	o.recip = cacert;
	o.signer = scert;
	o.signkey = sk;
	if ((o.cipher = EVP_get_cipherbyname(cipher)) == NULL ||
	    (o.md = EVP_get_digestbyname(digest)) == NULL) {
		fprintf(stderr, "scepreq: unknown cipher or digest\n");
		return 2;
	}
	if (type == 19 || type == 17 || type == 18) {
		struct mk_csr_opts co = { .cn = cn, .org = org, .challenge = pw, .san_dns = san,
		    .template_name = tmpl, .role = role };
		X509_REQ *req = mk_csr_ex(k, &co);
		n = i2d_X509_REQ(req, &inner);
		X509_REQ_free(req);
	} else if (type == 20) {
		unsigned char *a = NULL, *b = NULL, *p;
		X509_REQ *req = mk_csr(k, cn, NULL, NULL);
		int la = i2d_X509_NAME(X509_get_subject_name(cacert), &a);
		int lb = i2d_X509_NAME(X509_REQ_get_subject_name(req), &b);

		n = ASN1_object_size(1, la + lb, V_ASN1_SEQUENCE);
		inner = p = OPENSSL_malloc((size_t)n);
		ASN1_put_object(&p, 1, la + lb, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
		memcpy(p, a, (size_t)la);
		memcpy(p + la, b, (size_t)lb);
		OPENSSL_free(a);
		OPENSSL_free(b);
		X509_REQ_free(req);
	} else {
		PKCS7_ISSUER_AND_SERIAL *ias = PKCS7_ISSUER_AND_SERIAL_new();
		BIGNUM *bn = NULL;

		X509_NAME_set(&ias->issuer, X509_get_subject_name(cacert));
		BN_hex2bn(&bn, serial);
		BN_to_ASN1_INTEGER(bn, ias->serial);
		n = i2d_PKCS7_ISSUER_AND_SERIAL(ias, &inner);
		BN_free(bn);
		PKCS7_ISSUER_AND_SERIAL_free(ias);
	}
	if (n <= 0)
		return 1;
	ilen = (size_t)n;
	if ((msg = mk_pkimsg(&o, inner, ilen, &mlen)) == NULL || !write_file(out, msg, mlen)) {
		fprintf(stderr, "scepreq: cannot build or write the message\n");
		return 1;
	}
	OPENSSL_free(msg);
	OPENSSL_free(inner);
	return 0;
}
