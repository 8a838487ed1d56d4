/*
 * The CA: the only module that loads the CA and RA keys and signs.
 *
 * Files under <repository>/ca/ (see ca.h): ca.pem, ca.key (0600), optional chain.pem, and
 * optionally an RA (ra.pem, ra.key) whose key then decrypts requests and signs CertReps.
 * ca/old/ (the previous CA after a rollover switch) and ca/next/ (a prepared rollover) hold
 * the same file names; each directory is one "generation". SCEP key transport (RFC 8894
 * §3.1: the request's messageData is enveloped to the CA or RA) needs RSA, so every key of
 * every generation must be RSA. Issuing and CRLs always use the current CA.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include "fileio.h"
#include "repo.h"
#include "scep.h"

#define CA_DIR		"ca"
#define CA_CERT_FILE	"ca.pem"
#define CA_KEY_FILE	"ca.key"
#define CA_CHAIN_FILE	"chain.pem"
#define CA_RA_CERT_FILE	"ra.pem"
#define CA_RA_KEY_FILE	"ra.key"
#define CA_OLD_DIR	"old"
#define CA_NEXT_DIR	"next"
#define CA_NEXT_TMP	"next.tmp"	/* ca_rollover_prepare builds here, then renames */
#define CA_SWITCH_MARK	"switching"	/* ca_rollover_switch in progress: "1" or "2" */

#define CLOCK_SKEW_SECS	(5 * 60)	/* notBefore is backdated by this much */
#define MIN_CA_BITS	2048
#define MAX_CA_BITS	8192
#define MAX_DAYS	36500		/* validity of any certificate we make */
#define MAX_DN_LEN	1024		/* ca_parse_dn input */
#define MAX_SERIAL_HEX	40		/* 20 octets, RFC 5280 §4.1.2.2 */
#define CA_SERIAL_LEN	16		/* random serial of a CA or RA we make */
#define MAX_CRL_ENTRIES	10000000	/* revoked certificates in one CRL */
#define DEFAULT_KU	(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT)
#define DEFAULT_EKU	"clientAuth,serverAuth"
#define SCEP_KU		(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT)
#define MS_CRA_OID	"1.3.6.1.4.1.311.20.2.1"	/* Microsoft Certificate Request Agent */
#define RA_EKU		"serverAuth," MS_CRA_OID

/* The files of one generation, in the order a rollover switch moves them. */
static const char *const gen_files[] = {
	CA_CERT_FILE, CA_KEY_FILE, CA_CHAIN_FILE, CA_RA_CERT_FILE, CA_RA_KEY_FILE,
};
#define NGEN_FILES	(sizeof(gen_files) / sizeof(gen_files[0]))

/* One generation: ca/, ca/old/ or ca/next/. cert == NULL: absent. */
struct ca_gen {
	X509		*cert;		/* the CA certificate */
	EVP_PKEY	*key;
	X509		*ra;		/* RA mode: the RA certificate, else NULL */
	EVP_PKEY	*ra_key;
	STACK_OF(X509)	*certs;		/* [ra, cert, chain...], each an owned reference */
	STACK_OF(X509)	*noroot;	/* certs without a self-signed chain top (not owned) */
};

struct ca {
	struct ca_gen	 cur, old, next;
	int		 include_root;	/* GetCACert/GetNextCACert: certs (1) or noroot (0) */
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

/* ROOT/ca[/SUB][/NAME] into buf. 1 ok, 0 if too long. */
static int
gen_path(char *buf, size_t len, const char *root, const char *sub, const char *name)
{
	int	n;

	n = snprintf(buf, len, "%s/" CA_DIR "%s%s%s%s", root, sub != NULL ? "/" : "",
	    sub != NULL ? sub : "", name != NULL ? "/" : "", name != NULL ? name : "");
	return n >= 0 && (size_t)n < len;
}

/* ROOT/ca/NAME into buf. 1 ok, 0 if too long. */
static int
ca_path(char *buf, size_t len, const char *root, const char *name)
{
	return gen_path(buf, len, root, NULL, name);
}

/* Does PATH exist? Anything but ENOENT counts as present (opening it reports the error). */
static int
present(const char *path)
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

static X509 *
read_cert(const char *path, char *err, size_t errlen)
{
	BIO	*b = NULL;
	X509	*x = NULL;

	if ((b = BIO_new_file(path, "r")) == NULL) {
		ca_err(err, errlen, "cannot open %s", path);
		goto out;
	}
	if ((x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) == NULL)
		ca_err(err, errlen, "cannot read a PEM certificate from %s", path);
out:
	BIO_free(b);
	return x;
}

/* An unencrypted PEM private key. WARN_MODE: warn if group or others may read it. */
static EVP_PKEY *
read_key(const char *path, int warn_mode, char *err, size_t errlen)
{
	BIO		*b = NULL;
	EVP_PKEY	*k = NULL;
	struct stat	 st;

	if ((b = BIO_new_file(path, "r")) == NULL) {
		ca_err(err, errlen, "cannot open %s", path);
		goto out;
	}
	if (warn_mode && stat(path, &st) == 0 && (st.st_mode & 077) != 0)
		logx(LOG_LVL_WARN, "%s is accessible by group or others (mode %03o)", path,
		    (unsigned)(st.st_mode & 0777));
	if ((k = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL)) == NULL)
		ca_err(err, errlen, "cannot read a PEM private key (unencrypted) from %s", path);
out:
	BIO_free(b);
	return k;
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
		if ((x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) == NULL) {
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

/* Did ISSUER issue X: names, AKI and keyUsage (X509_check_issued) and the signature. */
static int
issued_by(X509 *issuer, X509 *x)
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
static int
has_ku(X509 *x, uint32_t bits)
{
	return (X509_get_extension_flags(x) & EXFLAG_KUSAGE) != 0 &&
	    (X509_get_key_usage(x) & bits) == bits;
}

/* Is X self-signed (names, AKI and a signature that verifies with its own key)? */
static int
self_signed(X509 *x)
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
static int
check_ra(enum log_level lvl, X509 *ra, EVP_PKEY *rakey, X509 *ca, const char *rapath,
    const char *keypath, const char *capath, char *err, size_t errlen)
{
	if (EVP_PKEY_get_base_id(rakey) != EVP_PKEY_RSA) {
		ca_errl(lvl, err, errlen, "%s is not an RSA key (SCEP key transport needs RSA)",
		    keypath);
		return 0;
	}
	if (X509_check_private_key(ra, rakey) != 1) {
		ERR_clear_error();
		ca_errl(lvl, err, errlen, "%s does not match %s", keypath, rapath);
		return 0;
	}
	if (X509_check_ca(ra) != 0) {
		ca_errl(lvl, err, errlen, "%s is a CA certificate: an RA must be an end entity "
		    "(basicConstraints CA:FALSE)", rapath);
		return 0;
	}
	if (!issued_by(ca, ra)) {
		ca_errl(lvl, err, errlen, "%s was not issued by %s", rapath, capath);
		return 0;
	}
	if (!has_ku(ra, SCEP_KU)) {
		ca_errl(lvl, err, errlen, "%s: an RA needs keyUsage digitalSignature and "
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
		ca_err(err, errlen, "out of memory");
		return 0;
	}
	if (g->ra != NULL && (!X509_up_ref(g->ra) || !sk_X509_push(g->certs, g->ra))) {
		ca_err(err, errlen, "out of memory");
		return 0;
	}
	if (!X509_up_ref(g->cert) || !sk_X509_push(g->certs, g->cert)) {
		ca_err(err, errlen, "out of memory");
		return 0;
	}
	/* The CA, then its issuers nearest first; each must issue the one before it. */
	prev = g->cert;
	while (sk_X509_num(chain) > 0) {
		x = sk_X509_shift(chain);
		if (!sk_X509_push(g->certs, x)) {
			X509_free(x);
			ca_err(err, errlen, "out of memory");
			return 0;
		}
		if (X509_check_issued(x, prev) != X509_V_OK) {
			ca_err(err, errlen, "%s: certificate %d did not issue the one before it "
			    "(order must be nearest issuer first)", chainpath,
			    sk_X509_num(g->certs) - (g->ra != NULL ? 2 : 1));
			return 0;
		}
		prev = x;
	}
	/* Without the root: drop a self-signed top of chain.pem, never ca.pem itself. */
	if ((g->noroot = sk_X509_dup(g->certs)) == NULL) {
		ca_err(err, errlen, "out of memory");
		return 0;
	}
	n = sk_X509_num(g->noroot);
	if (prev != g->cert && self_signed(prev))
		(void)sk_X509_delete(g->noroot, n - 1);
	return 1;
}

static void
gen_free(struct ca_gen *g)
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
 * (optional, in order) and ra.pem + ra.key (optional, both or neither, check_ra()).
 */
static int
load_gen(const char *root, const char *sub, struct ca_gen *g, char *err, size_t errlen)
{
	STACK_OF(X509)	*chain = NULL;
	char		 cpath[MAX_PATH_LEN], kpath[MAX_PATH_LEN], path[MAX_PATH_LEN];
	char		 rpath[MAX_PATH_LEN], rkpath[MAX_PATH_LEN];
	int		 ok = 0, have_rc, have_rk;

	memset(g, 0, sizeof(*g));
	if (!gen_path(cpath, sizeof(cpath), root, sub, CA_CERT_FILE) ||
	    !gen_path(kpath, sizeof(kpath), root, sub, CA_KEY_FILE) ||
	    !gen_path(path, sizeof(path), root, sub, CA_CHAIN_FILE) ||
	    !gen_path(rpath, sizeof(rpath), root, sub, CA_RA_CERT_FILE) ||
	    !gen_path(rkpath, sizeof(rkpath), root, sub, CA_RA_KEY_FILE)) {
		ca_err(err, errlen, "repository path too long");
		goto out;
	}
	if ((chain = sk_X509_new_null()) == NULL) {
		ca_err(err, errlen, "out of memory");
		goto out;
	}

	if ((g->cert = read_cert(cpath, err, errlen)) == NULL)
		goto out;
	if (X509_check_ca(g->cert) < 1) {
		ca_err(err, errlen, "%s is not a CA certificate (basicConstraints CA:TRUE and "
		    "keyUsage keyCertSign needed)", cpath);
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(g->cert)) <= 0)
		logx(sub == NULL ? LOG_LVL_WARN : LOG_LVL_DEBUG, "%s has expired", cpath);

	if ((g->key = read_key(kpath, 1, err, errlen)) == NULL)
		goto out;
	if (EVP_PKEY_get_base_id(g->key) != EVP_PKEY_RSA) {
		ca_err(err, errlen, "%s is not an RSA key (SCEP key transport needs RSA)", kpath);
		goto out;
	}
	if (X509_check_private_key(g->cert, g->key) != 1) {
		ca_err(err, errlen, "%s does not match %s", kpath, cpath);
		goto out;
	}
	if (!read_chain(path, chain, err, errlen))
		goto out;

	have_rc = present(rpath);
	have_rk = present(rkpath);
	if (have_rc != have_rk) {
		ca_err(err, errlen, "%s is present but %s is not (an RA needs both)",
		    have_rc ? rpath : rkpath, have_rc ? rkpath : rpath);
		goto out;
	}
	if (have_rc) {
		if ((g->ra = read_cert(rpath, err, errlen)) == NULL ||
		    (g->ra_key = read_key(rkpath, 1, err, errlen)) == NULL)
			goto out;
		if (!check_ra(LOG_LVL_ERR, g->ra, g->ra_key, g->cert, rpath, rkpath, cpath,
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
		gen_free(g);
	return ok;
}

struct ca *
ca_load(const char *root, char *err, size_t errlen)
{
	struct ca	*ca = NULL, *ret = NULL;
	char		 path[MAX_PATH_LEN];

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((ca = calloc(1, sizeof(*ca))) == NULL) {
		ca_err(err, errlen, "out of memory");
		goto out;
	}
	ca->include_root = 1;
	if (!ca_path(path, sizeof(path), root, CA_SWITCH_MARK)) {
		ca_err(err, errlen, "repository path too long");
		goto out;
	}
	if (present(path)) {
		ca_err(err, errlen, "a CA rollover switch was interrupted (%s exists): run "
		    "\"scep-admin rollover switch\" again to finish it", path);
		goto out;
	}
	if (!load_gen(root, NULL, &ca->cur, err, errlen))
		goto out;
	if (!gen_path(path, sizeof(path), root, CA_OLD_DIR, NULL) ||
	    (present(path) && !load_gen(root, CA_OLD_DIR, &ca->old, err, errlen)))
		goto out;
	if (!gen_path(path, sizeof(path), root, CA_NEXT_DIR, NULL) ||
	    (present(path) && !load_gen(root, CA_NEXT_DIR, &ca->next, err, errlen)))
		goto out;
	ret = ca;
	ca = NULL;
out:
	ca_free(ca);
	return ret;
}

void
ca_free(struct ca *ca)
{
	if (ca == NULL)
		return;
	gen_free(&ca->cur);
	gen_free(&ca->old);
	gen_free(&ca->next);
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

X509 *
ca_issuer_of(const struct ca *ca, X509 *x)
{
	if (x == NULL)
		return NULL;
	if (ca->cur.cert != NULL && issued_by(ca->cur.cert, x))
		return ca->cur.cert;
	if (ca->old.cert != NULL && issued_by(ca->old.cert, x))
		return ca->old.cert;
	return NULL;
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
	if (X509_cmp_current_time(X509_get0_notAfter(ca->cur.cert)) <= 0) {
		ca_err(err, errlen, "the CA certificate has expired");
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
		ca_err(err, errlen, "cannot build the certificate");
		goto out;
	}
	/* Never outlive the CA, never start before it. */
	if (ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(ca->cur.cert)) > 0 &&
	    !X509_set1_notAfter(x, X509_get0_notAfter(ca->cur.cert))) {
		ca_err(err, errlen, "cannot set notAfter");
		goto out;
	}
	if (ASN1_TIME_compare(X509_get0_notBefore(x), X509_get0_notBefore(ca->cur.cert)) < 0 &&
	    !X509_set1_notBefore(x, X509_get0_notBefore(ca->cur.cert))) {
		ca_err(err, errlen, "cannot set notBefore");
		goto out;
	}

	/* End-entity profile (RFC 5280 §4.2); nothing else of the request is copied. */
	X509V3_set_ctx(&ctx, ca->cur.cert, x, NULL, NULL, 0);
	aki = X509_get0_subject_key_id(ca->cur.cert) != NULL ? "keyid" : "keyid,issuer";
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

	if (X509_sign(x, ca->cur.key, EVP_sha256()) <= 0) {
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
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cur.cert)) ||
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
	X509V3_set_ctx(&ctx, ca->cur.cert, NULL, NULL, crl, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
	    X509_get0_subject_key_id(ca->cur.cert) != NULL ? "keyid:always" :
	    "issuer:always")) == NULL ||
	    !X509_CRL_add_ext(crl, ext, -1) ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1) {
		ca_err(err, errlen, "cannot add CRL extensions");
		goto out;
	}
	if (X509_CRL_sign(crl, ca->cur.key, EVP_sha256()) <= 0) {
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


/*
 * PEM of X (a certificate), K (a private key, PKCS#8) or SK (certificates) into a
 * repository file written atomically.
 */
static int
write_pem(const char *path, X509 *x, EVP_PKEY *k, STACK_OF(X509) *sk, int mode, char *err,
    size_t errlen)
{
	BIO	*b = NULL;
	char	*data;
	long	 len;
	int	 ok = 0, i;

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
	for (i = 0; sk != NULL && i < sk_X509_num(sk); i++)
		if (!PEM_write_bio_X509(b, sk_X509_value(sk, i))) {
			ca_err(err, errlen, "cannot encode %s", path);
			goto out;
		}
	if ((len = BIO_get_mem_data(b, &data)) <= 0) {
		ca_err(err, errlen, "cannot encode %s", path);
		goto out;
	}
	if (write_file(path, data, (size_t)len, mode, NULL, 0) != 1) {
		ca_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	ok = 1;
out:
	BIO_free(b);
	return ok;
}

/* mkdir DIR 0700 unless it exists; it must be a directory; mode forced to 0700. */
static int
ensure_dir(const char *dir, char *err, size_t errlen)
{
	struct stat	st;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		ca_err(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return 0;
	}
	if (lstat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		ca_err(err, errlen, "%s is not a directory", dir);
		return 0;
	}
	if (chmod(dir, 0700) == -1) {
		ca_err(err, errlen, "cannot chmod %s: %s", dir, strerror(errno));
		return 0;
	}
	return 1;
}

/* Remove DIR and the files in it (no subdirectories expected). Absent: 1. */
static int
remove_dir(const char *dir, char *err, size_t errlen)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[MAX_PATH_LEN];
	int		 tries;

	for (tries = 0; tries < 3; tries++) {
		if ((d = opendir(dir)) == NULL) {
			if (errno == ENOENT)
				return 1;
			ca_err(err, errlen, "cannot read %s: %s", dir, strerror(errno));
			return 0;
		}
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
			    (int)sizeof(path) || (unlink(path) == -1 && errno != ENOENT)) {
				ca_err(err, errlen, "cannot remove %s: %s", path,
				    strerror(errno));
				closedir(d);
				return 0;
			}
		}
		closedir(d);
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 1;
		if (errno != ENOTEMPTY && errno != EEXIST)
			break;
	}
	ca_err(err, errlen, "cannot remove %s: %s", dir, strerror(errno));
	return 0;
}

static int
check_params(int bits, int days, char *err, size_t errlen)
{
	if (bits < MIN_CA_BITS || bits > MAX_CA_BITS) {
		ca_bad(err, errlen, "key size %d is out of range %d..%d", bits, MIN_CA_BITS,
		    MAX_CA_BITS);
		return 0;
	}
	if (days < 1 || days > MAX_DAYS) {
		ca_bad(err, errlen, "validity of %d days is out of range 1..%d", days, MAX_DAYS);
		return 0;
	}
	return 1;
}

/* 1 unless ca/switching exists (an interrupted switch must be finished first). */
static int
no_switch_pending(const char *root, char *err, size_t errlen)
{
	char	path[MAX_PATH_LEN];

	if (!ca_path(path, sizeof(path), root, CA_SWITCH_MARK)) {
		ca_err(err, errlen, "repository path too long");
		return 0;
	}
	if (present(path)) {
		ca_bad(err, errlen, "a rollover switch was interrupted (%s exists): run "
		    "\"scep-admin rollover switch\" to finish it first", path);
		return 0;
	}
	return 1;
}

/* 1 if ROOT/ca/ca.pem exists, else 0 with "no CA" in err. */
static int
have_ca(const char *root, char *err, size_t errlen)
{
	char	path[MAX_PATH_LEN];

	if (!ca_path(path, sizeof(path), root, CA_CERT_FILE)) {
		ca_err(err, errlen, "repository path too long");
		return 0;
	}
	if (!present(path)) {
		ca_bad(err, errlen, "no CA (%s does not exist): make one with init or import "
		    "one first", path);
		return 0;
	}
	return 1;
}

/* X's validity period in whole days (at least 1, at most MAX_DAYS). */
static int
validity_days(X509 *x)
{
	int	days = 0, secs = 0;

	if (!ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)))
		return 365;
	if (days < 1)
		return 1;
	return days > MAX_DAYS ? MAX_DAYS : days;
}

/* A key size within MIN_CA_BITS..MAX_CA_BITS near that of K. */
static int
bits_like(EVP_PKEY *k)
{
	int	bits = EVP_PKEY_get_bits(k);

	return bits < MIN_CA_BITS ? MIN_CA_BITS : bits > MAX_CA_BITS ? MAX_CA_BITS : bits;
}

/*
 * A self-signed CA certificate for KEY: SUBJECT, DAYS, keyUsage keyCertSign, cRLSign,
 * digitalSignature, keyEncipherment (critical), basicConstraints CA:TRUE (critical), SKI,
 * AKI, random serial, SHA-256.
 */
static X509 *
make_ca_cert(X509_NAME *name, EVP_PKEY *key, int days, char *err, size_t errlen)
{
	X509		*x = NULL;
	X509V3_CTX	 ctx;

	if ((x = X509_new()) == NULL ||
	    !X509_set_version(x, 2) ||
	    !random_serial(x) ||
	    !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, name) ||
	    !X509_set_pubkey(x, key) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -CLOCK_SKEW_SECS) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL) {
		ca_err(err, errlen, "cannot build the CA certificate");
		goto fail;
	}
	/* RFC 5280 §4.2.1.9, §4.2.1.3: a CA; keyEncipherment for SCEP key transport. */
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (!add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") ||
	    !add_ext(x, &ctx, NID_key_usage,
	    "critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment") ||
	    !add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
	    !add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always")) {
		ca_err(err, errlen, "cannot add CA extensions");
		goto fail;
	}
	if (X509_sign(x, key, EVP_sha256()) <= 0) {
		ca_err(err, errlen, "cannot sign the CA certificate");
		goto fail;
	}
	return x;
fail:
	X509_free(x);
	return NULL;
}

/*
 * An RA certificate for RAKEY issued by CACERT/CAKEY: SUBJECT, DAYS (within the CA's
 * validity), basicConstraints CA:FALSE, keyUsage digitalSignature + keyEncipherment (both
 * critical), extendedKeyUsage serverAuth + Microsoft Certificate Request Agent (Windows and
 * Intune want one of them), SKI, AKI, random serial, SHA-256.
 */
static X509 *
make_ra_cert(X509_NAME *name, EVP_PKEY *rakey, X509 *cacert, EVP_PKEY *cakey, int days,
    char *err, size_t errlen)
{
	X509		*x = NULL;
	X509V3_CTX	 ctx;
	const char	*aki;

	if ((x = X509_new()) == NULL ||
	    !X509_set_version(x, 2) ||
	    !random_serial(x) ||
	    !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(cacert)) ||
	    !X509_set_pubkey(x, rakey) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -CLOCK_SKEW_SECS) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL) {
		ca_err(err, errlen, "cannot build the RA certificate");
		goto fail;
	}
	if ((ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(cacert)) > 0 &&
	    !X509_set1_notAfter(x, X509_get0_notAfter(cacert))) ||
	    (ASN1_TIME_compare(X509_get0_notBefore(x), X509_get0_notBefore(cacert)) < 0 &&
	    !X509_set1_notBefore(x, X509_get0_notBefore(cacert)))) {
		ca_err(err, errlen, "cannot set the RA validity");
		goto fail;
	}
	X509V3_set_ctx(&ctx, cacert, x, NULL, NULL, 0);
	aki = X509_get0_subject_key_id(cacert) != NULL ? "keyid" : "keyid,issuer";
	if (!add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
	    !add_ext(x, &ctx, NID_ext_key_usage, RA_EKU) ||
	    !add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
	    !add_ext(x, &ctx, NID_authority_key_identifier, aki)) {
		ca_err(err, errlen, "cannot add RA extensions");
		goto fail;
	}
	if (X509_sign(x, cakey, EVP_sha256()) <= 0) {
		ca_err(err, errlen, "cannot sign the RA certificate");
		goto fail;
	}
	return x;
fail:
	X509_free(x);
	return NULL;
}

/*
 * Write KEY (0600) to ROOT/ca[/SUB]/KEYNAME, then X (0644) to CERTNAME and CHAIN (if not
 * NULL) to chain.pem. Key first: a certificate without its key is useless, and a key whose
 * certificate could not be written is removed again.
 */
static int
write_set(const char *root, const char *sub, const char *keyname, const char *certname,
    EVP_PKEY *key, X509 *x, STACK_OF(X509) *chain, char *err, size_t errlen)
{
	char	kpath[MAX_PATH_LEN], cpath[MAX_PATH_LEN], chpath[MAX_PATH_LEN];
	int	stage = 0;

	if (!gen_path(kpath, sizeof(kpath), root, sub, keyname) ||
	    !gen_path(cpath, sizeof(cpath), root, sub, certname) ||
	    !gen_path(chpath, sizeof(chpath), root, sub, CA_CHAIN_FILE)) {
		ca_err(err, errlen, "repository path too long");
		return 0;
	}
	if (!write_pem(kpath, NULL, key, NULL, 0600, err, errlen))
		goto fail;
	stage = 1;
	if (!write_pem(cpath, x, NULL, NULL, 0644, err, errlen))
		goto fail;
	stage = 2;
	if (chain != NULL && sk_X509_num(chain) > 0 &&
	    !write_pem(chpath, NULL, NULL, chain, 0644, err, errlen))
		goto fail;
	return 1;
fail:
	if (stage >= 2)
		(void)unlink(cpath);
	if (stage >= 1)
		(void)unlink(kpath);
	return 0;
}

/* A new RSA key and RA certificate issued by CACERT/CAKEY, written to ROOT/ca[/SUB]. */
static int
create_ra(const char *root, const char *sub, X509_NAME *name, int bits, int days,
    X509 *cacert, EVP_PKEY *cakey, char *err, size_t errlen)
{
	EVP_PKEY	*key = NULL;
	X509		*x = NULL;
	int		 ok = 0;

	if (X509_cmp_current_time(X509_get0_notAfter(cacert)) <= 0) {
		ca_bad(err, errlen, "the CA certificate has expired");
		goto out;
	}
	if ((key = EVP_RSA_gen((unsigned int)bits)) == NULL) {
		ca_err(err, errlen, "cannot generate an RSA key of %d bits", bits);
		goto out;
	}
	if ((x = make_ra_cert(name, key, cacert, cakey, days, err, errlen)) == NULL)
		goto out;
	if (!check_ra(LOG_LVL_ERR, x, key, cacert, "the new RA certificate", "its key",
	    "the CA", err, errlen))
		goto out;
	ok = write_set(root, sub, CA_RA_KEY_FILE, CA_RA_CERT_FILE, key, x, NULL, err,
	    errlen);
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return ok;
}

int
ca_init(const char *root, const char *subject, int bits, int days, char *err, size_t errlen)
{
	X509_NAME	*name = NULL;
	EVP_PKEY	*key = NULL;
	X509		*x = NULL;
	char		 dir[MAX_PATH_LEN], keypath[MAX_PATH_LEN];
	int		 ok = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (!check_params(bits, days, err, errlen))
		goto out;
	if ((name = ca_parse_dn(subject, err, errlen)) == NULL)
		goto out;
	if (!ca_path(dir, sizeof(dir), root, NULL) ||
	    !ca_path(keypath, sizeof(keypath), root, CA_KEY_FILE)) {
		ca_err(err, errlen, "repository path too long");
		goto out;
	}
	if (!ensure_dir(dir, err, errlen))
		goto out;
	if (present(keypath)) {
		ca_bad(err, errlen, "%s exists: refusing to replace a CA key", keypath);
		goto out;
	}
	if ((key = EVP_RSA_gen((unsigned int)bits)) == NULL) {
		ca_err(err, errlen, "cannot generate an RSA key of %d bits", bits);
		goto out;
	}
	if ((x = make_ca_cert(name, key, days, err, errlen)) == NULL)
		goto out;
	ok = write_set(root, NULL, CA_KEY_FILE, CA_CERT_FILE, key, x, NULL, err, errlen);
out:
	X509_free(x);
	EVP_PKEY_free(key);
	X509_NAME_free(name);
	return ok;
}

int
ca_init_ra(const char *root, const char *subject, int bits, int days, char *err,
    size_t errlen)
{
	struct ca_gen	 g = { 0 };
	X509_NAME	*name = NULL;
	char		 rpath[MAX_PATH_LEN], rkpath[MAX_PATH_LEN];
	int		 ok = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (!check_params(bits, days, err, errlen))
		goto out;
	if ((name = ca_parse_dn(subject, err, errlen)) == NULL)
		goto out;
	if (!ca_path(rpath, sizeof(rpath), root, CA_RA_CERT_FILE) ||
	    !ca_path(rkpath, sizeof(rkpath), root, CA_RA_KEY_FILE)) {
		ca_err(err, errlen, "repository path too long");
		goto out;
	}
	if (present(rkpath) || present(rpath)) {
		ca_bad(err, errlen, "%s exists: refusing to replace the RA",
		    present(rkpath) ? rkpath : rpath);
		goto out;
	}
	if (!no_switch_pending(root, err, errlen) || !have_ca(root, err, errlen) ||
	    !load_gen(root, NULL, &g, err, errlen))
		goto out;
	ok = create_ra(root, NULL, name, bits, days, g.cert, g.key, err, errlen);
out:
	gen_free(&g);
	X509_NAME_free(name);
	return ok;
}

/* Does X's extendedKeyUsage name serverAuth or Microsoft's Certificate Request Agent? */
static int
has_ra_eku(X509 *x)
{
	EXTENDED_KEY_USAGE	*eku;
	char			 txt[80];
	int			 i, found = 0;

	if ((eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	for (i = 0; i < sk_ASN1_OBJECT_num(eku) && !found; i++) {
		ASN1_OBJECT *o = sk_ASN1_OBJECT_value(eku, i);

		found = OBJ_obj2nid(o) == NID_server_auth ||
		    (OBJ_obj2txt(txt, sizeof(txt), o, 1) > 0 && strcmp(txt, MS_CRA_OID) == 0);
	}
	EXTENDED_KEY_USAGE_free(eku);
	return found;
}

/* The warning of ca_import: a CA that is also the SCEP certificate needs dS + kE. */
static void
warn_scep_ku(X509 *x, const char *path)
{
	if (!has_ku(x, SCEP_KU))
		logx(LOG_LVL_WARN, "%s has no keyUsage digitalSignature and keyEncipherment: "
		    "without an RA, SCEP clients (Apple, jscep, Windows) refuse it; add an RA "
		    "with \"scep-admin ra\" or \"scep-admin import --ra\"", path);
}

/*
 * Read a CA to import: CERT_PEM (basicConstraints CA:TRUE, keyCertSign, not expired),
 * KEY_PEM (RSA, matching), CHAIN_PEM (optional: CA certificates, nearest issuer first).
 */
static int
read_import_ca(const char *cert_pem, const char *key_pem, const char *chain_pem, X509 **xp,
    EVP_PKEY **kp, STACK_OF(X509) **chp, char *err, size_t errlen)
{
	X509		*x = NULL, *prev, *c;
	EVP_PKEY	*k = NULL;
	STACK_OF(X509)	*chain = NULL;
	int		 i, ok = 0;

	if ((chain = sk_X509_new_null()) == NULL) {
		ca_err(err, errlen, "out of memory");
		goto out;
	}
	if ((x = read_cert(cert_pem, err, errlen)) == NULL ||
	    (k = read_key(key_pem, 0, err, errlen)) == NULL)
		goto out;
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
		ca_bad(err, errlen, "%s is not an RSA key (SCEP key transport needs RSA)",
		    key_pem);
		goto out;
	}
	if (X509_check_private_key(x, k) != 1) {
		ERR_clear_error();
		ca_bad(err, errlen, "%s does not match %s", key_pem, cert_pem);
		goto out;
	}
	if (!(X509_get_extension_flags(x) & EXFLAG_CA)) {
		ca_bad(err, errlen, "%s is not a CA certificate (basicConstraints CA:TRUE "
		    "needed)", cert_pem);
		goto out;
	}
	if (!(X509_get_extension_flags(x) & EXFLAG_KUSAGE) ||
	    !(X509_get_key_usage(x) & KU_KEY_CERT_SIGN)) {
		ca_bad(err, errlen, "%s: a CA needs keyUsage keyCertSign", cert_pem);
		goto out;
	}
	if (X509_check_ca(x) != 1) {
		ca_bad(err, errlen, "%s cannot be used as a CA certificate", cert_pem);
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		ca_bad(err, errlen, "%s has expired", cert_pem);
		goto out;
	}
	if (chain_pem != NULL) {
		if (!present(chain_pem)) {
			ca_bad(err, errlen, "cannot open %s: %s", chain_pem, strerror(ENOENT));
			goto out;
		}
		if (!read_chain(chain_pem, chain, err, errlen))
			goto out;
		prev = x;
		for (i = 0; i < sk_X509_num(chain); i++) {
			c = sk_X509_value(chain, i);
			if (X509_check_ca(c) < 1) {
				ca_bad(err, errlen, "%s: certificate %d is not a CA certificate",
				    chain_pem, i + 1);
				goto out;
			}
			if (!issued_by(c, prev)) {
				ca_bad(err, errlen, "%s: certificate %d did not issue the one before "
				    "it (order must be nearest issuer first)", chain_pem, i + 1);
				goto out;
			}
			prev = c;
		}
	} else if (!self_signed(x))
		logx(LOG_LVL_WARN, "%s is not self-signed and no chain was given: clients "
		    "will not get its issuers (pass --chain)", cert_pem);
	*xp = x;
	*kp = k;
	*chp = chain;
	x = NULL;
	k = NULL;
	chain = NULL;
	ok = 1;
out:
	X509_free(x);
	EVP_PKEY_free(k);
	sk_X509_pop_free(chain, X509_free);
	return ok;
}

static int
import_ra(const char *root, const char *cert_pem, const char *key_pem, const char *chain_pem,
    char *err, size_t errlen)
{
	struct ca_gen	 g = { 0 };
	X509		*x = NULL;
	EVP_PKEY	*k = NULL;
	char		 rpath[MAX_PATH_LEN], rkpath[MAX_PATH_LEN], cpath[MAX_PATH_LEN];
	int		 ok = 0;

	if (chain_pem != NULL) {
		ca_bad(err, errlen, "an RA is imported without a chain (its issuer is ca.pem)");
		goto out;
	}
	if (!ca_path(rpath, sizeof(rpath), root, CA_RA_CERT_FILE) ||
	    !ca_path(rkpath, sizeof(rkpath), root, CA_RA_KEY_FILE) ||
	    !ca_path(cpath, sizeof(cpath), root, CA_CERT_FILE)) {
		ca_err(err, errlen, "repository path too long");
		goto out;
	}
	if (present(rkpath) || present(rpath)) {
		ca_bad(err, errlen, "%s exists: refusing to replace the RA",
		    present(rkpath) ? rkpath : rpath);
		goto out;
	}
	if (!no_switch_pending(root, err, errlen) || !have_ca(root, err, errlen) ||
	    !load_gen(root, NULL, &g, err, errlen))
		goto out;
	if ((x = read_cert(cert_pem, err, errlen)) == NULL ||
	    (k = read_key(key_pem, 0, err, errlen)) == NULL)
		goto out;
	if (!check_ra(LOG_LVL_DEBUG, x, k, g.cert, cert_pem, key_pem, cpath, err, errlen))
		goto out;
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		ca_bad(err, errlen, "%s has expired", cert_pem);
		goto out;
	}
	if (!has_ra_eku(x))
		logx(LOG_LVL_WARN, "%s has no extendedKeyUsage serverAuth or Certificate "
		    "Request Agent (" MS_CRA_OID "): Windows and Intune refuse such an RA",
		    cert_pem);
	ok = write_set(root, NULL, CA_RA_KEY_FILE, CA_RA_CERT_FILE, k, x, NULL, err, errlen);
out:
	X509_free(x);
	EVP_PKEY_free(k);
	gen_free(&g);
	return ok;
}

int
ca_import(const char *root, const char *cert_pem, const char *key_pem,
    const char *chain_pem, int is_ra, char *err, size_t errlen)
{
	X509		*x = NULL;
	EVP_PKEY	*k = NULL;
	STACK_OF(X509)	*chain = NULL;
	char		 dir[MAX_PATH_LEN], path[MAX_PATH_LEN];
	size_t		 i;
	int		 ok = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (cert_pem == NULL || key_pem == NULL) {
		ca_bad(err, errlen, "a certificate and a key are needed");
		goto out;
	}
	if (is_ra) {
		ok = import_ra(root, cert_pem, key_pem, chain_pem, err, errlen);
		goto out;
	}
	if (!read_import_ca(cert_pem, key_pem, chain_pem, &x, &k, &chain, err, errlen))
		goto out;
	if (!ca_path(dir, sizeof(dir), root, NULL)) {
		ca_err(err, errlen, "repository path too long");
		goto out;
	}
	if (!ensure_dir(dir, err, errlen))
		goto out;
	/* Only into an empty ca/: replacing a CA is a rollover. */
	for (i = 0; i < NGEN_FILES; i++) {
		if (!ca_path(path, sizeof(path), root, gen_files[i])) {
			ca_err(err, errlen, "repository path too long");
			goto out;
		}
		if (present(path)) {
			ca_bad(err, errlen, "%s exists: refusing to replace a CA (use \"scep-admin "
			    "rollover\" to change the CA)", path);
			goto out;
		}
	}
	warn_scep_ku(x, cert_pem);
	ok = write_set(root, NULL, CA_KEY_FILE, CA_CERT_FILE, k, x, chain, err, errlen);
out:
	X509_free(x);
	EVP_PKEY_free(k);
	sk_X509_pop_free(chain, X509_free);
	return ok;
}

/*
 * Start a rollover: the current generation loads (into CUR), no switch is in progress, no
 * ca/next/ exists; an empty ca/next.tmp/ is made (a leftover of a failed prepare removed).
 */
static int
prepare_begin(const char *root, struct ca_gen *cur, char *err, size_t errlen)
{
	char	path[MAX_PATH_LEN];

	if (!no_switch_pending(root, err, errlen) || !load_gen(root, NULL, cur, err, errlen))
		return 0;
	if (!gen_path(path, sizeof(path), root, CA_NEXT_DIR, NULL)) {
		ca_err(err, errlen, "repository path too long");
		return 0;
	}
	if (present(path)) {
		ca_bad(err, errlen, "%s exists: a rollover is already prepared (switch to it, "
		    "or remove the directory to prepare another)", path);
		return 0;
	}
	if (!gen_path(path, sizeof(path), root, CA_NEXT_TMP, NULL))
		return 0;
	return remove_dir(path, err, errlen) && ensure_dir(path, err, errlen);
}

/*
 * ca/next.tmp/ holds the next CA (ca.pem, ca.key, chain.pem): add a next RA when the current
 * generation CUR has one (same subject, key size and validity length, issued by the next
 * CA), check the whole generation loads, then rename next.tmp -> next.
 */
static int
prepare_finish(const char *root, const struct ca_gen *cur, char *err, size_t errlen)
{
	struct ca_gen	 ng = { 0 };
	char		 tmp[MAX_PATH_LEN], next[MAX_PATH_LEN], dir[MAX_PATH_LEN];
	int		 ok = 0;

	if (!gen_path(tmp, sizeof(tmp), root, CA_NEXT_TMP, NULL) ||
	    !gen_path(next, sizeof(next), root, CA_NEXT_DIR, NULL) ||
	    !ca_path(dir, sizeof(dir), root, NULL)) {
		ca_err(err, errlen, "repository path too long");
		goto out;
	}
	if (!load_gen(root, CA_NEXT_TMP, &ng, err, errlen))
		goto out;
	if (cur->ra != NULL) {
		if (!create_ra(root, CA_NEXT_TMP, X509_get_subject_name(cur->ra),
		    bits_like(cur->ra_key), validity_days(cur->ra), ng.cert, ng.key, err,
		    errlen))
			goto out;
		gen_free(&ng);
		if (!load_gen(root, CA_NEXT_TMP, &ng, err, errlen))
			goto out;
	}
	if (!fsync_dir(tmp, err, errlen))
		goto out;
	if (rename(tmp, next) == -1) {
		ca_err(err, errlen, "cannot rename %s to %s: %s", tmp, next, strerror(errno));
		goto out;
	}
	ok = fsync_dir(dir, err, errlen);
out:
	gen_free(&ng);
	return ok;
}

/* After a failed prepare: remove ca/next.tmp/, keeping the first error message. */
static void
prepare_abort(const char *root)
{
	char	path[MAX_PATH_LEN];

	if (gen_path(path, sizeof(path), root, CA_NEXT_TMP, NULL))
		(void)remove_dir(path, NULL, 0);
}

int
ca_rollover_prepare(const char *root, const char *subject, int bits, int days, char *err,
    size_t errlen)
{
	struct ca_gen	 cur = { 0 };
	X509_NAME	*name = NULL;
	EVP_PKEY	*key = NULL;
	X509		*x = NULL;
	int		 ok = 0, started = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (!no_switch_pending(root, err, errlen) || !load_gen(root, NULL, &cur, err, errlen))
		goto out;
	if (subject != NULL)
		name = ca_parse_dn(subject, err, errlen);
	else if ((name = X509_NAME_dup(X509_get_subject_name(cur.cert))) == NULL)
		ca_err(err, errlen, "out of memory");
	if (name == NULL)
		goto out;
	if (bits == 0)
		bits = bits_like(cur.key);
	if (days == 0)
		days = validity_days(cur.cert);
	if (!check_params(bits, days, err, errlen))
		goto out;
	gen_free(&cur);
	started = 1;
	if (!prepare_begin(root, &cur, err, errlen))
		goto out;
	if ((key = EVP_RSA_gen((unsigned int)bits)) == NULL) {
		ca_err(err, errlen, "cannot generate an RSA key of %d bits", bits);
		goto out;
	}
	if ((x = make_ca_cert(name, key, days, err, errlen)) == NULL ||
	    !write_set(root, CA_NEXT_TMP, CA_KEY_FILE, CA_CERT_FILE, key, x, NULL, err,
	    errlen) ||
	    !prepare_finish(root, &cur, err, errlen))
		goto out;
	ok = 1;
out:
	if (!ok && started)
		prepare_abort(root);
	X509_free(x);
	EVP_PKEY_free(key);
	X509_NAME_free(name);
	gen_free(&cur);
	return ok;
}

int
ca_rollover_import(const char *root, const char *cert_pem, const char *key_pem,
    const char *chain_pem, char *err, size_t errlen)
{
	struct ca_gen	 cur = { 0 };
	X509		*x = NULL;
	EVP_PKEY	*k = NULL;
	STACK_OF(X509)	*chain = NULL;
	int		 ok = 0, started = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (cert_pem == NULL || key_pem == NULL) {
		ca_bad(err, errlen, "a certificate and a key are needed");
		goto out;
	}
	if (!read_import_ca(cert_pem, key_pem, chain_pem, &x, &k, &chain, err, errlen))
		goto out;
	started = 1;
	if (!prepare_begin(root, &cur, err, errlen))
		goto out;
	if (X509_cmp(x, cur.cert) == 0) {
		ca_bad(err, errlen, "%s is the current CA certificate", cert_pem);
		goto out;
	}
	if (cur.ra == NULL)
		warn_scep_ku(x, cert_pem);
	if (!write_set(root, CA_NEXT_TMP, CA_KEY_FILE, CA_CERT_FILE, k, x, chain, err, errlen) ||
	    !prepare_finish(root, &cur, err, errlen))
		goto out;
	ok = 1;
out:
	if (!ok && started)
		prepare_abort(root);
	X509_free(x);
	EVP_PKEY_free(k);
	sk_X509_pop_free(chain, X509_free);
	gen_free(&cur);
	return ok;
}

/* Write the switch marker with PHASE ('1' or '2'). */
static int
write_mark(const char *path, char phase, char *err, size_t errlen)
{
	char	buf[2] = { phase, '\n' };

	if (write_file(path, buf, sizeof(buf), 0600, NULL, 0) != 1) {
		ca_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return 0;
	}
	return 1;
}

/* rename FROM/NAME -> TO/NAME for each generation file present in FROM. */
static int
move_gen(const char *from, const char *to, char *err, size_t errlen)
{
	char	src[MAX_PATH_LEN], dst[MAX_PATH_LEN];
	size_t	i;

	for (i = 0; i < NGEN_FILES; i++) {
		if (snprintf(src, sizeof(src), "%s/%s", from, gen_files[i]) >= (int)sizeof(src) ||
		    snprintf(dst, sizeof(dst), "%s/%s", to, gen_files[i]) >= (int)sizeof(dst)) {
			ca_err(err, errlen, "repository path too long");
			return 0;
		}
		if (rename(src, dst) == -1 && errno != ENOENT) {
			ca_err(err, errlen, "cannot rename %s to %s: %s", src, dst,
			    strerror(errno));
			return 0;
		}
	}
	return 1;
}

/*
 * ca/{ca.pem,ca.key,chain.pem,ra.pem,ra.key} -> ca/old/ (an older ca/old/ removed first),
 * then each file of ca/next/ -> ca/, one rename(2) per file, directories fsynced. The marker
 * ca/switching says how far it got ("1": moving to old/, "2": moving next/ in), so that
 * running it again after a crash finishes the job; ca_load() refuses while it exists.
 */
int
ca_rollover_switch(const char *root, char *err, size_t errlen)
{
	struct ca_gen	 cur = { 0 }, ng = { 0 };
	unsigned char	*buf = NULL;
	size_t		 len = 0;
	char		 dir[MAX_PATH_LEN], old[MAX_PATH_LEN], next[MAX_PATH_LEN];
	char		 mark[MAX_PATH_LEN];
	char		 phase;
	int		 ok = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (!ca_path(dir, sizeof(dir), root, NULL) ||
	    !gen_path(old, sizeof(old), root, CA_OLD_DIR, NULL) ||
	    !gen_path(next, sizeof(next), root, CA_NEXT_DIR, NULL) ||
	    !ca_path(mark, sizeof(mark), root, CA_SWITCH_MARK)) {
		ca_err(err, errlen, "repository path too long");
		goto out;
	}
	if (present(mark)) {
		if (!read_file(mark, &buf, &len, 16, NULL, 0) || len < 1 ||
		    (buf[0] != '1' && buf[0] != '2')) {
			ca_err(err, errlen, "%s is unreadable or damaged", mark);
			goto out;
		}
		phase = (char)buf[0];
		logx(LOG_LVL_WARN, "finishing an interrupted rollover switch (phase %c)", phase);
	} else {
		if (!present(next)) {
			ca_bad(err, errlen, "no rollover is prepared (%s does not exist)", next);
			goto out;
		}
		if (!load_gen(root, CA_NEXT_DIR, &ng, err, errlen))
			goto out;
		if (!load_gen(root, NULL, &cur, err, errlen))
			goto out;
		if (cur.ra != NULL && ng.ra == NULL) {
			ca_bad(err, errlen, "the current CA has an RA but %s has none: remove %s "
			    "and prepare the rollover again", next, next);
			goto out;
		}
		if (!remove_dir(old, err, errlen) || !fsync_dir(dir, err, errlen) ||
		    !ensure_dir(old, err, errlen) || !write_mark(mark, '1', err, errlen))
			goto out;
		phase = '1';
	}
	if (phase == '1') {
		if (!move_gen(dir, old, err, errlen) || !fsync_dir(old, err, errlen) ||
		    !fsync_dir(dir, err, errlen) || !write_mark(mark, '2', err, errlen))
			goto out;
		phase = '2';
	}
	if (present(next)) {
		if (!move_gen(next, dir, err, errlen) || !fsync_dir(next, err, errlen) ||
		    !fsync_dir(dir, err, errlen))
			goto out;
		if (rmdir(next) == -1 && errno != ENOENT) {
			ca_err(err, errlen, "cannot remove %s: %s", next, strerror(errno));
			goto out;
		}
	}
	if (unlink(mark) == -1 && errno != ENOENT) {
		ca_err(err, errlen, "cannot remove %s: %s", mark, strerror(errno));
		goto out;
	}
	ok = fsync_dir(dir, err, errlen);
out:
	free(buf);
	gen_free(&cur);
	gen_free(&ng);
	return ok;
}
