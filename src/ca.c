/*
 * The CA: the only module that loads the CA key and signs.
 *
 * Files under <repository>/ca/ (see ca.h): ca.pem, ca.key (0600), optional chain.pem.
 * The SCEP protocol key is the CA key itself (no separate RA certificate yet), and SCEP
 * key transport (RFC 8894 §3.1: the request's messageData is enveloped to the CA) needs RSA,
 * so ca_load() refuses any other key type.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "repo.h"
#include "scep.h"

#define CA_DIR		"ca"
#define CA_CERT_FILE	"ca.pem"
#define CA_KEY_FILE	"ca.key"
#define CA_CHAIN_FILE	"chain.pem"

#define CLOCK_SKEW_SECS	(5 * 60)	/* notBefore is backdated by this much */
#define MIN_CA_BITS	2048
#define MAX_CA_BITS	8192
#define MAX_DAYS	36500		/* validity of any certificate we make */
#define MAX_DN_LEN	1024		/* ca_parse_dn input */
#define MAX_SERIAL_HEX	40		/* 20 octets, RFC 5280 §4.1.2.2 */
#define CA_SERIAL_LEN	16		/* random serial of a self-signed CA */
#define MAX_CRL_ENTRIES	10000000	/* revoked certificates in one CRL */
#define DEFAULT_KU	(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT)
#define DEFAULT_EKU	"clientAuth,serverAuth"

struct ca {
	X509		*cert;		/* issuing CA = SCEP protocol certificate */
	EVP_PKEY	*key;
	STACK_OF(X509)	*getcacert;	/* [cert, chain...], each an owned reference */
};

/*
 * Put "message: first OpenSSL reason" into err and log the message with the whole
 * OpenSSL error queue (which this drains). Failures of the CA itself are logged as errors;
 * refusals of what the caller passed (DN, serial, CSR contents) at debug level, since the
 * caller reports those with err.
 */
static void
ca_errl(enum log_level lvl, char *err, size_t errlen, const char *fmt, ...)
{
	va_list		 ap;
	char		 msg[512];
	const char	*reason = NULL;
	unsigned long	 e;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if ((e = ERR_peek_error()) != 0)
		reason = ERR_reason_error_string(e);
	if (err != NULL && errlen > 0) {
		if (reason != NULL)
			snprintf(err, errlen, "%s: %s", msg, reason);
		else
			snprintf(err, errlen, "%s", msg);
	}
	log_crypto(lvl, "%s", msg);
}

#define ca_err(...)	ca_errl(LOG_LVL_ERR, __VA_ARGS__)
#define ca_bad(...)	ca_errl(LOG_LVL_DEBUG, __VA_ARGS__)

/* ROOT/ca/NAME into buf. 1 ok, 0 if too long. */
static int
ca_path(char *buf, size_t len, const char *root, const char *name)
{
	int	n;

	if (name == NULL)
		n = snprintf(buf, len, "%s/" CA_DIR, root);
	else
		n = snprintf(buf, len, "%s/" CA_DIR "/%s", root, name);
	return n >= 0 && (size_t)n < len;
}

static X509 *
read_cert(const char *path, char *err, size_t errlen)
{
	BIO	*b = NULL;
	X509	*x = NULL;

	if ((b = BIO_new_file(path, "r")) == NULL) {
		ca_err(err, errlen, "cannot open %s", path);
		goto out;
	}
	if ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
		ca_err(err, errlen, "cannot read a PEM certificate from %s", path);
out:
	BIO_free(b);
	return x;
}

/* Read up to MAX_CHAIN certificates from PATH into SK. Absent file: 1 (no chain). */
static int
read_chain(const char *path, STACK_OF(X509) *sk, char *err, size_t errlen)
{
	BIO		*b = NULL;
	X509		*x = NULL;
	unsigned long	 e;
	int		 ok = 0, n = 0;

	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 1;
	if ((b = BIO_new_file(path, "r")) == NULL) {
		ca_err(err, errlen, "cannot open %s", path);
		goto out;
	}
	for (;;) {
		if ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
			e = ERR_peek_last_error();
			if (n > 0 && ERR_GET_LIB(e) == ERR_LIB_PEM &&
			    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
				ERR_clear_error();
				break;
			}
			ca_err(err, errlen, "%s: cannot read certificate %d", path, n + 1);
			goto out;
		}
		if (++n > MAX_CHAIN) {
			ca_err(err, errlen, "%s: more than %d certificates", path, MAX_CHAIN);
			goto out;
		}
		if (!sk_X509_push(sk, x)) {
			ca_err(err, errlen, "out of memory");
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

struct ca *
ca_load(const char *root, char *err, size_t errlen)
{
	struct ca	*ca = NULL, *ret = NULL;
	BIO		*b = NULL;
	STACK_OF(X509)	*chain = NULL;
	X509		*prev;
	struct stat	 st;
	char		 path[MAX_PATH_LEN];
	int		 i;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((ca = calloc(1, sizeof(*ca))) == NULL ||
	    (ca->getcacert = sk_X509_new_null()) == NULL ||
	    (chain = sk_X509_new_null()) == NULL) {
		ca_err(err, errlen, "out of memory");
		goto out;
	}

	if (!ca_path(path, sizeof(path), root, CA_CERT_FILE)) {
		ca_err(err, errlen, "repository path too long");
		goto out;
	}
	if ((ca->cert = read_cert(path, err, errlen)) == NULL)
		goto out;
	if (X509_check_ca(ca->cert) < 1) {
		ca_err(err, errlen, "%s is not a CA certificate (basicConstraints CA:TRUE and "
		    "keyUsage keyCertSign needed)", path);
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(ca->cert)) <= 0)
		logx(LOG_LVL_WARN, "%s has expired", path);

	if (!ca_path(path, sizeof(path), root, CA_KEY_FILE)) {
		ca_err(err, errlen, "repository path too long");
		goto out;
	}
	if ((b = BIO_new_file(path, "r")) == NULL) {
		ca_err(err, errlen, "cannot open %s", path);
		goto out;
	}
	if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
		logx(LOG_LVL_WARN, "%s is accessible by group or others (mode %03o)", path,
		    (unsigned)(st.st_mode & 0777));
	if ((ca->key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL) {
		ca_err(err, errlen, "cannot read a PEM private key (unencrypted) from %s", path);
		goto out;
	}
	if (EVP_PKEY_get_base_id(ca->key) != EVP_PKEY_RSA) {
		ca_err(err, errlen, "%s is not an RSA key (SCEP key transport needs RSA)", path);
		goto out;
	}
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		ca_err(err, errlen, "%s does not match %s", path, CA_CERT_FILE);
		goto out;
	}

	if (!ca_path(path, sizeof(path), root, CA_CHAIN_FILE)) {
		ca_err(err, errlen, "repository path too long");
		goto out;
	}
	if (!read_chain(path, chain, err, errlen))
		goto out;

	/* GetCACert order: the CA, then its issuers nearest first; each must issue the last. */
	if (!X509_up_ref(ca->cert) || !sk_X509_push(ca->getcacert, ca->cert)) {
		ca_err(err, errlen, "out of memory");
		goto out;
	}
	prev = ca->cert;
	while (sk_X509_num(chain) > 0) {
		X509 *x = sk_X509_shift(chain);

		if (!sk_X509_push(ca->getcacert, x)) {
			X509_free(x);
			ca_err(err, errlen, "out of memory");
			goto out;
		}
		if (X509_check_issued(x, prev) != X509_V_OK) {
			i = sk_X509_num(ca->getcacert) - 1;
			ca_err(err, errlen, "%s: certificate %d did not issue the one before it "
			    "(order must be nearest issuer first)", path, i);
			goto out;
		}
		prev = x;
	}
	ret = ca;
	ca = NULL;
out:
	BIO_free(b);
	sk_X509_pop_free(chain, X509_free);
	ca_free(ca);
	return ret;
}

void
ca_free(struct ca *ca)
{
	if (ca == NULL)
		return;
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	sk_X509_pop_free(ca->getcacert, X509_free);
	free(ca);
}

X509 *
ca_scep_cert(const struct ca *ca)
{
	return ca->cert;
}

EVP_PKEY *
ca_scep_key(const struct ca *ca)
{
	return ca->key;
}

X509 *
ca_cert(const struct ca *ca)
{
	return ca->cert;
}

STACK_OF(X509) *
ca_getcacert_certs(const struct ca *ca)
{
	return ca->getcacert;
}

/* Add extension NID with an openssl.cnf-style VALUE. 1 ok, 0 error (queue kept). */
static int
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
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
			ca_bad(err, errlen, "malformed extensionRequest in the CSR");
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
		ca_bad(err, errlen, "the CSR requests subjectAltName twice");
		goto out;
	}
	ext = X509v3_get_ext(exts, idx);
	if ((gens = X509V3_EXT_d2i(ext)) == NULL) {
		ca_bad(err, errlen, "malformed subjectAltName in the CSR");
		goto out;
	}
	n = sk_GENERAL_NAME_num(gens);
	if (n <= 0 || n > MAX_SAN_ENTRIES) {
		ca_bad(err, errlen, "the CSR's subjectAltName has %d names (1..%d allowed)", n,
		    MAX_SAN_ENTRIES);
		goto out;
	}
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1) {
		ca_err(err, errlen, "cannot add subjectAltName");
		goto out;
	}
	ok = 1;
out:
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return ok;
}

/* Uppercase or lowercase hex, 1..MAX_SERIAL_HEX digits, not zero. */
static ASN1_INTEGER *
serial_from_hex(const char *hex)
{
	ASN1_INTEGER	*ai = NULL;
	BIGNUM		*bn = NULL;
	size_t		 len = strlen(hex);

	if (len == 0 || len > MAX_SERIAL_HEX || strspn(hex, "0123456789abcdefABCDEF") != len)
		return NULL;
	if (!BN_hex2bn(&bn, hex) || BN_is_zero(bn))
		goto out;
	ai = BN_to_ASN1_INTEGER(bn, NULL);
out:
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
		ca_bad(err, errlen, "keyUsage bits 0x%x are not those of an end entity",
		    prof->key_usage);
		goto out;
	}
	eku = prof->ext_key_usage != NULL ? prof->ext_key_usage : DEFAULT_EKU;
	if (prof->days < 1 || prof->days > MAX_DAYS) {
		ca_bad(err, errlen, "validity of %d days is out of range 1..%d", prof->days,
		    MAX_DAYS);
		goto out;
	}
	if ((serial = serial_from_hex(serial_hex)) == NULL) {
		ca_bad(err, errlen, "bad serial \"%.*s\"", MAX_SERIAL_HEX + 1, serial_hex);
		goto out;
	}
	if ((pk = X509_REQ_get0_pubkey(req)) == NULL) {
		ca_bad(err, errlen, "the CSR's public key cannot be decoded");
		goto out;
	}
	if ((subj = X509_REQ_get_subject_name(req)) == NULL ||
	    X509_NAME_entry_count(subj) == 0) {
		ca_bad(err, errlen, "the CSR has an empty subject");
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(ca->cert)) <= 0) {
		ca_err(err, errlen, "the CA certificate has expired");
		goto out;
	}

	if ((x = X509_new()) == NULL ||
	    !X509_set_version(x, 2) ||
	    !X509_set_serialNumber(x, serial) ||
	    !X509_set_subject_name(x, subj) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) ||
	    !X509_set_pubkey(x, pk) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -CLOCK_SKEW_SECS) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), prof->days, 0, NULL) == NULL) {
		ca_err(err, errlen, "cannot build the certificate");
		goto out;
	}
	/* Never outlive the CA, never start before it. */
	if (ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(ca->cert)) > 0 &&
	    !X509_set1_notAfter(x, X509_get0_notAfter(ca->cert))) {
		ca_err(err, errlen, "cannot set notAfter");
		goto out;
	}
	if (ASN1_TIME_compare(X509_get0_notBefore(x), X509_get0_notBefore(ca->cert)) < 0 &&
	    !X509_set1_notBefore(x, X509_get0_notBefore(ca->cert))) {
		ca_err(err, errlen, "cannot set notBefore");
		goto out;
	}

	/* End-entity profile (RFC 5280 §4.2); nothing else of the request is copied. */
	X509V3_set_ctx(&ctx, ca->cert, x, NULL, NULL, 0);
	aki = X509_get0_subject_key_id(ca->cert) != NULL ? "keyid" : "keyid,issuer";
	if (!add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(x, &ctx, NID_key_usage, ku)) {
		ca_err(err, errlen, "cannot add extensions");
		goto out;
	}
	if (eku[0] != '\0' && !add_ext(x, &ctx, NID_ext_key_usage, eku)) {
		ca_bad(err, errlen, "bad extendedKeyUsage \"%.200s\"", eku);
		goto out;
	}
	if (!add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
	    !add_ext(x, &ctx, NID_authority_key_identifier, aki)) {
		ca_err(err, errlen, "cannot add extensions");
		goto out;
	}
	if (prof->keep_san && !copy_san(x, req, err, errlen))
		goto out;

	if (X509_sign(x, ca->key, EVP_sha256()) <= 0) {
		ca_err(err, errlen, "cannot sign the certificate");
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

/* Hex (any case, 1..MAX_SERIAL_HEX digits) to an INTEGER; zero allowed (a CRL number). */
static ASN1_INTEGER *
integer_from_hex(const char *hex)
{
	ASN1_INTEGER	*ai = NULL;
	BIGNUM		*bn = NULL;
	size_t		 len = strlen(hex);

	if (len == 0 || len > MAX_SERIAL_HEX || strspn(hex, "0123456789abcdefABCDEF") != len)
		return NULL;
	if (BN_hex2bn(&bn, hex))
		ai = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	return ai;
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
		ca_err(err, errlen, "cannot build a CRL entry");
		goto out;
	}
	if (reason >= 0) {
		if ((rc = ASN1_ENUMERATED_new()) == NULL ||
		    !ASN1_ENUMERATED_set(rc, reason) ||
		    X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, rc, 0, 0) != 1) {
			ca_err(err, errlen, "cannot add a CRL reason");
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
		ca_bad(err, errlen, "CRL validity of %d days is out of range 1..%d", days,
		    MAX_DAYS);
		goto out;
	}
	if (n > MAX_CRL_ENTRIES) {
		ca_bad(err, errlen, "more than %d revoked certificates", MAX_CRL_ENTRIES);
		goto out;
	}
	if (crlnumber_hex == NULL || (num = integer_from_hex(crlnumber_hex)) == NULL) {
		ca_bad(err, errlen, "bad CRL number \"%.*s\"", MAX_SERIAL_HEX + 1,
		    crlnumber_hex != NULL ? crlnumber_hex : "");
		goto out;
	}
	if (n > 0 && (v = calloc(n, sizeof(*v))) == NULL) {
		ca_err(err, errlen, "out of memory");
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
			ca_bad(err, errlen, "CRL entry %zu: bad serial \"%.*s\"", i + 1,
			    MAX_SERIAL_HEX + 1, ents[i].serial_hex != NULL ?
			    ents[i].serial_hex : "");
			goto out;
		}
		/* RFC 5280 §5.3.1: 0..10, 7 unused. */
		if (ents[i].reason < -1 || ents[i].reason > 10 || ents[i].reason == 7) {
			ca_bad(err, errlen, "CRL entry %s: bad reason code %d", ents[i].serial_hex,
			    ents[i].reason);
			goto out;
		}
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), crl_sort_cmp);
	for (i = 1; i < n; i++)
		if (BN_cmp(v[i - 1].bn, v[i].bn) == 0) {
			ca_bad(err, errlen, "serial %s is listed twice", v[i].e->serial_hex);
			goto out;
		}

	if ((crl = X509_CRL_new()) == NULL ||
	    !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) ||
	    (now = ASN1_TIME_set(NULL, t)) == NULL ||
	    (next = X509_time_adj_ex(NULL, days, 0, &t)) == NULL ||
	    !X509_CRL_set1_lastUpdate(crl, now) ||
	    !X509_CRL_set1_nextUpdate(crl, next)) {
		ca_err(err, errlen, "cannot build the CRL");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((rev = crl_revoked(v[i].bn, v[i].e->revoked_at, v[i].e->reason, err,
		    errlen)) == NULL)
			goto out;
		if (!X509_CRL_add0_revoked(crl, rev)) {
			X509_REVOKED_free(rev);
			ca_err(err, errlen, "out of memory");
			goto out;
		}
	}
	/* Already in order; this also fixes OpenSSL's internal sequence numbers. */
	if (!X509_CRL_sort(crl)) {
		ca_err(err, errlen, "cannot sort the CRL");
		goto out;
	}

	/* RFC 5280 §5.2.1 (AKI) and §5.2.3 (cRLNumber), both MUST for a conforming CA. */
	X509V3_set_ctx(&ctx, ca->cert, NULL, NULL, crl, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
	    X509_get0_subject_key_id(ca->cert) != NULL ? "keyid:always" :
	    "issuer:always")) == NULL ||
	    !X509_CRL_add_ext(crl, ext, -1) ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1) {
		ca_err(err, errlen, "cannot add CRL extensions");
		goto out;
	}
	if (X509_CRL_sign(crl, ca->key, EVP_sha256()) <= 0) {
		ca_err(err, errlen, "cannot sign the CRL");
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

/*
 * DN attribute types ca_parse_dn() accepts (the names OpenSSL's -subj knows, minus
 * anything that is not a directory attribute).
 */
static const int dn_nids[] = {
	NID_countryName, NID_stateOrProvinceName, NID_localityName, NID_streetAddress,
	NID_postalCode, NID_organizationName, NID_organizationalUnitName, NID_commonName,
	NID_title, NID_name, NID_givenName, NID_surname, NID_initials, NID_pseudonym,
	NID_generationQualifier, NID_serialNumber, NID_dnQualifier, NID_businessCategory,
	NID_organizationIdentifier, NID_domainComponent, NID_userId, NID_pkcs9_emailAddress,
};

static int
dn_nid_ok(int nid)
{
	size_t	i;

	for (i = 0; i < sizeof(dn_nids) / sizeof(dn_nids[0]); i++)
		if (dn_nids[i] == nid)
			return 1;
	return 0;
}

/*
 * "/type=value/type=value" (OpenSSL -subj form), RDNs in the order written, one attribute
 * each ('+' is an ordinary character). A backslash makes the next character literal ("\/").
 * Values are UTF-8 and may not be empty.
 */
X509_NAME *
ca_parse_dn(const char *dn, char *err, size_t errlen)
{
	X509_NAME	*name = NULL, *ret = NULL;
	char		 type[64], value[MAX_DN_LEN + 1];
	const char	*p;
	size_t		 tn, vn;
	int		 nid, in_value;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (dn == NULL || dn[0] != '/') {
		ca_bad(err, errlen, "a DN must start with '/' (\"/CN=name/O=org\")");
		goto out;
	}
	if (strlen(dn) > MAX_DN_LEN) {
		ca_bad(err, errlen, "DN longer than %d bytes", MAX_DN_LEN);
		goto out;
	}
	if ((name = X509_NAME_new()) == NULL) {
		ca_err(err, errlen, "out of memory");
		goto out;
	}
	p = dn + 1;
	for (;;) {
		tn = vn = 0;
		in_value = 0;
		for (; *p != '\0' && *p != '/'; p++) {
			if (!in_value && *p == '=') {
				in_value = 1;
				continue;
			}
			if (*p == '\\' && *++p == '\0') {
				ca_bad(err, errlen, "DN ends in a lone backslash");
				goto out;
			}
			if (!in_value) {
				if (tn + 1 >= sizeof(type)) {
					ca_bad(err, errlen, "DN attribute type too long");
					goto out;
				}
				type[tn++] = *p;
			} else
				value[vn++] = *p;	/* vn < strlen(dn) <= MAX_DN_LEN */
		}
		type[tn] = '\0';
		value[vn] = '\0';
		if (!in_value) {
			ca_bad(err, errlen, "DN component \"%s\" has no '='", type);
			goto out;
		}
		if ((nid = OBJ_txt2nid(type)) == NID_undef || !dn_nid_ok(nid)) {
			ERR_clear_error();
			ca_bad(err, errlen, "unknown DN attribute type \"%s\"", type);
			goto out;
		}
		if (vn == 0) {
			ca_bad(err, errlen, "empty value for %s in the DN", type);
			goto out;
		}
		if (!X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
		    (unsigned char *)value, (int)vn, -1, 0)) {
			ca_bad(err, errlen, "bad value for %s in the DN", type);
			goto out;
		}
		if (*p == '\0')
			break;
		p++;	/* past '/' */
	}
	ret = name;
	name = NULL;
out:
	X509_NAME_free(name);
	return ret;
}

/* Random positive CA_SERIAL_LEN-octet serial with the top bits 01: never a small counter. */
static int
random_serial(X509 *x)
{
	unsigned char	 buf[CA_SERIAL_LEN];
	BIGNUM		*bn = NULL;
	ASN1_INTEGER	*ai = NULL;
	int		 ok = 0;

	if (RAND_bytes(buf, sizeof(buf)) != 1)
		goto out;
	buf[0] = (buf[0] & 0x3f) | 0x40;
	if ((bn = BN_bin2bn(buf, sizeof(buf), NULL)) == NULL ||
	    (ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    !X509_set_serialNumber(x, ai))
		goto out;
	ok = 1;
out:
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return ok;
}

/* PEM of X (cert) or K (private key, PKCS#8) into a repository file written atomically. */
static int
write_pem(const char *path, X509 *x, EVP_PKEY *k, int mode, char *err, size_t errlen)
{
	BIO	*b = NULL;
	char	*data;
	long	 len;
	int	 ok = 0;

	/* secmem: the buffer holding the key is cleansed when freed. */
	if ((b = BIO_new(k != NULL ? BIO_s_secmem() : BIO_s_mem())) == NULL) {
		ca_err(err, errlen, "out of memory");
		goto out;
	}
	if ((x != NULL && !PEM_write_bio_X509(b, x)) ||
	    (k != NULL && !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL))) {
		ca_err(err, errlen, "cannot encode %s", path);
		goto out;
	}
	if ((len = BIO_get_mem_data(b, &data)) <= 0) {
		ca_err(err, errlen, "cannot encode %s", path);
		goto out;
	}
	if (repo_write_file(path, data, (size_t)len, mode) != 1) {
		ca_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	ok = 1;
out:
	BIO_free(b);
	return ok;
}

int
ca_init(const char *root, const char *subject, int bits, int days, char *err, size_t errlen)
{
	X509_NAME	*name = NULL;
	EVP_PKEY	*key = NULL;
	X509		*x = NULL;
	X509V3_CTX	 ctx;
	struct stat	 st;
	char		 dir[MAX_PATH_LEN], keypath[MAX_PATH_LEN], certpath[MAX_PATH_LEN];
	int		 ok = 0, key_written = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (bits < MIN_CA_BITS || bits > MAX_CA_BITS) {
		ca_bad(err, errlen, "key size %d is out of range %d..%d", bits, MIN_CA_BITS,
		    MAX_CA_BITS);
		goto out;
	}
	if (days < 1 || days > MAX_DAYS) {
		ca_bad(err, errlen, "validity of %d days is out of range 1..%d", days, MAX_DAYS);
		goto out;
	}
	if ((name = ca_parse_dn(subject, err, errlen)) == NULL)
		goto out;
	if (!ca_path(dir, sizeof(dir), root, NULL) ||
	    !ca_path(keypath, sizeof(keypath), root, CA_KEY_FILE) ||
	    !ca_path(certpath, sizeof(certpath), root, CA_CERT_FILE)) {
		ca_err(err, errlen, "repository path too long");
		goto out;
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		ca_err(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		goto out;
	}
	if (lstat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		ca_err(err, errlen, "%s is not a directory", dir);
		goto out;
	}
	if (chmod(dir, 0700) == -1) {
		ca_err(err, errlen, "cannot chmod %s: %s", dir, strerror(errno));
		goto out;
	}
	if (lstat(keypath, &st) == 0 || errno != ENOENT) {
		ca_bad(err, errlen, "%s exists: refusing to replace a CA key", keypath);
		goto out;
	}

	if ((key = EVP_RSA_gen((unsigned int)bits)) == NULL) {
		ca_err(err, errlen, "cannot generate an RSA key of %d bits", bits);
		goto out;
	}
	if ((x = X509_new()) == NULL ||
	    !X509_set_version(x, 2) ||
	    !random_serial(x) ||
	    !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, name) ||
	    !X509_set_pubkey(x, key) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -CLOCK_SKEW_SECS) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL) {
		ca_err(err, errlen, "cannot build the CA certificate");
		goto out;
	}
	/* RFC 5280 §4.2.1.9, §4.2.1.3: a CA; keyEncipherment for SCEP key transport. */
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (!add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") ||
	    !add_ext(x, &ctx, NID_key_usage,
	    "critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment") ||
	    !add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
	    !add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always")) {
		ca_err(err, errlen, "cannot add CA extensions");
		goto out;
	}
	if (X509_sign(x, key, EVP_sha256()) <= 0) {
		ca_err(err, errlen, "cannot sign the CA certificate");
		goto out;
	}

	/* Key first: a ca.pem without its key is useless, a key without ca.pem is removed. */
	if (!write_pem(keypath, NULL, key, 0600, err, errlen))
		goto out;
	key_written = 1;
	if (!write_pem(certpath, x, NULL, 0644, err, errlen))
		goto out;
	ok = 1;
out:
	if (!ok && key_written)
		unlink(keypath);
	X509_free(x);
	EVP_PKEY_free(key);
	X509_NAME_free(name);
	return ok;
}
