/*
 * The runtime CA: the only code that holds the CA and RA keys while the server runs. It
 * loads every generation, answers which certificates are ours, issues certificates, signs
 * CRLs, and does the private-key operations other modules ask for (decrypt a request's
 * envelope, sign a SCEP reply, sign a document); they get the result, never a key. Making
 * and installing CAs is ca_provision.c.
 *
 * Files under <repository>/ca/ (see ca.h): ca.pem, its key, optional chain.pem, and
 * optionally an RA (ra.pem and its key) whose key then decrypts requests and signs
 * CertReps. A key is a PEM file or lives in a PKCS#11 token: the key store (ca_key.c) opens
 * it, and from then on this file only sees an EVP_PKEY.
 * ca/old/ (the previous CA after a rollover switch) and ca/next/ (a prepared rollover) hold
 * the same file names; each directory is one "generation". SCEP key transport (RFC 8894
 * §3.1: the request's messageData is enveloped to the CA or RA) needs RSA, so every key of
 * every generation must be RSA. Issuing and CRLs always use the current CA.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "ca_internal.h"
#include "scep.h"

#define MAX_SERIAL_HEX	40		/* 20 octets, RFC 5280 §4.1.2.2 */
#define MAX_CRL_ENTRIES	10000000	/* revoked certificates in one CRL */
#define DEFAULT_KU	(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT)
#define DEFAULT_EKU	"clientAuth,serverAuth"

struct ca {
	struct ca_gen	 cur, old, next;
	int		 include_root;	/* GetCACert/GetNextCACert: certs (1) or noroot (0) */
};

/* ROOT/ca[/SUB][/NAME] into buf. 1 ok, 0 if too long. */
int
ca_gen_path(char *buf, size_t len, const char *root, const char *sub, const char *name)
{
	int	n;

	n = snprintf(buf, len, "%s/" CA_DIR "%s%s%s%s", root, sub != NULL ? "/" : "",
	    sub != NULL ? sub : "", name != NULL ? "/" : "", name != NULL ? name : "");
	return n >= 0 && (size_t)n < len;
}

/* ROOT/ca/NAME into buf. 1 ok, 0 if too long. */
int
ca_path(char *buf, size_t len, const char *root, const char *name)
{
	return ca_gen_path(buf, len, root, NULL, name);
}

/* Does PATH exist? Anything but ENOENT counts as present (opening it reports the error). */
int
ca_present(const char *path)
{
	struct stat	st;

	return lstat(path, &st) == 0 || errno != ENOENT;
}

/* Never prompt for a passphrase (a CGI has no terminal): encrypted keys are refused. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* PATH opened for reading; NULL with "cannot open PATH: <strerror>" in err. */
static BIO *
open_pem(const char *path, char *err, size_t errlen)
{
	BIO	*b;

	if ((b = BIO_new_file(path, "r")) == NULL) {
		(void)errf_sys(err, errlen, "cannot open %s", path);
		ERR_clear_error();
	}
	return b;
}

X509 *
ca_read_cert(const char *path, char *err, size_t errlen)
{
	BIO	*b = NULL;
	X509	*x = NULL;

	if ((b = open_pem(path, err, errlen)) == NULL)
		goto out;
	if ((x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) == NULL)
		errf_crypto(err, errlen, "cannot read a PEM certificate from %s", path);
out:
	BIO_free(b);
	return x;
}

/* Read up to MAX_CHAIN certificates from PATH into SK. Absent file: 1 (no chain). */
int
ca_read_chain(const char *path, STACK_OF(X509) *sk, char *err, size_t errlen)
{
	BIO		*b = NULL;
	X509		*x = NULL;
	unsigned long	 e;
	int		 ok = 0, n = 0;

	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 1;
	if ((b = open_pem(path, err, errlen)) == NULL)
		goto out;
	for (;;) {
		if ((x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) == NULL) {
			e = ERR_peek_last_error();
			if (n > 0 && ERR_GET_LIB(e) == ERR_LIB_PEM &&
			    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
				ERR_clear_error();
				break;
			}
			errf_crypto(err, errlen, "%s: cannot read certificate %d", path, n + 1);
			goto out;
		}
		if (++n > MAX_CHAIN) {
			errf(err, errlen, "%s: more than %d certificates", path, MAX_CHAIN);
			goto out;
		}
		if (!sk_X509_push(sk, x)) {
			errf_crypto(err, errlen, "out of memory");
			goto out;
		}
		x = NULL;
	}
	ok = 1;
out:
	X509_free(x);
	BIO_free(b);
	return ok;
}

/* Did ISSUER issue X: names, AKI and keyUsage (X509_check_issued) and the signature. */
int
ca_issued_by(X509 *issuer, X509 *x)
{
	EVP_PKEY	*pk;
	int		 ok;

	ERR_set_mark();
	ok = X509_check_issued(issuer, x) == X509_V_OK &&
	    (pk = X509_get0_pubkey(issuer)) != NULL && X509_verify(x, pk) == 1;
	ERR_pop_to_mark();
	return ok;
}

/* Does X carry a keyUsage extension with all of BITS? */
int
ca_has_ku(X509 *x, uint32_t bits)
{
	return (X509_get_extension_flags(x) & EXFLAG_KUSAGE) != 0 &&
	    (X509_get_key_usage(x) & bits) == bits;
}

/* Is X self-signed (names, AKI and a signature that verifies with its own key)? */
int
ca_self_signed(X509 *x)
{
	int	rc;

	ERR_set_mark();
	rc = X509_self_signed(x, 1);
	ERR_pop_to_mark();
	return rc == 1;
}

/*
 * The RA rules (RFC 8894 §2.1.2 and what clients enforce, scep-notes §4.3): an RSA key that
 * matches, an end entity, issued by CA, keyUsage digitalSignature and keyEncipherment.
 */
int
ca_check_ra(X509 *ra, EVP_PKEY *rakey, X509 *ca, const char *rapath,
    const char *keypath, const char *capath, char *err, size_t errlen)
{
	if (EVP_PKEY_get_base_id(rakey) != EVP_PKEY_RSA) {
		errf(err, errlen, "%s is not an RSA key (SCEP key transport needs RSA)",
		    keypath);
		return 0;
	}
	if (X509_check_private_key(ra, rakey) != 1) {
		ERR_clear_error();
		errf(err, errlen, "%s does not match %s", keypath, rapath);
		return 0;
	}
	if (X509_check_ca(ra) != 0) {
		errf(err, errlen, "%s is a CA certificate: an RA must be an end entity "
		    "(basicConstraints CA:FALSE)", rapath);
		return 0;
	}
	if (!ca_issued_by(ca, ra)) {
		errf(err, errlen, "%s was not issued by %s", rapath, capath);
		return 0;
	}
	if (!ca_has_ku(ra, SCEP_KU)) {
		errf(err, errlen, "%s: an RA needs keyUsage digitalSignature and "
		    "keyEncipherment (clients choose the RA by these bits)", rapath);
		return 0;
	}
	return 1;
}

/* Build g->certs = [ra, cert, chain...] and g->noroot. Takes CHAIN's certificates. */
static int
gen_bundle(struct ca_gen *g, STACK_OF(X509) *chain, const char *chainpath, char *err,
    size_t errlen)
{
	X509	*prev, *x;
	int	 n;

	if ((g->certs = sk_X509_new_null()) == NULL) {
		errf_crypto(err, errlen, "out of memory");
		return 0;
	}
	if (g->ra != NULL && (!X509_up_ref(g->ra) || !sk_X509_push(g->certs, g->ra))) {
		errf_crypto(err, errlen, "out of memory");
		return 0;
	}
	if (!X509_up_ref(g->cert) || !sk_X509_push(g->certs, g->cert)) {
		errf_crypto(err, errlen, "out of memory");
		return 0;
	}
	/* The CA, then its issuers nearest first; each must issue the one before it. */
	prev = g->cert;
	while (sk_X509_num(chain) > 0) {
		x = sk_X509_shift(chain);
		if (!sk_X509_push(g->certs, x)) {
			X509_free(x);
			errf_crypto(err, errlen, "out of memory");
			return 0;
		}
		if (X509_check_issued(x, prev) != X509_V_OK) {
			errf(err, errlen, "%s: certificate %d did not issue the one before it "
			    "(order must be nearest issuer first)", chainpath,
			    sk_X509_num(g->certs) - (g->ra != NULL ? 2 : 1));
			return 0;
		}
		prev = x;
	}
	/* Without the root: drop a self-signed top of chain.pem, never ca.pem itself. */
	if ((g->noroot = sk_X509_dup(g->certs)) == NULL) {
		errf_crypto(err, errlen, "out of memory");
		return 0;
	}
	n = sk_X509_num(g->noroot);
	if (prev != g->cert && ca_self_signed(prev))
		(void)sk_X509_delete(g->noroot, n - 1);
	return 1;
}

void
ca_gen_free(struct ca_gen *g)
{
	X509_free(g->cert);
	EVP_PKEY_free(g->key);
	X509_free(g->ra);
	EVP_PKEY_free(g->ra_key);
	sk_X509_pop_free(g->certs, X509_free);
	sk_X509_free(g->noroot);
	memset(g, 0, sizeof(*g));
}

/*
 * Load the generation in ROOT/ca[/SUB]: ca.pem (a CA), ca.key (RSA, matching), chain.pem
 * (optional, in order) and ra.pem + ra.key (optional, both or neither, ca_check_ra()).
 */
int
ca_gen_load(const char *root, const char *sub, const struct ca_keysrc *src, struct ca_gen *g,
    char *err, size_t errlen)
{
	STACK_OF(X509)	*chain = NULL;
	char		 cpath[MAX_PATH_LEN], kpath[MAX_PATH_LEN], path[MAX_PATH_LEN];
	char		 rpath[MAX_PATH_LEN], rkpath[MAX_PATH_LEN];
	int		 ok = 0, have_rc, have_rk;

	memset(g, 0, sizeof(*g));
	if (!ca_gen_path(cpath, sizeof(cpath), root, sub, CA_CERT_FILE) ||
	    !ca_gen_path(kpath, sizeof(kpath), root, sub, CA_KEY_FILE) ||
	    !ca_gen_path(path, sizeof(path), root, sub, CA_CHAIN_FILE) ||
	    !ca_gen_path(rpath, sizeof(rpath), root, sub, CA_RA_CERT_FILE) ||
	    !ca_gen_path(rkpath, sizeof(rkpath), root, sub, CA_RA_KEY_FILE)) {
		errf(err, errlen, "repository path too long");
		goto out;
	}
	if ((chain = sk_X509_new_null()) == NULL) {
		errf_crypto(err, errlen, "out of memory");
		goto out;
	}

	if ((g->cert = ca_read_cert(cpath, err, errlen)) == NULL)
		goto out;
	if (X509_check_ca(g->cert) < 1) {
		errf(err, errlen, "%s is not a CA certificate (basicConstraints CA:TRUE and "
		    "keyUsage keyCertSign needed)", cpath);
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(g->cert)) <= 0)
		logx(sub == NULL ? LOG_LVL_WARN : LOG_LVL_DEBUG, "%s has expired", cpath);

	if ((g->key = ca_key_open(kpath, src, 1, err, errlen)) == NULL)
		goto out;
	if (EVP_PKEY_get_base_id(g->key) != EVP_PKEY_RSA) {
		errf(err, errlen, "%s is not an RSA key (SCEP key transport needs RSA)", kpath);
		goto out;
	}
	if (X509_check_private_key(g->cert, g->key) != 1) {
		errf_crypto(err, errlen, "%s does not match %s", kpath, cpath);
		goto out;
	}
	if (!ca_read_chain(path, chain, err, errlen))
		goto out;

	have_rc = ca_present(rpath);
	have_rk = ca_key_present(rkpath);
	if (have_rc != have_rk) {
		errf(err, errlen, "%s is present but %s is not (an RA needs both)",
		    have_rc ? rpath : rkpath, have_rc ? rkpath : rpath);
		goto out;
	}
	if (have_rc) {
		if ((g->ra = ca_read_cert(rpath, err, errlen)) == NULL ||
		    (g->ra_key = ca_key_open(rkpath, src, 1, err, errlen)) == NULL)
			goto out;
		if (!ca_check_ra(g->ra, g->ra_key, g->cert, rpath, rkpath, cpath,
		    err, errlen))
			goto out;
		if (X509_cmp_current_time(X509_get0_notAfter(g->ra)) <= 0)
			logx(sub == NULL ? LOG_LVL_WARN : LOG_LVL_DEBUG, "%s has expired",
			    rpath);
	}
	if (!gen_bundle(g, chain, path, err, errlen))
		goto out;
	ok = 1;
out:
	sk_X509_pop_free(chain, X509_free);
	if (!ok)
		ca_gen_free(g);
	return ok;
}

struct ca *
ca_load(const char *root, const struct ca_keysrc *src, char *err, size_t errlen)
{
	struct ca	*ca = NULL, *ret = NULL;
	char		 path[MAX_PATH_LEN];

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((ca = calloc(1, sizeof(*ca))) == NULL) {
		errf_crypto(err, errlen, "out of memory");
		goto out;
	}
	ca->include_root = 1;
	if (!ca_path(path, sizeof(path), root, CA_SWITCH_MARK)) {
		errf(err, errlen, "repository path too long");
		goto out;
	}
	if (ca_present(path)) {
		errf(err, errlen, "a CA rollover switch was interrupted (%s exists): run "
		    "\"scep-admin rollover switch\" again to finish it", path);
		goto out;
	}
	if (!ca_gen_load(root, NULL, src, &ca->cur, err, errlen))
		goto out;
	if (!ca_gen_path(path, sizeof(path), root, CA_OLD_DIR, NULL) ||
	    (ca_present(path) && !ca_gen_load(root, CA_OLD_DIR, src, &ca->old, err, errlen)))
		goto out;
	if (!ca_gen_path(path, sizeof(path), root, CA_NEXT_DIR, NULL) ||
	    (ca_present(path) && !ca_gen_load(root, CA_NEXT_DIR, src, &ca->next, err,
	    errlen)))
		goto out;
	ret = ca;
	ca = NULL;
out:
	ca_free(ca);
	return ret;
}

int
ca_exists(const char *root)
{
	char	cert[MAX_PATH_LEN], key[MAX_PATH_LEN];

	if (!ca_path(cert, sizeof(cert), root, CA_CERT_FILE) ||
	    !ca_path(key, sizeof(key), root, CA_KEY_FILE))
		return 1;	/* ca_load() reports the long path */
	return ca_present(cert) || ca_key_present(key);
}

void
ca_free(struct ca *ca)
{
	if (ca == NULL)
		return;
	ca_gen_free(&ca->cur);
	ca_gen_free(&ca->old);
	ca_gen_free(&ca->next);
	free(ca);
}

X509 *
ca_scep_cert(const struct ca *ca)
{
	return ca->cur.ra != NULL ? ca->cur.ra : ca->cur.cert;
}

EVP_PKEY *
ca_scep_key(const struct ca *ca)
{
	return ca->cur.ra != NULL ? ca->cur.ra_key : ca->cur.key;
}

X509 *
ca_cert(const struct ca *ca)
{
	return ca->cur.cert;
}

STACK_OF(X509) *
ca_getcacert_certs(const struct ca *ca)
{
	return ca->include_root ? ca->cur.certs : ca->cur.noroot;
}

STACK_OF(X509) *
ca_next_certs(const struct ca *ca)
{
	if (ca->next.cert == NULL)
		return NULL;
	return ca->include_root ? ca->next.certs : ca->next.noroot;
}

void
ca_set_include_root(struct ca *ca, int include)
{
	ca->include_root = include != 0;
}

X509 *
ca_generation_cert(const struct ca *ca, enum ca_generation which, int ra)
{
	const struct ca_gen	*g;

	switch (which) {
	case CA_GEN_CURRENT:
		g = &ca->cur;
		break;
	case CA_GEN_OLD:
		g = &ca->old;
		break;
	case CA_GEN_NEXT:
		g = &ca->next;
		break;
	default:
		return NULL;
	}
	return ra ? g->ra : g->cert;
}

static int
names_cert(X509 *x, const X509_NAME *issuer, const ASN1_INTEGER *serial)
{
	return x != NULL && X509_NAME_cmp(X509_get_issuer_name(x), issuer) == 0 &&
	    ASN1_INTEGER_cmp(X509_get0_serialNumber(x), serial) == 0;
}

int
ca_recipient(const struct ca *ca, const X509_NAME *issuer, const ASN1_INTEGER *serial,
    X509 **cert, EVP_PKEY **key)
{
	const struct ca_gen	*gens[] = { &ca->cur, &ca->next, &ca->old }, *g;
	size_t			 i;
	int			 pass;
	X509			*c;
	EVP_PKEY		*k;

	if (cert != NULL)
		*cert = NULL;
	if (key != NULL)
		*key = NULL;
	if (issuer == NULL || serial == NULL)
		return 0;
	/* First the SCEP certificates, then (RA mode) the CA certificates behind them. */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < sizeof(gens) / sizeof(gens[0]); i++) {
			g = gens[i];
			if (g->cert == NULL || (pass == 1 && g->ra == NULL))
				continue;
			c = pass == 0 && g->ra != NULL ? g->ra : g->cert;
			k = pass == 0 && g->ra != NULL ? g->ra_key : g->key;
			if (names_cert(c, issuer, serial)) {
				if (cert != NULL)
					*cert = c;
				if (key != NULL)
					*key = k;
				return 1;
			}
		}
	return 0;
}

int
ca_signer_for(const struct ca *ca, const X509 *recipient, X509 **cert, EVP_PKEY **key)
{
	const struct ca_gen	*gens[] = { &ca->cur, &ca->next, &ca->old }, *g = NULL;
	size_t			 i;

	for (i = 0; recipient != NULL && i < sizeof(gens) / sizeof(gens[0]); i++)
		if (gens[i]->cert != NULL &&
		    (gens[i]->cert == recipient || gens[i]->ra == recipient)) {
			g = gens[i];
			break;
		}
	if (cert != NULL)
		*cert = g != NULL ? (g->ra != NULL ? g->ra : g->cert) : ca_scep_cert(ca);
	if (key != NULL)
		*key = g != NULL ? (g->ra != NULL ? g->ra_key : g->key) : ca_scep_key(ca);
	return g != NULL;
}

/* Key transport we decrypt: RSA (RFC 8894 §3.1), PKCS#1 v1.5 or OAEP (Windows). */
static int
rsa_key_transport(CMS_RecipientInfo *ri)
{
	X509_ALGOR	*alg = NULL;
	int		 nid;

	if (CMS_RecipientInfo_ktri_get0_algs(ri, NULL, NULL, &alg) != 1 || alg == NULL)
		return 0;
	nid = OBJ_obj2nid(alg->algorithm);
	return nid == NID_rsaEncryption || nid == NID_rsaesOaep;
}

int
ca_decrypt(const struct ca *ca, const unsigned char *der, size_t len, unsigned char **plain,
    size_t *plainlen, const X509 **recipient, enum ca_decrypt_fail *why)
{
	CMS_ContentInfo			*cms = NULL;
	STACK_OF(CMS_RecipientInfo)	*ris;
	CMS_RecipientInfo		*ri;
	X509_NAME			*issuer;
	ASN1_INTEGER			*serial;
	X509				*cert = NULL;
	EVP_PKEY			*key = NULL;
	BIO				*out = NULL;
	const unsigned char		*p = der;
	char				*data;
	long				 n;
	int				 i, ok = 0;

	*plain = NULL;
	*plainlen = 0;
	*recipient = NULL;
	*why = CA_DECRYPT_MALFORMED;
	if (len > LONG_MAX || (cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL ||
	    p != der + len || OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_enveloped ||
	    (ris = CMS_get0_RecipientInfos(cms)) == NULL)
		goto out;
	for (i = 0; i < sk_CMS_RecipientInfo_num(ris) && cert == NULL; i++) {
		ri = sk_CMS_RecipientInfo_value(ris, i);
		if (CMS_RecipientInfo_type(ri) != CMS_RECIPINFO_TRANS ||
		    CMS_RecipientInfo_ktri_get0_signer_id(ri, NULL, &issuer, &serial) != 1 ||
		    !ca_recipient(ca, issuer, serial, &cert, &key))
			continue;
		if (!rsa_key_transport(ri)) {
			*why = CA_DECRYPT_KEY_TRANSPORT;
			goto out;
		}
	}
	if (cert == NULL) {
		*why = CA_DECRYPT_NOT_OURS;
		goto out;
	}
	*why = CA_DECRYPT_FAILED;
	if ((out = BIO_new(BIO_s_mem())) == NULL ||
	    CMS_decrypt(cms, key, cert, NULL, out, CMS_BINARY) != 1 ||
	    (n = BIO_get_mem_data(out, &data)) < 0 ||
	    (*plain = malloc(n > 0 ? (size_t)n : 1)) == NULL)
		goto out;
	memcpy(*plain, data, (size_t)n);
	*plainlen = (size_t)n;
	*recipient = cert;
	ok = 1;
out:
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	return ok;
}

int
ca_sign_scep(const struct ca *ca, const X509 *recipient, const EVP_MD *md,
    const unsigned char *content, size_t len, const STACK_OF(X509_ATTRIBUTE) *attrs,
    STACK_OF(X509) *extra, unsigned char **out, size_t *outlen)
{
	PKCS7			*p7 = NULL;
	PKCS7_SIGNER_INFO	*si;
	BIO			*data = NULL;
	X509			*cert;
	EVP_PKEY		*key;
	int			 i, n, ok = 0;
	const int		 flags = PKCS7_PARTIAL | PKCS7_BINARY | PKCS7_NOSMIMECAP;

	*out = NULL;
	/*
	 * OpenSSL's PKCS7 API, not CMS: it keeps the certificates in the order added (the
	 * signer, then EXTRA); CMS DER-sorts them, and sscep reads them by position.
	 */
	(void)ca_signer_for(ca, recipient, &cert, &key);
	if (len > INT_MAX ||
	    (data = BIO_new_mem_buf(len > 0 ? content : (const unsigned char *)"",
	    (int)len)) == NULL)
		goto out;
	if ((p7 = PKCS7_sign(NULL, NULL, NULL, NULL, flags)) == NULL ||
	    (si = PKCS7_sign_add_signer(p7, cert, key, md, PKCS7_NOSMIMECAP)) == NULL)
		goto out;
	for (i = 0; i < sk_X509_ATTRIBUTE_num(attrs); i++)
		if (X509at_add1_attr(&si->auth_attr, sk_X509_ATTRIBUTE_value(attrs, i)) == NULL)
			goto out;
	for (i = 0; i < sk_X509_num(extra); i++)
		if (!PKCS7_add_certificate(p7, sk_X509_value(extra, i)))
			goto out;
	if (!PKCS7_final(p7, data, flags) || (n = i2d_PKCS7(p7, out)) <= 0)
		goto out;
	*outlen = (size_t)n;
	ok = 1;
out:
	BIO_free(data);
	PKCS7_free(p7);
	return ok;
}

int
ca_sign_cms(const struct ca *ca, const unsigned char *doc, size_t len, STACK_OF(X509) *extra,
    unsigned char **out, size_t *outlen, char *err, size_t errlen)
{
	CMS_ContentInfo	*cms = NULL;
	BIO		*in = NULL;
	int		 n, ok = 0;

	*out = NULL;
	*outlen = 0;
	if (len > INT_MAX)
		return errf(err, errlen, "%zu bytes are too many to sign", len);
	if ((in = BIO_new_mem_buf(doc, (int)len)) == NULL ||
	    (cms = CMS_sign(ca->cur.cert, ca->cur.key, extra, in,
	    CMS_BINARY | CMS_NOSMIMECAP)) == NULL) {
		errf_crypto(err, errlen, "CMS signing failed");
		goto out;
	}
	if ((n = i2d_CMS_ContentInfo(cms, out)) <= 0) {
		errf_crypto(err, errlen, "cannot encode the CMS SignedData");
		goto out;
	}
	*outlen = (size_t)n;
	ok = 1;
out:
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	return ok;
}

X509 *
ca_issuer_of(const struct ca *ca, X509 *x)
{
	if (x == NULL)
		return NULL;
	if (ca->cur.cert != NULL && ca_issued_by(ca->cur.cert, x))
		return ca->cur.cert;
	if (ca->old.cert != NULL && ca_issued_by(ca->old.cert, x))
		return ca->old.cert;
	return NULL;
}

/* Add extension NID with an openssl.cnf-style VALUE. 1 ok, 0 error (queue kept). */
int
ca_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION	*ext;
	int		 ok;

	if ((ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/*
 * Copy the subjectAltName of REQ's extensionRequest (PKCS#9, or Microsoft's older OID)
 * into X, decoded and re-encoded, at most MAX_SAN_ENTRIES names. No SAN requested: 1.
 */
static int
copy_san(X509 *x, X509_REQ *req, char *err, size_t errlen)
{
	STACK_OF(X509_EXTENSION)	*exts = NULL;
	GENERAL_NAMES			*gens = NULL;
	X509_EXTENSION			*ext;
	int				 ok = 0, idx, n;

	if ((exts = X509_REQ_get_extensions(req)) == NULL) {
		if (X509_REQ_get_attr_by_NID(req, NID_ext_req, -1) >= 0 ||
		    X509_REQ_get_attr_by_NID(req, NID_ms_ext_req, -1) >= 0) {
			errf_crypto(err, errlen, "malformed extensionRequest in the CSR");
			goto out;
		}
		ERR_clear_error();
		ok = 1;
		goto out;
	}
	if ((idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1)) < 0) {
		ok = 1;
		goto out;
	}
	if (X509v3_get_ext_by_NID(exts, NID_subject_alt_name, idx) >= 0) {
		errf(err, errlen, "the CSR requests subjectAltName twice");
		goto out;
	}
	ext = X509v3_get_ext(exts, idx);
	if ((gens = X509V3_EXT_d2i(ext)) == NULL) {
		errf_crypto(err, errlen, "malformed subjectAltName in the CSR");
		goto out;
	}
	n = sk_GENERAL_NAME_num(gens);
	if (n <= 0 || n > MAX_SAN_ENTRIES) {
		errf(err, errlen, "the CSR's subjectAltName has %d names (1..%d allowed)", n,
		    MAX_SAN_ENTRIES);
		goto out;
	}
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1) {
		errf_crypto(err, errlen, "cannot add subjectAltName");
		goto out;
	}
	ok = 1;
out:
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return ok;
}

/* A GeneralName uniformResourceIdentifier holding URL (checked by config.c). */
static GENERAL_NAME *
uri_name(const char *url)
{
	GENERAL_NAME	*gn = NULL;
	ASN1_IA5STRING	*ia5 = NULL;

	if ((ia5 = ASN1_IA5STRING_new()) == NULL || !ASN1_STRING_set(ia5, url, -1) ||
	    (gn = GENERAL_NAME_new()) == NULL) {
		ASN1_IA5STRING_free(ia5);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, GEN_URI, ia5);
	return gn;
}

/*
 * cRLDistributionPoints (RFC 5280 §4.2.1.13) with one DistributionPoint whose fullName is
 * URL, no reasons, no cRLIssuer: the CRL this CA publishes covers everything it issues.
 */
static int
add_crl_dp(X509 *x, const char *url)
{
	CRL_DIST_POINTS	*cdp = NULL;
	DIST_POINT	*dp = NULL;
	GENERAL_NAME	*gn = NULL;
	int		 ok = 0;

	if ((cdp = sk_DIST_POINT_new_null()) == NULL || (dp = DIST_POINT_new()) == NULL ||
	    (dp->distpoint = DIST_POINT_NAME_new()) == NULL ||
	    (dp->distpoint->name.fullname = GENERAL_NAMES_new()) == NULL ||
	    (gn = uri_name(url)) == NULL ||
	    !sk_GENERAL_NAME_push(dp->distpoint->name.fullname, gn))
		goto out;
	gn = NULL;
	dp->distpoint->type = 0;	/* fullName */
	if (!sk_DIST_POINT_push(cdp, dp))
		goto out;
	dp = NULL;
	ok = X509_add1_ext_i2d(x, NID_crl_distribution_points, cdp, 0, X509V3_ADD_DEFAULT) == 1;
out:
	GENERAL_NAME_free(gn);
	DIST_POINT_free(dp);
	sk_DIST_POINT_pop_free(cdp, DIST_POINT_free);
	return ok;
}

/* authorityInfoAccess (RFC 5280 §4.2.2.1) with one caIssuers access description, URL. */
static int
add_ca_issuers(X509 *x, const char *url)
{
	AUTHORITY_INFO_ACCESS	*aia = NULL;
	ACCESS_DESCRIPTION	*ad = NULL;
	int			 ok = 0;

	if ((aia = sk_ACCESS_DESCRIPTION_new_null()) == NULL ||
	    (ad = ACCESS_DESCRIPTION_new()) == NULL)
		goto out;
	ASN1_OBJECT_free(ad->method);
	ad->method = OBJ_nid2obj(NID_ad_ca_issuers);
	GENERAL_NAME_free(ad->location);
	if ((ad->location = uri_name(url)) == NULL || !sk_ACCESS_DESCRIPTION_push(aia, ad))
		goto out;
	ad = NULL;
	ok = X509_add1_ext_i2d(x, NID_info_access, aia, 0, X509V3_ADD_DEFAULT) == 1;
out:
	ACCESS_DESCRIPTION_free(ad);
	sk_ACCESS_DESCRIPTION_pop_free(aia, ACCESS_DESCRIPTION_free);
	return ok;
}

/*
 * Hex (any case, 1..MAX_SERIAL_HEX digits) to an INTEGER: a serial (ZERO_OK 0: zero is
 * refused) or a CRL number (ZERO_OK 1).
 */
static ASN1_INTEGER *
integer_from_hex(const char *hex, int zero_ok)
{
	ASN1_INTEGER	*ai = NULL;
	BIGNUM		*bn = NULL;
	size_t		 len = strlen(hex);

	if (len == 0 || len > MAX_SERIAL_HEX || strspn(hex, "0123456789abcdefABCDEF") != len)
		return NULL;
	if (BN_hex2bn(&bn, hex) && (zero_ok || !BN_is_zero(bn)))
		ai = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	return ai;
}

/* End-entity keyUsage bits and their openssl.cnf names (RFC 5280 §4.2.1.3). */
static const struct {
	unsigned	 bit;
	const char	*name;
} ku_bits[] = {
	{ KU_DIGITAL_SIGNATURE, "digitalSignature" },
	{ KU_NON_REPUDIATION, "nonRepudiation" },
	{ KU_KEY_ENCIPHERMENT, "keyEncipherment" },
	{ KU_DATA_ENCIPHERMENT, "dataEncipherment" },
	{ KU_KEY_AGREEMENT, "keyAgreement" },
};

/* "critical,name,..." for BITS (0: the default). 0 if BITS has a bit not in ku_bits. */
static int
ku_value(unsigned bits, char *out, size_t outlen)
{
	size_t		 i, o;
	unsigned	 left;

	if (bits == 0)
		bits = DEFAULT_KU;
	left = bits;
	o = (size_t)snprintf(out, outlen, "critical");
	for (i = 0; i < sizeof(ku_bits) / sizeof(ku_bits[0]); i++) {
		if ((bits & ku_bits[i].bit) == 0)
			continue;
		left &= ~ku_bits[i].bit;
		if (o < outlen)
			o += (size_t)snprintf(out + o, outlen - o, ",%s", ku_bits[i].name);
	}
	return left == 0 && o < outlen;
}

X509 *
ca_issue(struct ca *ca, X509_REQ *req, const char *serial_hex,
    const struct cert_profile *prof, char *err, size_t errlen)
{
	X509		*x = NULL, *ret = NULL;
	ASN1_INTEGER	*serial = NULL;
	EVP_PKEY	*pk;
	X509_NAME	*subj;
	X509V3_CTX	 ctx;
	const char	*aki, *eku;
	char		 ku[256];

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (!ku_value(prof->key_usage, ku, sizeof(ku))) {
		errf(err, errlen, "keyUsage bits 0x%x are not those of an end entity",
		    prof->key_usage);
		goto out;
	}
	eku = prof->ext_key_usage != NULL ? prof->ext_key_usage : DEFAULT_EKU;
	if (prof->days < 1 || prof->days > MAX_DAYS) {
		errf(err, errlen, "validity of %d days is out of range 1..%d", prof->days,
		    MAX_DAYS);
		goto out;
	}
	if ((serial = integer_from_hex(serial_hex, 0)) == NULL) {
		errf(err, errlen, "bad serial \"%.*s\"", MAX_SERIAL_HEX + 1, serial_hex);
		goto out;
	}
	if ((pk = X509_REQ_get0_pubkey(req)) == NULL) {
		errf(err, errlen, "the CSR's public key cannot be decoded");
		goto out;
	}
	if ((subj = X509_REQ_get_subject_name(req)) == NULL ||
	    X509_NAME_entry_count(subj) == 0) {
		errf(err, errlen, "the CSR has an empty subject");
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(ca->cur.cert)) <= 0) {
		errf(err, errlen, "the CA certificate has expired");
		goto out;
	}

	if ((x = X509_new()) == NULL ||
	    !X509_set_version(x, 2) ||
	    !X509_set_serialNumber(x, serial) ||
	    !X509_set_subject_name(x, subj) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca->cur.cert)) ||
	    !X509_set_pubkey(x, pk) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -CLOCK_SKEW_SECS) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), prof->days, 0, NULL) == NULL) {
		errf_crypto(err, errlen, "cannot build the certificate");
		goto out;
	}
	/* Never outlive the CA, never start before it. */
	if (ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(ca->cur.cert)) > 0 &&
	    !X509_set1_notAfter(x, X509_get0_notAfter(ca->cur.cert))) {
		errf_crypto(err, errlen, "cannot set notAfter");
		goto out;
	}
	if (ASN1_TIME_compare(X509_get0_notBefore(x), X509_get0_notBefore(ca->cur.cert)) < 0 &&
	    !X509_set1_notBefore(x, X509_get0_notBefore(ca->cur.cert))) {
		errf_crypto(err, errlen, "cannot set notBefore");
		goto out;
	}

	/* End-entity profile (RFC 5280 §4.2); nothing else of the request is copied. */
	X509V3_set_ctx(&ctx, ca->cur.cert, x, NULL, NULL, 0);
	aki = X509_get0_subject_key_id(ca->cur.cert) != NULL ? "keyid" : "keyid,issuer";
	if (!ca_add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
	    !ca_add_ext(x, &ctx, NID_key_usage, ku)) {
		errf_crypto(err, errlen, "cannot add extensions");
		goto out;
	}
	if (eku[0] != '\0' && !ca_add_ext(x, &ctx, NID_ext_key_usage, eku)) {
		errf_crypto(err, errlen, "bad extendedKeyUsage \"%.200s\"", eku);
		goto out;
	}
	if (!ca_add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
	    !ca_add_ext(x, &ctx, NID_authority_key_identifier, aki)) {
		errf_crypto(err, errlen, "cannot add extensions");
		goto out;
	}
	if (prof->keep_san && !copy_san(x, req, err, errlen))
		goto out;
	if (prof->crl_url != NULL && !add_crl_dp(x, prof->crl_url)) {
		errf_crypto(err, errlen, "cannot add cRLDistributionPoints");
		goto out;
	}
	if (prof->ca_issuers_url != NULL && !add_ca_issuers(x, prof->ca_issuers_url)) {
		errf_crypto(err, errlen, "cannot add authorityInfoAccess");
		goto out;
	}

	if (X509_sign(x, ca->cur.key, EVP_sha256()) <= 0) {
		errf_crypto(err, errlen, "cannot sign the certificate");
		goto out;
	}
	ret = x;
	x = NULL;
out:
	X509_free(x);
	ASN1_INTEGER_free(serial);
	return ret;
}

/* A CRL entry with its serial decoded, for sorting. */
struct crl_sort {
	BIGNUM			*bn;
	const struct crl_entry	*e;
};

static int
crl_sort_cmp(const void *a, const void *b)
{
	return BN_cmp(((const struct crl_sort *)a)->bn, ((const struct crl_sort *)b)->bn);
}

/* One revoked entry: serial, date, and a reasonCode extension if REASON >= 0. */
static X509_REVOKED *
crl_revoked(const BIGNUM *serial, time_t when, int reason, char *err, size_t errlen)
{
	X509_REVOKED	*rev = NULL, *ret = NULL;
	ASN1_INTEGER	*ai = NULL;
	ASN1_TIME	*t = NULL;
	ASN1_ENUMERATED	*rc = NULL;

	if ((rev = X509_REVOKED_new()) == NULL ||
	    (ai = BN_to_ASN1_INTEGER(serial, NULL)) == NULL ||
	    (t = ASN1_TIME_set(NULL, when)) == NULL ||
	    !X509_REVOKED_set_serialNumber(rev, ai) ||
	    !X509_REVOKED_set_revocationDate(rev, t)) {
		errf_crypto(err, errlen, "cannot build a CRL entry");
		goto out;
	}
	if (reason >= 0) {
		if ((rc = ASN1_ENUMERATED_new()) == NULL ||
		    !ASN1_ENUMERATED_set(rc, reason) ||
		    X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, rc, 0, 0) != 1) {
			errf_crypto(err, errlen, "cannot add a CRL reason");
			goto out;
		}
	}
	ret = rev;
	rev = NULL;
out:
	X509_REVOKED_free(rev);
	ASN1_INTEGER_free(ai);
	ASN1_TIME_free(t);
	ASN1_ENUMERATED_free(rc);
	return ret;
}

X509_CRL *
ca_make_crl(struct ca *ca, const struct crl_entry *ents, size_t n, const char *crlnumber_hex,
    int days, char *err, size_t errlen)
{
	X509_CRL		*crl = NULL, *ret = NULL;
	X509_REVOKED		*rev;
	X509_EXTENSION		*ext = NULL;
	ASN1_INTEGER		*num = NULL;
	ASN1_TIME		*now = NULL, *next = NULL;
	struct crl_sort		*v = NULL;
	X509V3_CTX		 ctx;
	time_t			 t = time(NULL);
	size_t			 i;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (days < 1 || days > MAX_DAYS) {
		errf(err, errlen, "CRL validity of %d days is out of range 1..%d", days,
		    MAX_DAYS);
		goto out;
	}
	if (n > MAX_CRL_ENTRIES) {
		errf(err, errlen, "more than %d revoked certificates", MAX_CRL_ENTRIES);
		goto out;
	}
	if (crlnumber_hex == NULL || (num = integer_from_hex(crlnumber_hex, 1)) == NULL) {
		errf(err, errlen, "bad CRL number \"%.*s\"", MAX_SERIAL_HEX + 1,
		    crlnumber_hex != NULL ? crlnumber_hex : "");
		goto out;
	}
	if (n > 0 && (v = calloc(n, sizeof(*v))) == NULL) {
		errf_crypto(err, errlen, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		v[i].e = &ents[i];
		if (ents[i].serial_hex == NULL ||
		    strlen(ents[i].serial_hex) > MAX_SERIAL_HEX ||
		    strspn(ents[i].serial_hex, "0123456789abcdefABCDEF") !=
		    strlen(ents[i].serial_hex) || ents[i].serial_hex[0] == '\0' ||
		    !BN_hex2bn(&v[i].bn, ents[i].serial_hex)) {
			ERR_clear_error();
			errf(err, errlen, "CRL entry %zu: bad serial \"%.*s\"", i + 1,
			    MAX_SERIAL_HEX + 1, ents[i].serial_hex != NULL ?
			    ents[i].serial_hex : "");
			goto out;
		}
		/* RFC 5280 §5.3.1: 0..10, 7 unused. */
		if (ents[i].reason < -1 || ents[i].reason > 10 || ents[i].reason == 7) {
			errf(err, errlen, "CRL entry %s: bad reason code %d", ents[i].serial_hex,
			    ents[i].reason);
			goto out;
		}
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), crl_sort_cmp);
	for (i = 1; i < n; i++)
		if (BN_cmp(v[i - 1].bn, v[i].bn) == 0) {
			errf(err, errlen, "serial %s is listed twice", v[i].e->serial_hex);
			goto out;
		}

	if ((crl = X509_CRL_new()) == NULL ||
	    !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cur.cert)) ||
	    (now = ASN1_TIME_set(NULL, t)) == NULL ||
	    (next = X509_time_adj_ex(NULL, days, 0, &t)) == NULL ||
	    !X509_CRL_set1_lastUpdate(crl, now) ||
	    !X509_CRL_set1_nextUpdate(crl, next)) {
		errf_crypto(err, errlen, "cannot build the CRL");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((rev = crl_revoked(v[i].bn, v[i].e->revoked_at, v[i].e->reason, err,
		    errlen)) == NULL)
			goto out;
		if (!X509_CRL_add0_revoked(crl, rev)) {
			X509_REVOKED_free(rev);
			errf_crypto(err, errlen, "out of memory");
			goto out;
		}
	}
	/* Already in order; this also fixes OpenSSL's internal sequence numbers. */
	if (!X509_CRL_sort(crl)) {
		errf_crypto(err, errlen, "cannot sort the CRL");
		goto out;
	}

	/* RFC 5280 §5.2.1 (AKI) and §5.2.3 (cRLNumber), both MUST for a conforming CA. */
	X509V3_set_ctx(&ctx, ca->cur.cert, NULL, NULL, crl, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
	    X509_get0_subject_key_id(ca->cur.cert) != NULL ? "keyid:always" :
	    "issuer:always")) == NULL ||
	    !X509_CRL_add_ext(crl, ext, -1) ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1) {
		errf_crypto(err, errlen, "cannot add CRL extensions");
		goto out;
	}
	if (X509_CRL_sign(crl, ca->cur.key, EVP_sha256()) <= 0) {
		errf_crypto(err, errlen, "cannot sign the CRL");
		goto out;
	}
	ret = crl;
	crl = NULL;
out:
	for (i = 0; v != NULL && i < n; i++)
		BN_free(v[i].bn);
	free(v);
	X509_EXTENSION_free(ext);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	X509_CRL_free(crl);
	return ret;
}
