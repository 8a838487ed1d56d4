/*
 * scepreq: build SCEP pkiMessages and read CertReps, for the integration tests (with curl)
 * and for crafting bad input on purpose. Test code only; it shares tests/unit/mkmsg.h
 * with the unit tests and nothing with the server.
 *
 *   scepreq build -c CA.pem -k KEY.pem [-n CN] [-p CHALLENGE] [-x TXID] [-t TYPE]
 *                 [-e CIPHER] [-d DIGEST] [-S SIGNER.pem -K SIGNERKEY.pem] [--oaep]
 *                 [--pss] [--corrupt-sig] [--serial HEX] [-L SELF.pem] [--org O]
 *                 [--san [TYPE:]VALUE]... [--template NAME] [--role NAME] -o OUT.der
 *       TYPE 19 (default) or 17 carry a CSR for KEY, 20 an IssuerAndSubject,
 *       21/22 an IssuerAndSerialNumber (--serial). Without -S the signer is a self-signed
 *       certificate for KEY (written to -L when given, reused when -L exists).
 *     Hostile knobs (tests/trust):
 *       --txid-hex HEX, --cn-hex HEX    transactionID / CN bytes (NUL and controls allowed)
 *       --txid-type printable|utf8|ia5|octet   string type of the transactionID
 *       --msgtype-str TEXT              messageType as this text (e.g. "PKCSReq")
 *       --dn-type printable|utf8|t61|ia5|bmp   string type of every RDN value of the CSR
 *       --ou OU                         an OU after CN and O
 *       --san TYPE:VALUE                TYPE DNS (default), email, URI, IP or UPN; repeatable
 *       --san-hex TYPE:HEX              a subjectAltName whose value is HEX (NUL allowed)
 *       --many-sans N                   N DNS names sN.many.example
 *       --csr-digest NAME               digest of the CSR's own signature (md5, sha1, ...)
 *       --challenge2 PW                 a second challengePassword attribute
 *       --challenge-twice               the challenge as one attribute with two values
 *       --pad N                         an unknown CSR attribute of N zero bytes
 *       --content-from MSG.der          sign the pkcsPKIEnvelope of another pkiMessage
 *                                       (its eContent, byte for byte) instead of a new one
 *       --raw-content FILE              sign FILE's bytes as the pkcsPKIEnvelope
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

/* HEX into a new buffer (NUL-terminated for printing); *len gets the byte count. */
static char *
unhex(const char *hex, size_t *len)
{
	size_t	 n = strlen(hex) / 2, i;
	char	*out = malloc(n + 1);
	unsigned v;

	if (out == NULL || strlen(hex) % 2)
		return NULL;
	for (i = 0; i < n; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return NULL;
		out[i] = (char)v;
	}
	out[n] = '\0';
	*len = n;
	return out;
}

static int
str_type(const char *name)
{
	if (strcmp(name, "printable") == 0) return V_ASN1_PRINTABLESTRING;
	if (strcmp(name, "utf8") == 0) return V_ASN1_UTF8STRING;
	if (strcmp(name, "t61") == 0) return V_ASN1_T61STRING;
	if (strcmp(name, "ia5") == 0) return V_ASN1_IA5STRING;
	if (strcmp(name, "bmp") == 0) return V_ASN1_BMPSTRING;
	if (strcmp(name, "octet") == 0) return V_ASN1_OCTET_STRING;
	fprintf(stderr, "scepreq: unknown string type %s\n", name);
	exit(2);
}

/* "[TYPE:]VALUE" (hex: VALUE is hex) into S. */
static void
parse_san(const char *arg, int hex, struct mk_san *s)
{
	static const struct { const char *p; int type; } t[] = {
		{ "DNS:", GEN_DNS }, { "email:", GEN_EMAIL }, { "URI:", GEN_URI },
		{ "IP:", GEN_IPADD }, { "UPN:", GEN_OTHERNAME } };
	size_t	 i;

	s->type = GEN_DNS;
	s->len = 0;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strncmp(arg, t[i].p, strlen(t[i].p)) == 0) {
			s->type = t[i].type;
			arg += strlen(t[i].p);
			break;
		}
	s->v = arg;
	if (hex && (s->v = unhex(arg, &s->len)) == NULL) {
		fprintf(stderr, "scepreq: bad hex in --san-hex\n");
		exit(2);
	}
}

/* The eContent of the pkiMessage in PATH (its pkcsPKIEnvelope), or NULL. */
static unsigned char *
econtent_of(const char *path, size_t *len)
{
	unsigned char		*der, *out = NULL;
	const unsigned char	*p;
	size_t			 dlen;
	CMS_ContentInfo		*cms;
	ASN1_OCTET_STRING	**pos;

	if ((der = read_file(path, &dlen)) == NULL)
		return NULL;
	p = der;
	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)dlen)) != NULL &&
	    (pos = CMS_get0_content(cms)) != NULL && *pos != NULL &&
	    (out = malloc((size_t)(*pos)->length)) != NULL) {
		memcpy(out, (*pos)->data, (size_t)(*pos)->length);
		*len = (size_t)(*pos)->length;
	}
	CMS_ContentInfo_free(cms);
	free(der);
	return out;
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
	const char	*org = NULL, *tmpl = NULL, *role = NULL, *ou = NULL, *csrmd = NULL;
	const char	*txidhex = NULL, *cnhex = NULL, *txtype = NULL, *mtstr = NULL;
	const char	*dntype = NULL, *pw2 = NULL, *contentfrom = NULL, *rawcontent = NULL;
	const char	*nsans_arg = NULL, *pad = NULL;
	struct mk_san	*sans = NULL;
	size_t		 txlen = 0, cnlen = 0;
	int		 nsans = 0, pwtwice = 0;
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
		ARG("-e", cipher) ARG("-d", digest) ARG("--org", org)
		ARG("--template", tmpl) ARG("--role", role) ARG("--ou", ou)
		ARG("--txid-hex", txidhex) ARG("--cn-hex", cnhex) ARG("--txid-type", txtype)
		ARG("--msgtype-str", mtstr) ARG("--dn-type", dntype) ARG("--csr-digest", csrmd)
		ARG("--challenge2", pw2) ARG("--content-from", contentfrom)
		ARG("--raw-content", rawcontent) ARG("--many-sans", nsans_arg) ARG("--pad", pad)
		if ((strcmp(a, "--san") == 0 || strcmp(a, "--san-hex") == 0) && v) {
			if ((sans = realloc(sans, sizeof(*sans) * (size_t)(nsans + 1))) == NULL)
				return 1;
			parse_san(v, a[5] == '-', &sans[nsans++]);
			i++;
			continue;
		}
		if (strcmp(a, "--challenge-twice") == 0) { pwtwice = 1; continue; }
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
	o.msgtype_str = mtstr;
	o.txid = txid ? txid : "0123456789ABCDEF0123456789ABCDEF";
	if (txidhex != NULL && (o.txid = unhex(txidhex, &txlen)) == NULL) {
		fprintf(stderr, "scepreq: bad --txid-hex\n");
		return 2;
	}
	o.txid_len = txlen;
	if (txtype != NULL)
		o.txid_type = str_type(txtype);
	if (cnhex != NULL && (cn = unhex(cnhex, &cnlen)) == NULL) {
		fprintf(stderr, "scepreq: bad --cn-hex\n");
		return 2;
	}
	if (nsans_arg != NULL) {
		int j, many = atoi(nsans_arg);

		if ((sans = realloc(sans, sizeof(*sans) * (size_t)(nsans + many))) == NULL)
			return 1;
		for (j = 0; j < many; j++) {
			char *name = malloc(32);

			snprintf(name, 32, "s%d.many.example", j);
			sans[nsans++] = (struct mk_san){ GEN_DNS, name, 0 };
		}
	}
	if (contentfrom != NULL && (o.content = econtent_of(contentfrom, &o.content_len)) == NULL) {
		fprintf(stderr, "scepreq: no eContent in %s\n", contentfrom);
		return 1;
	}
	if (rawcontent != NULL &&
	    (o.content = read_file(rawcontent, &o.content_len)) == NULL) {
		fprintf(stderr, "scepreq: cannot read %s\n", rawcontent);
		return 1;
	}
	o.recip = cacert;
	o.signer = scert;
	o.signkey = sk;
	if ((o.cipher = EVP_get_cipherbyname(cipher)) == NULL ||
	    (o.md = EVP_get_digestbyname(digest)) == NULL) {
		fprintf(stderr, "scepreq: unknown cipher or digest\n");
		return 2;
	}
	if (type == 19 || type == 17 || type == 18) {
		struct mk_csr_opts co = { .cn = cn, .cn_len = cnlen, .org = org, .ou = ou,
		    .challenge = pw, .challenge2 = pw2, .challenge_twice = pwtwice, .sans = sans,
		    .nsans = nsans, .template_name = tmpl, .role = role,
		    .pad = pad ? (size_t)atol(pad) : 0 };
		X509_REQ *req;

		if (dntype != NULL)
			co.str_type = str_type(dntype);
		if (csrmd != NULL && (co.md = EVP_get_digestbyname(csrmd)) == NULL) {
			fprintf(stderr, "scepreq: unknown digest %s\n", csrmd);
			return 2;
		}
		req = mk_csr_ex(k, &co);
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
