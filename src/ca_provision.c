/*
 * The provisioning CA: make, install and roll over the CA that the runtime (ca.c) loads.
 * scep-admin's init, ra, import and rollover commands call it; the server never does.
 *
 * Every file is written atomically (write_file), a key before its certificate (the key
 * store, ca_key.c, writes keys: a PEM file, or the URI of a key it generated in a token);
 * a directory is complete before it is renamed into place (ca/next.tmp/ -> ca/next/), and
 * a switch moves one file per rename(2) under the marker ca/switching, so that running it
 * again after a crash finishes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
#include "ca_internal.h"
#include "fileio.h"
#include "repo.h"
#include "scep.h"

#define MIN_CA_BITS	2048
#define MAX_CA_BITS	8192
#define MAX_DN_LEN	1024		/* ca_parse_dn input */
#define CA_SERIAL_LEN	16		/* random serial of a CA or RA we make */
#define MS_CRA_OID	"1.3.6.1.4.1.311.20.2.1"	/* Microsoft Certificate Request Agent */
#define RA_EKU		"serverAuth," MS_CRA_OID

/* The files of one generation, in the order a rollover switch moves them. */
static const char *const gen_files[] = {
	CA_CERT_FILE, CA_KEY_FILE, CA_KEY_URI_FILE, CA_CHAIN_FILE, CA_RA_CERT_FILE,
	CA_RA_KEY_FILE, CA_RA_KEY_URI_FILE,
};
#define NGEN_FILES	(sizeof(gen_files) / sizeof(gen_files[0]))

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
		errf(err, errlen, "a DN must start with '/' (\"/CN=name/O=org\")");
		goto out;
	}
	if (strlen(dn) > MAX_DN_LEN) {
		errf(err, errlen, "DN longer than %d bytes", MAX_DN_LEN);
		goto out;
	}
	if ((name = X509_NAME_new()) == NULL) {
		errf_crypto(err, errlen, "out of memory");
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
				errf(err, errlen, "DN ends in a lone backslash");
				goto out;
			}
			if (!in_value) {
				if (tn + 1 >= sizeof(type)) {
					errf(err, errlen, "DN attribute type too long");
					goto out;
				}
				type[tn++] = *p;
			} else
				value[vn++] = *p;	/* vn < strlen(dn) <= MAX_DN_LEN */
		}
		type[tn] = '\0';
		value[vn] = '\0';
		if (!in_value) {
			errf(err, errlen, "DN component \"%s\" has no '='", type);
			goto out;
		}
		if ((nid = OBJ_txt2nid(type)) == NID_undef || !dn_nid_ok(nid)) {
			ERR_clear_error();
			errf(err, errlen, "unknown DN attribute type \"%s\"", type);
			goto out;
		}
		if (vn == 0) {
			errf(err, errlen, "empty value for %s in the DN", type);
			goto out;
		}
		if (!X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
		    (unsigned char *)value, (int)vn, -1, 0)) {
			errf_crypto(err, errlen, "bad value for %s in the DN", type);
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


/* PEM of X (a certificate) or SK (certificates) into a repository file, atomically. */
static int
write_pem(const char *path, X509 *x, STACK_OF(X509) *sk, int mode, char *err, size_t errlen)
{
	BIO	*b = NULL;
	char	*data;
	long	 len;
	int	 ok = 0, i;

	if ((b = BIO_new(BIO_s_mem())) == NULL) {
		errf_crypto(err, errlen, "out of memory");
		goto out;
	}
	if (x != NULL && !PEM_write_bio_X509(b, x)) {
		errf_crypto(err, errlen, "cannot encode %s", path);
		goto out;
	}
	for (i = 0; sk != NULL && i < sk_X509_num(sk); i++)
		if (!PEM_write_bio_X509(b, sk_X509_value(sk, i))) {
			errf_crypto(err, errlen, "cannot encode %s", path);
			goto out;
		}
	if ((len = BIO_get_mem_data(b, &data)) <= 0) {
		errf_crypto(err, errlen, "cannot encode %s", path);
		goto out;
	}
	if (write_file(path, data, (size_t)len, mode, NULL, 0) != 1) {
		errf_sys(err, errlen, "cannot write %s", path);
		goto out;
	}
	ok = 1;
out:
	BIO_free(b);
	return ok;
}

/*
 * The CA's own directory DIR (make_dir()), mode 0700 even when it existed with another:
 * it holds the key files.
 */
static int
private_dir(const char *dir, char *err, size_t errlen)
{
	if (!make_dir(dir, 0700, err, errlen))
		return 0;
	if (chmod(dir, 0700) == -1)
		return errf_sys(err, errlen, "cannot chmod %s", dir);
	return 1;
}

static int
check_params(int bits, int days, char *err, size_t errlen)
{
	if (bits < MIN_CA_BITS || bits > MAX_CA_BITS) {
		errf(err, errlen, "key size %d is out of range %d..%d", bits, MIN_CA_BITS,
		    MAX_CA_BITS);
		return 0;
	}
	if (days < 1 || days > MAX_DAYS) {
		errf(err, errlen, "validity of %d days is out of range 1..%d", days, MAX_DAYS);
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
		errf(err, errlen, "repository path too long");
		return 0;
	}
	if (ca_present(path)) {
		errf(err, errlen, "a rollover switch was interrupted (%s exists): run "
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
		errf(err, errlen, "repository path too long");
		return 0;
	}
	if (!ca_present(path)) {
		errf(err, errlen, "no CA (%s does not exist): make one with init or import "
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
		errf_crypto(err, errlen, "cannot build the CA certificate");
		goto fail;
	}
	/* RFC 5280 §4.2.1.9, §4.2.1.3: a CA; keyEncipherment for SCEP key transport. */
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (!ca_add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") ||
	    !ca_add_ext(x, &ctx, NID_key_usage,
	    "critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment") ||
	    !ca_add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
	    !ca_add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always")) {
		errf_crypto(err, errlen, "cannot add CA extensions");
		goto fail;
	}
	if (X509_sign(x, key, EVP_sha256()) <= 0) {
		errf_crypto(err, errlen, "cannot sign the CA certificate");
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
		errf_crypto(err, errlen, "cannot build the RA certificate");
		goto fail;
	}
	if ((ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(cacert)) > 0 &&
	    !X509_set1_notAfter(x, X509_get0_notAfter(cacert))) ||
	    (ASN1_TIME_compare(X509_get0_notBefore(x), X509_get0_notBefore(cacert)) < 0 &&
	    !X509_set1_notBefore(x, X509_get0_notBefore(cacert)))) {
		errf_crypto(err, errlen, "cannot set the RA validity");
		goto fail;
	}
	X509V3_set_ctx(&ctx, cacert, x, NULL, NULL, 0);
	aki = X509_get0_subject_key_id(cacert) != NULL ? "keyid" : "keyid,issuer";
	if (!ca_add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
	    !ca_add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
	    !ca_add_ext(x, &ctx, NID_ext_key_usage, RA_EKU) ||
	    !ca_add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
	    !ca_add_ext(x, &ctx, NID_authority_key_identifier, aki)) {
		errf_crypto(err, errlen, "cannot add RA extensions");
		goto fail;
	}
	if (X509_sign(x, cakey, EVP_sha256()) <= 0) {
		errf_crypto(err, errlen, "cannot sign the RA certificate");
		goto fail;
	}
	return x;
fail:
	X509_free(x);
	return NULL;
}

/*
 * Keep KEY at ROOT/ca[/SUB]/KEYNAME (ca_key_store(): a PEM file, or the URI of the key in a
 * token when URI is not NULL), then write X (0644) to CERTNAME and CHAIN (if not NULL) to
 * chain.pem. Key first: a certificate without its key is useless, and a key whose
 * certificate could not be written is removed again (from the repository: a key made in a
 * token stays there).
 */
static int
write_set(const char *root, const char *sub, const char *keyname, const char *certname,
    EVP_PKEY *key, const char *uri, const struct ca_keysrc *src, X509 *x,
    STACK_OF(X509) *chain, char *err, size_t errlen)
{
	char	kpath[MAX_PATH_LEN], cpath[MAX_PATH_LEN], chpath[MAX_PATH_LEN];
	int	stage = 0;

	if (!ca_gen_path(kpath, sizeof(kpath), root, sub, keyname) ||
	    !ca_gen_path(cpath, sizeof(cpath), root, sub, certname) ||
	    !ca_gen_path(chpath, sizeof(chpath), root, sub, CA_CHAIN_FILE)) {
		errf(err, errlen, "repository path too long");
		return 0;
	}
	if (!ca_key_store(kpath, key, uri, src, err, errlen))
		goto fail;
	stage = 1;
	if (!write_pem(cpath, x, NULL, 0644, err, errlen))
		goto fail;
	stage = 2;
	if (chain != NULL && sk_X509_num(chain) > 0 &&
	    !write_pem(chpath, NULL, chain, 0644, err, errlen))
		goto fail;
	return 1;
fail:
	if (stage >= 2)
		(void)unlink(cpath);
	if (stage >= 1)
		ca_key_remove(kpath);
	return 0;
}

/*
 * A new RSA key (in the token at URI, or a PEM file when URI is NULL) and RA certificate
 * issued by CACERT/CAKEY, written to ROOT/ca[/SUB].
 */
static int
create_ra(const char *root, const char *sub, X509_NAME *name, int bits, int days,
    X509 *cacert, EVP_PKEY *cakey, const char *uri, const struct ca_keysrc *src, char *err,
    size_t errlen)
{
	EVP_PKEY	*key = NULL;
	X509		*x = NULL;
	int		 ok = 0;

	if (X509_cmp_current_time(X509_get0_notAfter(cacert)) <= 0) {
		errf(err, errlen, "the CA certificate has expired");
		goto out;
	}
	if ((key = ca_key_generate(uri, bits, src, err, errlen)) == NULL)
		goto out;
	if ((x = make_ra_cert(name, key, cacert, cakey, days, err, errlen)) == NULL)
		goto out;
	if (!ca_check_ra(x, key, cacert, "the new RA certificate", "its key",
	    "the CA", err, errlen))
		goto out;
	ok = write_set(root, sub, CA_RA_KEY_FILE, CA_RA_CERT_FILE, key, uri, src, x, NULL, err,
	    errlen);
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return ok;
}

int
ca_init(const char *root, const char *subject, int bits, int days, const char *key_uri,
    const struct ca_keysrc *src, char *err, size_t errlen)
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
		errf(err, errlen, "repository path too long");
		goto out;
	}
	if (!private_dir(dir, err, errlen))
		goto out;
	if (ca_key_present(keypath)) {
		errf(err, errlen, "%s exists: refusing to replace a CA key", keypath);
		goto out;
	}
	if ((key = ca_key_generate(key_uri, bits, src, err, errlen)) == NULL)
		goto out;
	if ((x = make_ca_cert(name, key, days, err, errlen)) == NULL)
		goto out;
	ok = write_set(root, NULL, CA_KEY_FILE, CA_CERT_FILE, key, key_uri, src, x, NULL, err,
	    errlen);
out:
	X509_free(x);
	EVP_PKEY_free(key);
	X509_NAME_free(name);
	return ok;
}

int
ca_init_ra(const char *root, const char *subject, int bits, int days, const char *key_uri,
    const struct ca_keysrc *src, char *err, size_t errlen)
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
		errf(err, errlen, "repository path too long");
		goto out;
	}
	if (ca_key_present(rkpath) || ca_present(rpath)) {
		errf(err, errlen, "%s exists: refusing to replace the RA",
		    ca_present(rpath) ? rpath : rkpath);
		goto out;
	}
	if (!no_switch_pending(root, err, errlen) || !have_ca(root, err, errlen) ||
	    !ca_gen_load(root, NULL, src, &g, err, errlen))
		goto out;
	ok = create_ra(root, NULL, name, bits, days, g.cert, g.key, key_uri, src, err, errlen);
out:
	ca_gen_free(&g);
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
	if (!ca_has_ku(x, SCEP_KU))
		logx(LOG_LVL_WARN, "%s has no keyUsage digitalSignature and keyEncipherment: "
		    "without an RA, SCEP clients (Apple, jscep, Windows) refuse it; add an RA "
		    "with \"scep-admin ra\" or \"scep-admin import --ra\"", path);
}

/*
 * Read a CA to import: CERT_PEM (basicConstraints CA:TRUE, keyCertSign, not expired),
 * KEY_PEM (a PEM file or a pkcs11: URI; RSA, matching), CHAIN_PEM (optional: CA
 * certificates, nearest issuer first).
 */
static int
read_import_ca(const char *cert_pem, const char *key_pem, const char *chain_pem,
    const struct ca_keysrc *src, X509 **xp, EVP_PKEY **kp, STACK_OF(X509) **chp, char *err,
    size_t errlen)
{
	X509		*x = NULL, *prev, *c;
	EVP_PKEY	*k = NULL;
	STACK_OF(X509)	*chain = NULL;
	int		 i, ok = 0;

	if ((chain = sk_X509_new_null()) == NULL) {
		errf_crypto(err, errlen, "out of memory");
		goto out;
	}
	if ((x = ca_read_cert(cert_pem, err, errlen)) == NULL ||
	    (k = ca_key_open_given(key_pem, src, err, errlen)) == NULL)
		goto out;
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
		errf(err, errlen, "%s is not an RSA key (SCEP key transport needs RSA)",
		    key_pem);
		goto out;
	}
	if (X509_check_private_key(x, k) != 1) {
		ERR_clear_error();
		errf(err, errlen, "%s does not match %s", key_pem, cert_pem);
		goto out;
	}
	if (!(X509_get_extension_flags(x) & EXFLAG_CA)) {
		errf(err, errlen, "%s is not a CA certificate (basicConstraints CA:TRUE "
		    "needed)", cert_pem);
		goto out;
	}
	if (!(X509_get_extension_flags(x) & EXFLAG_KUSAGE) ||
	    !(X509_get_key_usage(x) & KU_KEY_CERT_SIGN)) {
		errf(err, errlen, "%s: a CA needs keyUsage keyCertSign", cert_pem);
		goto out;
	}
	if (X509_check_ca(x) != 1) {
		errf(err, errlen, "%s cannot be used as a CA certificate", cert_pem);
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		errf(err, errlen, "%s has expired", cert_pem);
		goto out;
	}
	if (chain_pem != NULL) {
		if (!ca_present(chain_pem)) {
			errf(err, errlen, "cannot open %s: %s", chain_pem, strerror(ENOENT));
			goto out;
		}
		if (!ca_read_chain(chain_pem, chain, err, errlen))
			goto out;
		prev = x;
		for (i = 0; i < sk_X509_num(chain); i++) {
			c = sk_X509_value(chain, i);
			if (X509_check_ca(c) < 1) {
				errf(err, errlen, "%s: certificate %d is not a CA certificate",
				    chain_pem, i + 1);
				goto out;
			}
			if (!ca_issued_by(c, prev)) {
				errf(err, errlen, "%s: certificate %d did not issue the one before "
				    "it (order must be nearest issuer first)", chain_pem, i + 1);
				goto out;
			}
			prev = c;
		}
	} else if (!ca_self_signed(x))
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
    const struct ca_keysrc *src, char *err, size_t errlen)
{
	struct ca_gen	 g = { 0 };
	X509		*x = NULL;
	EVP_PKEY	*k = NULL;
	char		 rpath[MAX_PATH_LEN], rkpath[MAX_PATH_LEN], cpath[MAX_PATH_LEN];
	int		 ok = 0;

	if (chain_pem != NULL) {
		errf(err, errlen, "an RA is imported without a chain (its issuer is ca.pem)");
		goto out;
	}
	if (!ca_path(rpath, sizeof(rpath), root, CA_RA_CERT_FILE) ||
	    !ca_path(rkpath, sizeof(rkpath), root, CA_RA_KEY_FILE) ||
	    !ca_path(cpath, sizeof(cpath), root, CA_CERT_FILE)) {
		errf(err, errlen, "repository path too long");
		goto out;
	}
	if (ca_key_present(rkpath) || ca_present(rpath)) {
		errf(err, errlen, "%s exists: refusing to replace the RA",
		    ca_present(rpath) ? rpath : rkpath);
		goto out;
	}
	if (!no_switch_pending(root, err, errlen) || !have_ca(root, err, errlen) ||
	    !ca_gen_load(root, NULL, src, &g, err, errlen))
		goto out;
	if ((x = ca_read_cert(cert_pem, err, errlen)) == NULL ||
	    (k = ca_key_open_given(key_pem, src, err, errlen)) == NULL)
		goto out;
	if (!ca_check_ra(x, k, g.cert, cert_pem, key_pem, cpath, err, errlen))
		goto out;
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		errf(err, errlen, "%s has expired", cert_pem);
		goto out;
	}
	if (!has_ra_eku(x))
		logx(LOG_LVL_WARN, "%s has no extendedKeyUsage serverAuth or Certificate "
		    "Request Agent (" MS_CRA_OID "): Windows and Intune refuse such an RA",
		    cert_pem);
	ok = write_set(root, NULL, CA_RA_KEY_FILE, CA_RA_CERT_FILE, k,
	    ca_key_is_uri(key_pem) ? key_pem : NULL, src, x, NULL, err, errlen);
out:
	X509_free(x);
	EVP_PKEY_free(k);
	ca_gen_free(&g);
	return ok;
}

int
ca_import(const char *root, const char *cert_pem, const char *key_pem,
    const char *chain_pem, int is_ra, const struct ca_keysrc *src, char *err, size_t errlen)
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
		errf(err, errlen, "a certificate and a key are needed");
		goto out;
	}
	if (is_ra) {
		ok = import_ra(root, cert_pem, key_pem, chain_pem, src, err, errlen);
		goto out;
	}
	if (!read_import_ca(cert_pem, key_pem, chain_pem, src, &x, &k, &chain, err, errlen))
		goto out;
	if (!ca_path(dir, sizeof(dir), root, NULL)) {
		errf(err, errlen, "repository path too long");
		goto out;
	}
	if (!private_dir(dir, err, errlen))
		goto out;
	/* Only into an empty ca/: replacing a CA is a rollover. */
	for (i = 0; i < NGEN_FILES; i++) {
		if (!ca_path(path, sizeof(path), root, gen_files[i])) {
			errf(err, errlen, "repository path too long");
			goto out;
		}
		if (ca_present(path)) {
			errf(err, errlen, "%s exists: refusing to replace a CA (use \"scep-admin "
			    "rollover\" to change the CA)", path);
			goto out;
		}
	}
	warn_scep_ku(x, cert_pem);
	ok = write_set(root, NULL, CA_KEY_FILE, CA_CERT_FILE, k,
	    ca_key_is_uri(key_pem) ? key_pem : NULL, src, x, chain, err, errlen);
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
prepare_begin(const char *root, const struct ca_keysrc *src, struct ca_gen *cur, char *err,
    size_t errlen)
{
	char	path[MAX_PATH_LEN];

	if (!no_switch_pending(root, err, errlen) ||
	    !ca_gen_load(root, NULL, src, cur, err, errlen))
		return 0;
	if (!ca_gen_path(path, sizeof(path), root, CA_NEXT_DIR, NULL)) {
		errf(err, errlen, "repository path too long");
		return 0;
	}
	if (ca_present(path)) {
		errf(err, errlen, "%s exists: a rollover is already prepared (switch to it, "
		    "or remove the directory to prepare another)", path);
		return 0;
	}
	if (!ca_gen_path(path, sizeof(path), root, CA_NEXT_TMP, NULL))
		return 0;
	return remove_flat_dir(path, err, errlen) && private_dir(path, err, errlen);
}

/*
 * ca/next.tmp/ holds the next CA (ca.pem, its key, chain.pem): add a next RA when the
 * current generation CUR has one (same subject, key size and validity length, issued by
 * the next CA, its key at RA_URI), check the whole generation loads, then rename
 * next.tmp -> next.
 */
static int
prepare_finish(const char *root, const struct ca_gen *cur, const char *ra_uri,
    const struct ca_keysrc *src, char *err, size_t errlen)
{
	struct ca_gen	 ng = { 0 };
	char		 tmp[MAX_PATH_LEN], next[MAX_PATH_LEN], dir[MAX_PATH_LEN];
	int		 ok = 0;

	if (!ca_gen_path(tmp, sizeof(tmp), root, CA_NEXT_TMP, NULL) ||
	    !ca_gen_path(next, sizeof(next), root, CA_NEXT_DIR, NULL) ||
	    !ca_path(dir, sizeof(dir), root, NULL)) {
		errf(err, errlen, "repository path too long");
		goto out;
	}
	if (!ca_gen_load(root, CA_NEXT_TMP, src, &ng, err, errlen))
		goto out;
	if (cur->ra != NULL) {
		if (!create_ra(root, CA_NEXT_TMP, X509_get_subject_name(cur->ra),
		    bits_like(cur->ra_key), validity_days(cur->ra), ng.cert, ng.key, ra_uri,
		    src, err, errlen))
			goto out;
		ca_gen_free(&ng);
		if (!ca_gen_load(root, CA_NEXT_TMP, src, &ng, err, errlen))
			goto out;
	}
	if (!fsync_dir(tmp, err, errlen))
		goto out;
	if (rename(tmp, next) == -1) {
		errf_sys(err, errlen, "cannot rename %s to %s", tmp, next);
		goto out;
	}
	ok = fsync_dir(dir, err, errlen);
out:
	ca_gen_free(&ng);
	return ok;
}

/* A key for a next RA is only asked for when the current generation CUR has an RA. */
static int
ra_key_fits(const struct ca_gen *cur, const char *ra_key_uri, char *err, size_t errlen)
{
	if (ra_key_uri != NULL && cur->ra == NULL)
		return errf(err, errlen, "a key for the next RA was given, but the current CA "
		    "has no RA");
	return 1;
}

/* After a failed prepare: remove ca/next.tmp/, keeping the first error message. */
static void
prepare_abort(const char *root)
{
	char	path[MAX_PATH_LEN];

	if (ca_gen_path(path, sizeof(path), root, CA_NEXT_TMP, NULL))
		(void)remove_flat_dir(path, NULL, 0);
}

int
ca_rollover_prepare(const char *root, const char *subject, int bits, int days,
    const char *key_uri, const char *ra_key_uri, const struct ca_keysrc *src, char *err,
    size_t errlen)
{
	struct ca_gen	 cur = { 0 };
	X509_NAME	*name = NULL;
	EVP_PKEY	*key = NULL;
	X509		*x = NULL;
	int		 ok = 0, started = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (!no_switch_pending(root, err, errlen) ||
	    !ca_gen_load(root, NULL, src, &cur, err, errlen) ||
	    !ra_key_fits(&cur, ra_key_uri, err, errlen))
		goto out;
	if (subject != NULL)
		name = ca_parse_dn(subject, err, errlen);
	else if ((name = X509_NAME_dup(X509_get_subject_name(cur.cert))) == NULL)
		errf_crypto(err, errlen, "out of memory");
	if (name == NULL)
		goto out;
	if (bits == 0)
		bits = bits_like(cur.key);
	if (days == 0)
		days = validity_days(cur.cert);
	if (!check_params(bits, days, err, errlen))
		goto out;
	ca_gen_free(&cur);
	started = 1;
	if (!prepare_begin(root, src, &cur, err, errlen))
		goto out;
	if ((key = ca_key_generate(key_uri, bits, src, err, errlen)) == NULL)
		goto out;
	if ((x = make_ca_cert(name, key, days, err, errlen)) == NULL ||
	    !write_set(root, CA_NEXT_TMP, CA_KEY_FILE, CA_CERT_FILE, key, key_uri, src, x, NULL,
	    err, errlen) ||
	    !prepare_finish(root, &cur, ra_key_uri, src, err, errlen))
		goto out;
	ok = 1;
out:
	if (!ok && started)
		prepare_abort(root);
	X509_free(x);
	EVP_PKEY_free(key);
	X509_NAME_free(name);
	ca_gen_free(&cur);
	return ok;
}

int
ca_rollover_import(const char *root, const char *cert_pem, const char *key_pem,
    const char *chain_pem, const char *ra_key_uri, const struct ca_keysrc *src, char *err,
    size_t errlen)
{
	struct ca_gen	 cur = { 0 };
	X509		*x = NULL;
	EVP_PKEY	*k = NULL;
	STACK_OF(X509)	*chain = NULL;
	int		 ok = 0, started = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (cert_pem == NULL || key_pem == NULL) {
		errf(err, errlen, "a certificate and a key are needed");
		goto out;
	}
	if (!read_import_ca(cert_pem, key_pem, chain_pem, src, &x, &k, &chain, err, errlen))
		goto out;
	started = 1;
	if (!prepare_begin(root, src, &cur, err, errlen) ||
	    !ra_key_fits(&cur, ra_key_uri, err, errlen))
		goto out;
	if (X509_cmp(x, cur.cert) == 0) {
		errf(err, errlen, "%s is the current CA certificate", cert_pem);
		goto out;
	}
	if (cur.ra == NULL)
		warn_scep_ku(x, cert_pem);
	if (!write_set(root, CA_NEXT_TMP, CA_KEY_FILE, CA_CERT_FILE, k,
	    ca_key_is_uri(key_pem) ? key_pem : NULL, src, x, chain, err, errlen) ||
	    !prepare_finish(root, &cur, ra_key_uri, src, err, errlen))
		goto out;
	ok = 1;
out:
	if (!ok && started)
		prepare_abort(root);
	X509_free(x);
	EVP_PKEY_free(k);
	sk_X509_pop_free(chain, X509_free);
	ca_gen_free(&cur);
	return ok;
}

/* Write the switch marker with PHASE ('1' or '2'). */
static int
write_mark(const char *path, char phase, char *err, size_t errlen)
{
	char	buf[2] = { phase, '\n' };

	if (write_file(path, buf, sizeof(buf), 0600, NULL, 0) != 1) {
		errf_sys(err, errlen, "cannot write %s", path);
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
			errf(err, errlen, "repository path too long");
			return 0;
		}
		if (rename(src, dst) == -1 && errno != ENOENT) {
			errf_sys(err, errlen, "cannot rename %s to %s", src, dst);
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
ca_rollover_switch(const char *root, const struct ca_keysrc *src, char *err, size_t errlen)
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
	    !ca_gen_path(old, sizeof(old), root, CA_OLD_DIR, NULL) ||
	    !ca_gen_path(next, sizeof(next), root, CA_NEXT_DIR, NULL) ||
	    !ca_path(mark, sizeof(mark), root, CA_SWITCH_MARK)) {
		errf(err, errlen, "repository path too long");
		goto out;
	}
	if (ca_present(mark)) {
		if (!read_file(mark, &buf, &len, 16, NULL, 0) || len < 1 ||
		    (buf[0] != '1' && buf[0] != '2')) {
			errf_crypto(err, errlen, "%s is unreadable or damaged", mark);
			goto out;
		}
		phase = (char)buf[0];
		logx(LOG_LVL_WARN, "finishing an interrupted rollover switch (phase %c)", phase);
	} else {
		if (!ca_present(next)) {
			errf(err, errlen, "no rollover is prepared (%s does not exist)", next);
			goto out;
		}
		if (!ca_gen_load(root, CA_NEXT_DIR, src, &ng, err, errlen))
			goto out;
		if (!ca_gen_load(root, NULL, src, &cur, err, errlen))
			goto out;
		if (cur.ra != NULL && ng.ra == NULL) {
			errf(err, errlen, "the current CA has an RA but %s has none: remove %s "
			    "and prepare the rollover again", next, next);
			goto out;
		}
		if (!remove_flat_dir(old, err, errlen) || !fsync_dir(dir, err, errlen) ||
		    !private_dir(old, err, errlen) || !write_mark(mark, '1', err, errlen))
			goto out;
		phase = '1';
	}
	if (phase == '1') {
		if (!move_gen(dir, old, err, errlen) || !fsync_dir(old, err, errlen) ||
		    !fsync_dir(dir, err, errlen) || !write_mark(mark, '2', err, errlen))
			goto out;
		phase = '2';
	}
	if (ca_present(next)) {
		if (!move_gen(next, dir, err, errlen) || !fsync_dir(next, err, errlen) ||
		    !fsync_dir(dir, err, errlen))
			goto out;
		if (rmdir(next) == -1 && errno != ENOENT) {
			errf_sys(err, errlen, "cannot remove %s", next);
			goto out;
		}
	}
	if (unlink(mark) == -1 && errno != ENOENT) {
		errf_sys(err, errlen, "cannot remove %s", mark);
		goto out;
	}
	ok = fsync_dir(dir, err, errlen);
out:
	free(buf);
	ca_gen_free(&cur);
	ca_gen_free(&ng);
	return ok;
}
