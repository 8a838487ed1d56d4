/*
 * ca: ca_init in a temporary repository, ca_load (and its refusals), ca_issue for a CSR that
 * asks for a SAN and for extensions that must not be copied, role key usages, chain
 * verification with X509_verify_cert (self-signed and intermediate CA with chain.pem),
 * ca_parse_dn, ca_make_crl (checked with X509_CRL_verify and with openssl crl).
 */
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
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "ca_internal.h"
#include "config.h"
#include "scep.h"
#include "unit.h"

static char	root[] = "/tmp/test_ca.XXXXXX";

static void
path_of(char *buf, size_t len, const char *repo, const char *name)
{
	snprintf(buf, len, "%s/%s", repo, name);
}

static int
write_pem_certs(const char *path, X509 **certs, int n)
{
	FILE	*f;
	int	 i, ok = 1;

	if ((f = fopen(path, "w")) == NULL)
		return 0;
	for (i = 0; i < n; i++)
		ok &= PEM_write_X509(f, certs[i]);
	fclose(f);
	return ok;
}

static int
write_pem_key(const char *path, EVP_PKEY *k)
{
	FILE	*f;
	int	 ok;

	if ((f = fopen(path, "w")) == NULL)
		return 0;
	ok = PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	return ok;
}

/* Add an extension given in openssl.cnf syntax to a stack. */
static void
push_ext(STACK_OF(X509_EXTENSION) *exts, int nid, const char *value)
{
	X509_EXTENSION	*e = X509V3_EXT_conf_nid(NULL, NULL, nid, value);

	CHECK(e != NULL && sk_X509_EXTENSION_push(exts, e));
}

/*
 * A CSR with subject DN (kept in this order), signed by KEY; SAN if san != NULL, plus
 * extensions a client must never get by asking: CA:TRUE, keyCertSign, a private OID.
 */
static X509_REQ *
make_csr(EVP_PKEY *key, const char *dn, const char *san, int weird)
{
	X509_REQ			*req = X509_REQ_new();
	X509_NAME			*name = ca_parse_dn(dn, NULL, 0);
	STACK_OF(X509_EXTENSION)	*exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION			*priv = NULL;
	ASN1_OBJECT			*obj = NULL;
	ASN1_OCTET_STRING		*os = NULL;

	CHECK(req != NULL && name != NULL && exts != NULL);
	CHECK(X509_REQ_set_version(req, 0));
	CHECK(X509_REQ_set_subject_name(req, name));
	CHECK(X509_REQ_set_pubkey(req, key));
	if (san != NULL)
		push_ext(exts, NID_subject_alt_name, san);
	if (weird) {
		push_ext(exts, NID_basic_constraints, "critical,CA:TRUE");
		push_ext(exts, NID_key_usage, "critical,keyCertSign,cRLSign");
		push_ext(exts, NID_crl_distribution_points, "URI:http://evil.example/crl");
		obj = OBJ_txt2obj("1.3.6.1.4.1.99999.1", 1);
		os = ASN1_OCTET_STRING_new();
		CHECK(obj != NULL && os != NULL && ASN1_OCTET_STRING_set(os,
		    (const unsigned char *)"\x04\x02hi", 4));
		priv = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
		CHECK(priv != NULL && sk_X509_EXTENSION_push(exts, priv));
	}
	if (sk_X509_EXTENSION_num(exts) > 0)
		CHECK(X509_REQ_add_extensions(req, exts));
	CHECK(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	ASN1_OBJECT_free(obj);
	ASN1_OCTET_STRING_free(os);
	X509_NAME_free(name);
	return req;
}

/* X509_verify_cert of LEAF against TRUSTED, with UNTRUSTED intermediates, for PURPOSE. */
static int
verifies_for(X509 *leaf, X509 *trusted, STACK_OF(X509) *untrusted, int purpose)
{
	X509_STORE	*st = X509_STORE_new();
	X509_STORE_CTX	*ctx = X509_STORE_CTX_new();
	int		 rc = 0;

	if (st == NULL || ctx == NULL || !X509_STORE_add_cert(st, trusted) ||
	    !X509_STORE_CTX_init(ctx, st, leaf, untrusted))
		goto out;
	X509_STORE_CTX_set_purpose(ctx, purpose);
	rc = X509_verify_cert(ctx);
	if (rc != 1)
		fprintf(stderr, "verify: %s\n",
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return rc == 1;
}

static int
verifies(X509 *leaf, X509 *trusted, STACK_OF(X509) *untrusted)
{
	return verifies_for(leaf, trusted, untrusted, X509_PURPOSE_SSL_CLIENT);
}

static int
verifies_purpose(X509 *leaf, X509 *trusted, int purpose)
{
	return verifies_for(leaf, trusted, NULL, purpose);
}

static int
ext_critical(X509 *x, int nid)
{
	int	i = X509_get_ext_by_NID(x, nid, -1);

	return i >= 0 ? X509_EXTENSION_get_critical(X509_get_ext(x, i)) : -1;
}

static long
secs_from_now(const ASN1_TIME *t)
{
	int	days, secs;

	if (!ASN1_TIME_diff(&days, &secs, NULL, t))
		return 0x7fffffff;
	return (long)days * 86400 + secs;
}

static void
test_init(void)
{
	char		 err[512] = "", p[512];
	struct stat	 st;

	CHECK_MSG(ca_init(root, "/CN=Test CA/O=Example\\/Slash Inc./C=DE", 2048, 3650, NULL, NULL,
	    err, sizeof(err)) == 1, "%s", err);
	path_of(p, sizeof(p), root, "ca");
	CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	path_of(p, sizeof(p), root, "ca/ca.key");
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
	path_of(p, sizeof(p), root, "ca/ca.pem");
	CHECK(stat(p, &st) == 0 && S_ISREG(st.st_mode));

	/* Never replace a key; parameters are checked. */
	CHECK(ca_init(root, "/CN=Again", 2048, 10, NULL, NULL, err, sizeof(err)) == 0);
	CHECK_MSG(strstr(err, "refusing") != NULL, "%s", err);
	CHECK(ca_init(root, "/CN=x", 1024, 10, NULL, NULL, err, sizeof(err)) == 0);
	CHECK(ca_init(root, "/CN=x", 8193, 10, NULL, NULL, err, sizeof(err)) == 0);
	CHECK(ca_init(root, "/CN=x", 2048, 0, NULL, NULL, err, sizeof(err)) == 0);
	CHECK(ca_init(root, "CN=x", 2048, 10, NULL, NULL, err, sizeof(err)) == 0);
}

static void
test_ca_cert(struct ca *ca)
{
	X509			*c = ca_cert(ca);
	const ASN1_INTEGER	*sn = X509_get0_serialNumber(c);
	X509_NAME		*want = ca_parse_dn("/CN=Test CA/O=Example\\/Slash Inc./C=DE",
				    NULL, 0);
	EVP_PKEY		*pub = X509_get0_pubkey(c);
	BIGNUM			*bn = ASN1_INTEGER_to_BN(sn, NULL);
	uint32_t		 ku = X509_get_key_usage(c);

	CHECK(ca_scep_cert(ca) == c);
	CHECK(ca_scep_key(ca) != NULL && EVP_PKEY_get_base_id(ca_scep_key(ca)) == EVP_PKEY_RSA);
	CHECK(EVP_PKEY_get_bits(ca_scep_key(ca)) == 2048);
	CHECK(sk_X509_num(ca_getcacert_certs(ca)) == 1 &&
	    sk_X509_value(ca_getcacert_certs(ca), 0) == c);
	CHECK(want != NULL && X509_NAME_cmp(X509_get_subject_name(c), want) == 0);
	CHECK(X509_NAME_cmp(X509_get_issuer_name(c), want) == 0);
	CHECK(X509_get_version(c) == 2);
	CHECK(X509_check_ca(c) == 1);
	CHECK(ku == (KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_DIGITAL_SIGNATURE |
	    KU_KEY_ENCIPHERMENT));
	CHECK(ext_critical(c, NID_key_usage) == 1);
	CHECK(ext_critical(c, NID_basic_constraints) == 1);
	CHECK(X509_get0_subject_key_id(c) != NULL);
	CHECK(X509_get0_authority_key_id(c) != NULL &&
	    ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(c),
	    X509_get0_subject_key_id(c)) == 0);
	CHECK(X509_get_signature_nid(c) == NID_sha256WithRSAEncryption);
	CHECK(pub != NULL && X509_verify(c, pub) == 1);
	/* Random positive 16-octet serial, never a small counter value. */
	CHECK(bn != NULL && !BN_is_negative(bn) && BN_num_bytes(bn) == 16 &&
	    BN_num_bits(bn) == 127);
	CHECK(secs_from_now(X509_get0_notBefore(c)) <= -290 &&
	    secs_from_now(X509_get0_notBefore(c)) >= -400);
	CHECK(labs(secs_from_now(X509_get0_notAfter(c)) - 3650L * 86400) < 60);
	CHECK(verifies(c, c, NULL));
	BN_free(bn);
	X509_NAME_free(want);
}

static void
test_issue(struct ca *ca)
{
	EVP_PKEY			*ek = EVP_EC_gen("P-256");
	X509_REQ			*req = NULL, *plain = NULL, *many = NULL;
	X509				*x = NULL, *y = NULL, *z = NULL;
	GENERAL_NAMES			*gens = NULL;
	BIGNUM				*bn = NULL;
	const char			*dn = "/CN=device 1/OU=Things/O=Org/C=US";
	X509_NAME			*want = ca_parse_dn(dn, NULL, 0);
	const X509_NAME_ENTRY		*ne;
	struct cert_profile		 prof = { .days = 365, .keep_san = 1 };
	char				 err[512] = "", san[4096];
	size_t				 o;
	int				 i;

	CHECK(ek != NULL && want != NULL);
	req = make_csr(ek, dn, "DNS:device1.example.com,IP:10.0.0.1,email:a@example.com", 1);
	x = ca_issue(ca, req, "01", &prof, err, sizeof(err));
	CHECK_MSG(x != NULL, "%s", err);
	if (x == NULL)
		goto out;
	CHECK(X509_get_version(x) == 2);
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	CHECK(bn != NULL && BN_is_one(bn));
	/* Subject copied as-is, in the CSR's RDN order (CN first here). */
	CHECK(X509_NAME_cmp(X509_get_subject_name(x), want) == 0);
	ne = X509_NAME_get_entry(X509_get_subject_name(x), 0);
	CHECK(ne != NULL && OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne)) == NID_commonName);
	CHECK(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca_cert(ca))) == 0);
	CHECK(EVP_PKEY_eq(X509_get0_pubkey(x), ek) == 1);
	CHECK(X509_get_signature_nid(x) == NID_sha256WithRSAEncryption);
	CHECK(X509_verify(x, X509_get0_pubkey(ca_cert(ca))) == 1);
	CHECK(secs_from_now(X509_get0_notBefore(x)) <= -290 &&
	    secs_from_now(X509_get0_notBefore(x)) >= -400);
	CHECK(labs(secs_from_now(X509_get0_notAfter(x)) - 365L * 86400) < 60);

	/* Exactly our six extensions; none of the requested CA:TRUE, keyCertSign, CDP, OID. */
	CHECK(X509_get_ext_count(x) == 6);
	CHECK(X509_check_ca(x) == 0);
	CHECK(ext_critical(x, NID_basic_constraints) == 1);
	CHECK(ext_critical(x, NID_key_usage) == 1);
	CHECK(X509_get_key_usage(x) == (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
	CHECK(X509_get_extended_key_usage(x) == (XKU_SSL_CLIENT | XKU_SSL_SERVER));
	CHECK(ext_critical(x, NID_crl_distribution_points) == -1);
	{
		ASN1_OBJECT *priv = OBJ_txt2obj("1.3.6.1.4.1.99999.1", 1);

		CHECK(priv != NULL && X509_get_ext_by_OBJ(x, priv, -1) < 0);
		ASN1_OBJECT_free(priv);
	}
	CHECK(X509_get0_subject_key_id(x) != NULL);
	CHECK(X509_get0_authority_key_id(x) != NULL &&
	    ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x),
	    X509_get0_subject_key_id(ca_cert(ca))) == 0);
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, &i, NULL);
	CHECK(gens != NULL && sk_GENERAL_NAME_num(gens) == 3 && i == 0);
	if (gens != NULL && sk_GENERAL_NAME_num(gens) == 3) {
		CHECK(sk_GENERAL_NAME_value(gens, 0)->type == GEN_DNS);
		CHECK(sk_GENERAL_NAME_value(gens, 1)->type == GEN_IPADD);
		CHECK(sk_GENERAL_NAME_value(gens, 2)->type == GEN_EMAIL);
	}
	CHECK(verifies(x, ca_cert(ca), NULL));

	/* keep_san off: no SAN. */
	prof.keep_san = 0;
	y = ca_issue(ca, req, "0A", &prof, err, sizeof(err));
	CHECK_MSG(y != NULL && X509_get_ext_count(y) == 5 &&
	    X509_get_ext_by_NID(y, NID_subject_alt_name, -1) < 0, "%s", err);
	X509_free(y);
	y = NULL;

	/* No extensionRequest at all; validity capped at the CA's notAfter. */
	prof.keep_san = 1;
	prof.days = 36500;
	plain = make_csr(ek, "/O=Org/CN=plain", NULL, 0);
	y = ca_issue(ca, plain, "abcdef0123", &prof, err, sizeof(err));
	CHECK_MSG(y != NULL && X509_get_ext_count(y) == 5, "%s", err);
	if (y != NULL) {
		CHECK(ASN1_TIME_compare(X509_get0_notAfter(y),
		    X509_get0_notAfter(ca_cert(ca))) == 0);
		CHECK(verifies(y, ca_cert(ca), NULL));
	}

	/* Bad serials and validity. */
	prof.days = 30;
	CHECK(ca_issue(ca, req, "", &prof, err, sizeof(err)) == NULL);
	CHECK(ca_issue(ca, req, "00", &prof, err, sizeof(err)) == NULL);
	CHECK(ca_issue(ca, req, "12G4", &prof, err, sizeof(err)) == NULL);
	CHECK(ca_issue(ca, req, "-1", &prof, err, sizeof(err)) == NULL);
	CHECK(ca_issue(ca, req, "0123456789012345678901234567890123456789A", &prof, err,
	    sizeof(err)) == NULL);
	prof.days = 0;
	CHECK(ca_issue(ca, req, "02", &prof, err, sizeof(err)) == NULL);
	prof.days = 30;

	/* Too many SAN entries. */
	o = 0;
	for (i = 0; i <= MAX_SAN_ENTRIES; i++)
		o += (size_t)snprintf(san + o, sizeof(san) - o, "%sDNS:h%d.example", i ? "," : "",
		    i);
	many = make_csr(ek, "/CN=many", san, 0);
	z = ca_issue(ca, many, "03", &prof, err, sizeof(err));
	CHECK_MSG(z == NULL && strstr(err, "subjectAltName") != NULL, "%s", err);
out:
	GENERAL_NAMES_free(gens);
	BN_free(bn);
	X509_free(x);
	X509_free(y);
	X509_free(z);
	X509_REQ_free(req);
	X509_REQ_free(plain);
	X509_REQ_free(many);
	X509_NAME_free(want);
	EVP_PKEY_free(ek);
}

/* Roles: keyUsage and extendedKeyUsage from the profile. */
static void
test_profile(struct ca *ca)
{
	EVP_PKEY		*ek = EVP_EC_gen("P-256");
	X509_REQ		*req = NULL;
	X509			*x = NULL;
	EXTENDED_KEY_USAGE	*eku = NULL;
	ASN1_OBJECT		*oid = NULL;
	struct cert_profile	 prof = { .days = 30 };
	char			 err[512] = "";

	CHECK(ek != NULL);
	req = make_csr(ek, "/CN=role test", NULL, 0);
	prof.key_usage = KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION | KU_KEY_AGREEMENT;
	prof.ext_key_usage = "emailProtection,1.3.6.1.4.1.311.20.2.2,1.2.3.4.5";
	x = ca_issue(ca, req, "1001", &prof, err, sizeof(err));
	CHECK_MSG(x != NULL, "%s", err);
	if (x != NULL) {
		CHECK(X509_get_key_usage(x) == (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION |
		    KU_KEY_AGREEMENT));
		CHECK(ext_critical(x, NID_key_usage) == 1);
		CHECK(ext_critical(x, NID_ext_key_usage) == 0);
		eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
		oid = OBJ_txt2obj("1.2.3.4.5", 1);
		CHECK(eku != NULL && sk_ASN1_OBJECT_num(eku) == 3);
		if (eku != NULL && sk_ASN1_OBJECT_num(eku) == 3) {
			CHECK(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)) == NID_email_protect);
			CHECK(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 1)) ==
			    NID_ms_smartcard_login);
			CHECK(OBJ_cmp(sk_ASN1_OBJECT_value(eku, 2), oid) == 0);
		}
		CHECK(labs(secs_from_now(X509_get0_notAfter(x)) - 30L * 86400) < 60);
	}
	X509_free(x);

	/* "" = no extendedKeyUsage at all. */
	prof.key_usage = KU_KEY_ENCIPHERMENT;
	prof.ext_key_usage = "";
	x = ca_issue(ca, req, "1002", &prof, err, sizeof(err));
	CHECK_MSG(x != NULL, "%s", err);
	if (x != NULL) {
		CHECK(X509_get_key_usage(x) == KU_KEY_ENCIPHERMENT);
		CHECK(X509_get_ext_by_NID(x, NID_ext_key_usage, -1) < 0);
		CHECK(X509_get_ext_count(x) == 4);
	}
	X509_free(x);

	/* CA bits are refused; so is an EKU OpenSSL cannot parse. */
	prof.key_usage = KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN;
	prof.ext_key_usage = NULL;
	x = ca_issue(ca, req, "1003", &prof, err, sizeof(err));
	CHECK_MSG(x == NULL && strstr(err, "keyUsage") != NULL, "%s", err);
	X509_free(x);
	prof.key_usage = 0;
	prof.ext_key_usage = "clientAuth,noSuchUsage";
	x = ca_issue(ca, req, "1004", &prof, err, sizeof(err));
	CHECK_MSG(x == NULL && strstr(err, "extendedKeyUsage") != NULL, "%s", err);
	X509_free(x);
	ERR_clear_error();

	EXTENDED_KEY_USAGE_free(eku);
	ASN1_OBJECT_free(oid);
	X509_REQ_free(req);
	EVP_PKEY_free(ek);
}

/* cRLDistributionPoints and authorityInfoAccess caIssuers from the profile's URLs. */
static void
test_publication_urls(struct ca *ca)
{
	EVP_PKEY		*ek = EVP_EC_gen("P-256");
	X509_REQ		*req = NULL;
	X509			*x = NULL;
	CRL_DIST_POINTS		*cdp = NULL;
	AUTHORITY_INFO_ACCESS	*aia = NULL;
	DIST_POINT		*dp;
	ACCESS_DESCRIPTION	*ad;
	GENERAL_NAME		*gn;
	struct cert_profile	 prof = { .days = 30 };
	char			 err[512] = "";
	int			 n;

	CHECK(ek != NULL);
	req = make_csr(ek, "/CN=urls", NULL, 0);
	prof.crl_url = "http://pki.example.com/pki/ca.crl";
	prof.ca_issuers_url = "http://pki.example.com/pki/ca.crt";
	x = ca_issue(ca, req, "2001", &prof, err, sizeof(err));
	CHECK_MSG(x != NULL, "%s", err);
	if (x != NULL) {
		CHECK(ext_critical(x, NID_crl_distribution_points) == 0);
		CHECK(ext_critical(x, NID_info_access) == 0);
		cdp = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
		CHECK(cdp != NULL && sk_DIST_POINT_num(cdp) == 1);
		if (cdp != NULL && sk_DIST_POINT_num(cdp) == 1) {
			dp = sk_DIST_POINT_value(cdp, 0);
			CHECK(dp->reasons == NULL && dp->CRLissuer == NULL &&
			    dp->distpoint != NULL && dp->distpoint->type == 0 &&
			    sk_GENERAL_NAME_num(dp->distpoint->name.fullname) == 1);
			gn = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0);
			CHECK(gn != NULL && gn->type == GEN_URI &&
			    strcmp((const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier),
			    prof.crl_url) == 0);
		}
		aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
		CHECK(aia != NULL && sk_ACCESS_DESCRIPTION_num(aia) == 1);
		if (aia != NULL && sk_ACCESS_DESCRIPTION_num(aia) == 1) {
			ad = sk_ACCESS_DESCRIPTION_value(aia, 0);
			CHECK(OBJ_obj2nid(ad->method) == NID_ad_ca_issuers &&
			    ad->location->type == GEN_URI &&
			    strcmp((const char *)ASN1_STRING_get0_data(
			    ad->location->d.uniformResourceIdentifier), prof.ca_issuers_url) == 0);
		}
	}
	CRL_DIST_POINTS_free(cdp);
	AUTHORITY_INFO_ACCESS_free(aia);
	X509_free(x);

	/* Without URLs: neither extension. */
	prof.crl_url = prof.ca_issuers_url = NULL;
	x = ca_issue(ca, req, "2002", &prof, err, sizeof(err));
	CHECK_MSG(x != NULL, "%s", err);
	n = x != NULL ? X509_get_ext_by_NID(x, NID_crl_distribution_points, -1) +
	    X509_get_ext_by_NID(x, NID_info_access, -1) : 0;
	CHECK(x != NULL && n == -2);
	X509_free(x);
	X509_REQ_free(req);
	EVP_PKEY_free(ek);
}

/* Run CMD; 1 if it exits 0 and its output (stdout and stderr) contains every WANT. */
static int
run_grep(const char *cmd, const char *const *want, size_t nwant)
{
	FILE	*p;
	char	 buf[65536];
	size_t	 n, i;
	int	 st, ok = 1;

	if ((p = popen(cmd, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = '\0';
	st = pclose(p);
	for (i = 0; i < nwant; i++)
		if (strstr(buf, want[i]) == NULL) {
			fprintf(stderr, "%s: no \"%s\" in:\n%s\n", cmd, want[i], buf);
			ok = 0;
		}
	if (st != 0)
		fprintf(stderr, "%s: exit %d:\n%s\n", cmd, st, buf);
	return ok && st == 0;
}

static void
test_crl(struct ca *ca)
{
	static const struct crl_entry ents[] = {
		{ "1f", 1700000000, 1 },		/* keyCompromise */
		{ "02", 1700000100, -1 },
		{ "0100", 1700000200, 4 },		/* superseded */
		{ "Aa", 1700000300, 6 },		/* certificateHold */
	};
	static const char *const want_text[] = {
		"Version 2 (0x1)", "X509v3 CRL Number", "X509v3 Authority Key Identifier",
		"Serial Number: 02", "Serial Number: 1F", "Serial Number: AA",
		"Serial Number: 0100", "Key Compromise", "Superseded", "Certificate Hold",
		"sha256WithRSAEncryption",
	};
	static const char *const want_ok[] = { "verify OK" };
	X509_CRL			*crl = NULL;
	STACK_OF(X509_REVOKED)		*revs;
	X509_REVOKED			*rev;
	ASN1_INTEGER			*num = NULL;
	ASN1_ENUMERATED			*reason;
	BIGNUM				*bn = NULL;
	FILE				*f;
	char				 err[512] = "", path[600], cmd[2000];
	static const long		 order[] = { 0x02, 0x1f, 0xaa, 0x100 };
	int				 i, crit;

	crl = ca_make_crl(ca, ents, 4, "0C", 7, err, sizeof(err));
	CHECK_MSG(crl != NULL, "%s", err);
	if (crl == NULL)
		return;
	CHECK(X509_CRL_get_version(crl) == X509_CRL_VERSION_2);
	CHECK(X509_CRL_verify(crl, X509_get0_pubkey(ca_cert(ca))) == 1);
	CHECK(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca_cert(ca))) == 0);
	CHECK(labs(secs_from_now(X509_CRL_get0_lastUpdate(crl))) < 60);
	CHECK(labs(secs_from_now(X509_CRL_get0_nextUpdate(crl)) - 7L * 86400) < 60);
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
	CHECK(num != NULL && ASN1_INTEGER_get(num) == 12 && crit == 0);
	CHECK(X509_CRL_get_ext_by_NID(crl, NID_authority_key_identifier, -1) >= 0);
	revs = X509_CRL_get_REVOKED(crl);
	CHECK(sk_X509_REVOKED_num(revs) == 4);
	for (i = 0; i < sk_X509_REVOKED_num(revs) && i < 4; i++) {
		rev = sk_X509_REVOKED_value(revs, i);
		CHECK(ASN1_INTEGER_get(X509_REVOKED_get0_serialNumber(rev)) == order[i]);
		reason = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
		if (order[i] == 0x02)
			CHECK(reason == NULL && crit == -1);
		else
			CHECK(reason != NULL && ASN1_ENUMERATED_get(reason) ==
			    (order[i] == 0x1f ? 1 : order[i] == 0xaa ? 6 : 4));
		if (order[i] == 0x1f)
			CHECK(ASN1_TIME_cmp_time_t(X509_REVOKED_get0_revocationDate(rev),
			    1700000000) == 0);
		ASN1_ENUMERATED_free(reason);
	}
	/* The openssl(1) tool agrees. */
	snprintf(path, sizeof(path), "%s/test.crl.pem", root);
	CHECK((f = fopen(path, "w")) != NULL && PEM_write_X509_CRL(f, crl) == 1);
	if (f != NULL)
		fclose(f);
	snprintf(cmd, sizeof(cmd), "openssl crl -in '%s' -CAfile '%s/ca/ca.pem' -noout 2>&1",
	    path, root);
	CHECK(run_grep(cmd, want_ok, 1));
	snprintf(cmd, sizeof(cmd), "openssl crl -in '%s' -noout -text 2>&1", path);
	CHECK(run_grep(cmd, want_text, sizeof(want_text) / sizeof(want_text[0])));
	X509_CRL_free(crl);
	ASN1_INTEGER_free(num);

	/* Empty CRL, CRL number zero. */
	crl = ca_make_crl(ca, NULL, 0, "00", 1, err, sizeof(err));
	CHECK_MSG(crl != NULL, "%s", err);
	if (crl != NULL) {
		CHECK(X509_CRL_verify(crl, X509_get0_pubkey(ca_cert(ca))) == 1);
		CHECK(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) <= 0);
		num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
		bn = num != NULL ? ASN1_INTEGER_to_BN(num, NULL) : NULL;
		CHECK(bn != NULL && BN_is_zero(bn));
	}
	X509_CRL_free(crl);
	ASN1_INTEGER_free(num);
	BN_free(bn);

	/* Refusals. */
	{
		struct crl_entry dup[] = { { "0A", 1, -1 }, { "a", 2, -1 } };
		struct crl_entry bad[] = { { "0x1", 1, -1 } };
		struct crl_entry empty[] = { { "", 1, -1 } };
		struct crl_entry r7[] = { { "01", 1, 7 } };
		struct crl_entry r11[] = { { "01", 1, 11 } };

		CHECK(ca_make_crl(ca, dup, 2, "01", 7, err, sizeof(err)) == NULL &&
		    strstr(err, "twice") != NULL);
		CHECK(ca_make_crl(ca, bad, 1, "01", 7, err, sizeof(err)) == NULL &&
		    strstr(err, "bad serial") != NULL);
		CHECK(ca_make_crl(ca, empty, 1, "01", 7, err, sizeof(err)) == NULL);
		CHECK(ca_make_crl(ca, r7, 1, "01", 7, err, sizeof(err)) == NULL &&
		    strstr(err, "reason") != NULL);
		CHECK(ca_make_crl(ca, r11, 1, "01", 7, err, sizeof(err)) == NULL);
		CHECK(ca_make_crl(ca, NULL, 0, "01", 0, err, sizeof(err)) == NULL);
		CHECK(ca_make_crl(ca, NULL, 0, "", 7, err, sizeof(err)) == NULL);
		CHECK(ca_make_crl(ca, NULL, 0, "xy", 7, err, sizeof(err)) == NULL);
		CHECK(ca_make_crl(ca, NULL, 0, NULL, 7, err, sizeof(err)) == NULL);
	}
	ERR_clear_error();
}

/* An intermediate CA in a second repository, issued by the first, with chain.pem. */
static void
test_chain(struct ca *rootca)
{
	char		 repo2[600], p[700], err[512] = "";
	EVP_PKEY	*ik = EVP_RSA_gen(2048), *ek = EVP_EC_gen("P-256");
	X509		*ic = X509_new(), *leaf = NULL, *certs[MAX_CHAIN + 1];
	X509_NAME	*n = ca_parse_dn("/CN=Intermediate", NULL, 0);
	X509_REQ	*req = NULL;
	X509V3_CTX	 ctx;
	X509_EXTENSION	*e;
	struct ca	*ica = NULL;
	struct cert_profile prof = { .days = 30, .keep_san = 1 };
	STACK_OF(X509)	*untrusted = NULL;
	int		 i;

	snprintf(repo2, sizeof(repo2), "%s/second", root);
	CHECK(mkdir(repo2, 0700) == 0);
	path_of(p, sizeof(p), repo2, "ca");
	CHECK(mkdir(p, 0700) == 0);

	CHECK(ik != NULL && ic != NULL && n != NULL);
	CHECK(X509_set_version(ic, 2));
	CHECK(ASN1_INTEGER_set(X509_get_serialNumber(ic), 4242));
	CHECK(X509_set_subject_name(ic, n));
	CHECK(X509_set_issuer_name(ic, X509_get_subject_name(ca_cert(rootca))));
	CHECK(X509_set_pubkey(ic, ik));
	CHECK(X509_gmtime_adj(X509_getm_notBefore(ic), -600) != NULL);
	CHECK(X509_gmtime_adj(X509_getm_notAfter(ic), 86400 * 100) != NULL);
	X509V3_set_ctx(&ctx, ca_cert(rootca), ic, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
	CHECK(e != NULL && X509_add_ext(ic, e, -1));
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign,"
	    "digitalSignature,keyEncipherment");
	CHECK(e != NULL && X509_add_ext(ic, e, -1));
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
	CHECK(e != NULL && X509_add_ext(ic, e, -1));
	X509_EXTENSION_free(e);
	CHECK(X509_sign(ic, ca_scep_key(rootca), EVP_sha256()) > 0);

	path_of(p, sizeof(p), repo2, "ca/ca.pem");
	CHECK(write_pem_certs(p, &ic, 1));
	path_of(p, sizeof(p), repo2, "ca/ca.key");
	CHECK(write_pem_key(p, ik));
	CHECK(chmod(p, 0600) == 0);

	/* A chain in the wrong order (a stranger) is refused. */
	path_of(p, sizeof(p), repo2, "ca/chain.pem");
	CHECK(write_pem_certs(p, &ic, 1));
	CHECK(ca_load(repo2, NULL, err, sizeof(err)) == NULL);
	CHECK_MSG(strstr(err, "did not issue") != NULL, "%s", err);
	/* More than MAX_CHAIN certificates is refused. */
	for (i = 0; i <= MAX_CHAIN; i++)
		certs[i] = ca_cert(rootca);
	CHECK(write_pem_certs(p, certs, MAX_CHAIN + 1));
	CHECK(ca_load(repo2, NULL, err, sizeof(err)) == NULL);
	CHECK_MSG(strstr(err, "more than") != NULL, "%s", err);
	/* An empty chain.pem is an error, not "no chain". */
	CHECK(write_pem_certs(p, certs, 0));
	CHECK(ca_load(repo2, NULL, err, sizeof(err)) == NULL);

	certs[0] = ca_cert(rootca);
	CHECK(write_pem_certs(p, certs, 1));
	ica = ca_load(repo2, NULL, err, sizeof(err));
	CHECK_MSG(ica != NULL, "%s", err);
	if (ica == NULL)
		goto out;
	CHECK(sk_X509_num(ca_getcacert_certs(ica)) == 2);
	CHECK(X509_cmp(sk_X509_value(ca_getcacert_certs(ica), 0), ic) == 0);
	CHECK(X509_cmp(sk_X509_value(ca_getcacert_certs(ica), 1), ca_cert(rootca)) == 0);

	req = make_csr(ek, "/CN=leaf", "DNS:leaf.example", 1);
	leaf = ca_issue(ica, req, "01", &prof, err, sizeof(err));
	CHECK_MSG(leaf != NULL, "%s", err);
	untrusted = sk_X509_new_null();
	CHECK(untrusted != NULL && sk_X509_push(untrusted, ic));
	if (leaf != NULL) {
		CHECK(verifies(leaf, ca_cert(rootca), untrusted));
		CHECK(!verifies(leaf, ca_cert(rootca), NULL));
		/* The CA's validity (100 days) was not exceeded... */
		CHECK(ASN1_TIME_compare(X509_get0_notAfter(leaf), X509_get0_notAfter(ic)) < 0);
	}
	X509_free(leaf);
	/* ...and is the cap when more is asked. */
	prof.days = 365;
	leaf = ca_issue(ica, req, "02", &prof, err, sizeof(err));
	CHECK(leaf != NULL && ASN1_TIME_compare(X509_get0_notAfter(leaf),
	    X509_get0_notAfter(ic)) == 0);
out:
	sk_X509_free(untrusted);
	X509_free(leaf);
	X509_REQ_free(req);
	ca_free(ica);
	X509_NAME_free(n);
	X509_free(ic);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(ek);
	ERR_clear_error();
}

/* ca_load refusals: missing files, a key that does not match, a non-RSA key. */
static void
test_load_bad(struct ca *good)
{
	char		 repo3[600], p[700], err[512] = "";
	EVP_PKEY	*other = EVP_RSA_gen(2048), *ec = EVP_EC_gen("P-256");
	X509		*c = ca_cert(good);

	snprintf(repo3, sizeof(repo3), "%s/third", root);
	CHECK(ca_load(repo3, NULL, err, sizeof(err)) == NULL);
	CHECK_MSG(strstr(err, "ca.pem") != NULL, "%s", err);
	CHECK(mkdir(repo3, 0700) == 0);
	path_of(p, sizeof(p), repo3, "ca");
	CHECK(mkdir(p, 0700) == 0);
	path_of(p, sizeof(p), repo3, "ca/ca.pem");
	CHECK(write_pem_certs(p, &c, 1));
	CHECK(ca_load(repo3, NULL, err, sizeof(err)) == NULL);
	CHECK_MSG(strstr(err, "ca.key") != NULL, "%s", err);

	path_of(p, sizeof(p), repo3, "ca/ca.key");
	CHECK(write_pem_key(p, other));
	chmod(p, 0600);
	CHECK(ca_load(repo3, NULL, err, sizeof(err)) == NULL);
	CHECK_MSG(strstr(err, "does not match") != NULL, "%s", err);

	CHECK(write_pem_key(p, ec));
	CHECK(ca_load(repo3, NULL, err, sizeof(err)) == NULL);
	CHECK_MSG(strstr(err, "not an RSA key") != NULL, "%s", err);

	EVP_PKEY_free(other);
	EVP_PKEY_free(ec);
	ERR_clear_error();
}

static void
test_parse_dn(void)
{
	static const char *const bad[] = {
		"", "CN=x", "/", "/CN=", "/CN=x/", "/XX=y", "/sha256=x", "/CN", "/CN=x\\",
		"/C=USA", "/CN=\xff\xfe", "//CN=x", "/=x", "/CN=x//O=y", "/1.2.3.4=x",
	};
	X509_NAME	*n;
	char		 err[512], buf[256], longdn[2100];
	size_t		 i;

	n = ca_parse_dn("/CN=x/O=y", err, sizeof(err));
	CHECK(n != NULL && X509_NAME_entry_count(n) == 2);
	if (n != NULL) {
		CHECK(OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(n, 0))) ==
		    NID_commonName);
		X509_NAME_oneline(n, buf, sizeof(buf));
		CHECK_MSG(strcmp(buf, "/CN=x/O=y") == 0, "%s", buf);
	}
	X509_NAME_free(n);

	n = ca_parse_dn("/CN=a\\/b=c\\\\d+e", err, sizeof(err));
	CHECK(n != NULL && X509_NAME_entry_count(n) == 1);
	if (n != NULL) {
		X509_NAME_get_text_by_NID(n, NID_commonName, buf, sizeof(buf));
		CHECK_MSG(strcmp(buf, "a/b=c\\d+e") == 0, "%s", buf);
	}
	X509_NAME_free(n);

	n = ca_parse_dn("/C=US/ST=CA/L=SF/street=1 Main/postalCode=94000/O=o/OU=u/CN=c"
	    "/emailAddress=a@b.example/DC=example/UID=jdoe/serialNumber=42/title=t/GN=g"
	    "/SN=s/commonName=long form", err, sizeof(err));
	CHECK_MSG(n != NULL && X509_NAME_entry_count(n) == 16, "%s", err);
	X509_NAME_free(n);

	/* UTF-8 is kept as UTF8String. */
	n = ca_parse_dn("/CN=Gr\xc3\xbc\xc3\x9f Gott", err, sizeof(err));
	CHECK_MSG(n != NULL, "%s", err);
	if (n != NULL)
		CHECK(ASN1_STRING_type(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, 0))) ==
		    V_ASN1_UTF8STRING);
	X509_NAME_free(n);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		n = ca_parse_dn(bad[i], err, sizeof(err));
		CHECK_MSG(n == NULL && err[0] != '\0', "accepted \"%s\"", bad[i]);
		X509_NAME_free(n);
	}
	CHECK(ca_parse_dn(NULL, err, sizeof(err)) == NULL);
	memset(longdn, 'a', sizeof(longdn) - 1);
	longdn[sizeof(longdn) - 1] = '\0';
	memcpy(longdn, "/CN=", 4);
	CHECK(ca_parse_dn(longdn, err, sizeof(err)) == NULL);
	ERR_clear_error();
}

/* ------------------------------------------------------------ RA, rollover */

/* A new repository ROOT/NAME (with ca/) into buf. */
static void
new_repo(char *buf, size_t len, const char *name)
{
	char	p[700];

	snprintf(buf, len, "%s/%s", root, name);
	CHECK(mkdir(buf, 0700) == 0);
	snprintf(p, sizeof(p), "%s/ca", buf);
	CHECK(mkdir(p, 0700) == 0);
}

static void
add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION	*e;

	if (value == NULL)
		return;
	e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	CHECK(e != NULL && X509_add_ext(x, e, -1));
	X509_EXTENSION_free(e);
}

/*
 * A certificate for DN with key PUB, issued by ISSUER (NULL: self-signed) and signed with
 * SIGNKEY, 100 days; BC, KU, EKU in openssl.cnf syntax or NULL for none.
 */
static X509 *
mk_cert(const char *dn, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *signkey, const char *bc,
    const char *ku, const char *eku, long serial)
{
	X509		*x = X509_new();
	X509_NAME	*n = ca_parse_dn(dn, NULL, 0);
	X509V3_CTX	 ctx;

	CHECK(x != NULL && n != NULL);
	CHECK(X509_set_version(x, 2));
	CHECK(ASN1_INTEGER_set(X509_get_serialNumber(x), serial));
	CHECK(X509_set_subject_name(x, n));
	CHECK(X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n));
	CHECK(X509_set_pubkey(x, pub));
	CHECK(X509_gmtime_adj(X509_getm_notBefore(x), -600) != NULL);
	CHECK(X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 100) != NULL);
	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	add_conf_ext(x, &ctx, NID_basic_constraints, bc);
	add_conf_ext(x, &ctx, NID_key_usage, ku);
	add_conf_ext(x, &ctx, NID_ext_key_usage, eku);
	add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash");
	add_conf_ext(x, &ctx, NID_authority_key_identifier, "keyid");
	CHECK(X509_sign(x, signkey, EVP_sha256()) > 0);
	X509_NAME_free(n);
	return x;
}

static void
repo_file(char *buf, size_t len, const char *repo, const char *name)
{
	snprintf(buf, len, "%s/ca/%s", repo, name);
}

static int
exists(const char *repo, const char *name)
{
	char	p[800];

	repo_file(p, sizeof(p), repo, name);
	return access(p, F_OK) == 0;
}

/* ca_load(REPO) fails with an error containing WANT. */
static void
load_fails(const char *repo, const char *want, int line)
{
	struct ca	*ca;
	char		 err[1024] = "";

	ca = ca_load(repo, NULL, err, sizeof(err));
	CHECK_MSG(ca == NULL && strstr(err, want) != NULL, "line %d: want \"%s\", got \"%s\"",
	    line, want, err);
	ca_free(ca);
	ERR_clear_error();
}

static int
same_cert(X509 *a, X509 *b)
{
	return a != NULL && b != NULL && X509_cmp(a, b) == 0;
}

/* RA mode made by ca_init_ra(): the RA profile, GetCACert, recipients, issuing. */
static void
test_ra_mode(void)
{
	char		 repo[600], err[512] = "";
	struct ca	*ca = NULL;
	X509		*ra, *cac, *c = NULL, *leaf = NULL;
	EVP_PKEY	*k = NULL, *ek = EVP_EC_gen("P-256");
	STACK_OF(X509)	*sk;
	ASN1_INTEGER	*bogus = NULL;
	X509_REQ	*req = NULL;
	X509_CRL	*crl = NULL;
	EXTENDED_KEY_USAGE *eku = NULL;
	struct cert_profile prof = { .days = 30 };
	char		 txt[80];
	int		 i, cra = 0, sa = 0;

	new_repo(repo, sizeof(repo), "ra");
	/* No CA yet. */
	CHECK(ca_init_ra(repo, "/CN=RA", 2048, 365, NULL, NULL, err, sizeof(err)) == 0);
	CHECK_MSG(ca_init(repo, "/CN=RA Test CA", 2048, 3650, NULL, NULL, err, sizeof(err)) == 1, "%s", err);
	CHECK(ca_init_ra(repo, "CN=bad", 2048, 365, NULL, NULL, err, sizeof(err)) == 0);
	CHECK(ca_init_ra(repo, "/CN=RA", 1024, 365, NULL, NULL, err, sizeof(err)) == 0);
	CHECK_MSG(ca_init_ra(repo, "/CN=SCEP RA/O=Example", 2048, 365, NULL, NULL, err, sizeof(err)) == 1,
	    "%s", err);
	CHECK(ca_init_ra(repo, "/CN=RA again", 2048, 365, NULL, NULL, err, sizeof(err)) == 0);
	CHECK_MSG(strstr(err, "refusing to replace the RA") != NULL, "%s", err);

	ca = ca_load(repo, NULL, err, sizeof(err));
	CHECK_MSG(ca != NULL, "%s", err);
	if (ca == NULL)
		goto out;
	ra = ca_scep_cert(ca);
	cac = ca_cert(ca);
	CHECK(ra != cac && ra == ca_generation_cert(ca, CA_GEN_CURRENT, 1));
	CHECK(cac == ca_generation_cert(ca, CA_GEN_CURRENT, 0));
	CHECK(ca_generation_cert(ca, CA_GEN_OLD, 0) == NULL &&
	    ca_generation_cert(ca, CA_GEN_NEXT, 0) == NULL);
	CHECK(ca_scep_key(ca) != NULL && X509_check_private_key(ra, ca_scep_key(ca)) == 1);
	CHECK(EVP_PKEY_get_base_id(ca_scep_key(ca)) == EVP_PKEY_RSA);
	/* The RA profile: end entity, KU dS+kE critical, EKU serverAuth + CRA, by the CA. */
	CHECK(X509_check_ca(ra) == 0);
	CHECK(X509_get_key_usage(ra) == (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
	CHECK(ext_critical(ra, NID_key_usage) == 1);
	CHECK(ext_critical(ra, NID_basic_constraints) == 1);
	eku = X509_get_ext_d2i(ra, NID_ext_key_usage, NULL, NULL);
	for (i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++) {
		OBJ_obj2txt(txt, sizeof(txt), sk_ASN1_OBJECT_value(eku, i), 1);
		cra |= strcmp(txt, "1.3.6.1.4.1.311.20.2.1") == 0;
		sa |= OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == NID_server_auth;
	}
	CHECK(cra && sa);
	CHECK(X509_check_issued(cac, ra) == X509_V_OK &&
	    X509_verify(ra, X509_get0_pubkey(cac)) == 1);
	CHECK(verifies_purpose(ra, cac, X509_PURPOSE_SSL_SERVER));
	CHECK(labs(secs_from_now(X509_get0_notAfter(ra)) - 365L * 86400) < 60);
	CHECK(X509_get0_subject_key_id(ra) != NULL && X509_get0_authority_key_id(ra) != NULL);
	CHECK(ca_issuer_of(ca, ra) == cac);

	/* GetCACert [RA, CA]; the self-signed issuing CA stays without the root. */
	sk = ca_getcacert_certs(ca);
	CHECK(sk_X509_num(sk) == 2 && sk_X509_value(sk, 0) == ra && sk_X509_value(sk, 1) == cac);
	ca_set_include_root(ca, 0);
	sk = ca_getcacert_certs(ca);
	CHECK(sk_X509_num(sk) == 2 && sk_X509_value(sk, 0) == ra && sk_X509_value(sk, 1) == cac);
	ca_set_include_root(ca, 1);
	CHECK(ca_next_certs(ca) == NULL);

	/* ca_recipient: the RA first, the CA too (RA mode), strangers not. */
	CHECK(ca_recipient(ca, X509_get_issuer_name(ra), X509_get0_serialNumber(ra), &c, &k)
	    == 1 && c == ra && k == ca_scep_key(ca));
	CHECK(ca_recipient(ca, X509_get_issuer_name(cac), X509_get0_serialNumber(cac), &c,
	    &k) == 1 && c == cac && k != ca_scep_key(ca) && X509_check_private_key(cac, k) == 1);
	bogus = ASN1_INTEGER_new();
	CHECK(bogus != NULL && ASN1_INTEGER_set(bogus, 12345));
	CHECK(ca_recipient(ca, X509_get_issuer_name(ra), bogus, &c, &k) == 0 && c == NULL &&
	    k == NULL);
	CHECK(ca_recipient(ca, X509_get_subject_name(ra), X509_get0_serialNumber(ra), NULL,
	    NULL) == 0);
	CHECK(ca_recipient(ca, X509_get_issuer_name(ra), X509_get0_serialNumber(ra), NULL,
	    NULL) == 1);
	/* ca_signer_for: the generation's SCEP pair (the RA, even for the CA). */
	CHECK(ca_signer_for(ca, cac, &c, &k) == 1 && c == ra && k == ca_scep_key(ca));
	CHECK(ca_signer_for(ca, NULL, &c, &k) == 0 && c == ra && k == ca_scep_key(ca));
	CHECK(ca_signer_for(ca, ra, NULL, NULL) == 1);

	/* Issuing and CRLs still by the CA. */
	req = make_csr(ek, "/CN=device", NULL, 0);
	leaf = ca_issue(ca, req, "0B", &prof, err, sizeof(err));
	CHECK_MSG(leaf != NULL, "%s", err);
	if (leaf != NULL) {
		CHECK(X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(cac)) == 0);
		CHECK(verifies(leaf, cac, NULL));
		CHECK(ca_issuer_of(ca, leaf) == cac);
		CHECK(ca_issuer_of(ca, cac) == cac);	/* self-signed */
	}
	crl = ca_make_crl(ca, NULL, 0, "01", 7, err, sizeof(err));
	CHECK(crl != NULL && X509_CRL_verify(crl, X509_get0_pubkey(cac)) == 1);
	CHECK(crl != NULL && X509_NAME_cmp(X509_CRL_get_issuer(crl),
	    X509_get_subject_name(cac)) == 0);
out:
	EXTENDED_KEY_USAGE_free(eku);
	X509_CRL_free(crl);
	X509_free(leaf);
	X509_REQ_free(req);
	ASN1_INTEGER_free(bogus);
	EVP_PKEY_free(ek);
	ca_free(ca);
	ERR_clear_error();
}

/* RAs ca_load() refuses, and the same through ca_import(). */
static void
test_ra_refusals(void)
{
	char		 repo[600], p[800], pk[800], err[1024] = "";
	struct ca	*ca = NULL;
	EVP_PKEY	*rk = EVP_RSA_gen(2048), *ok2 = EVP_RSA_gen(2048), *ek = EVP_EC_gen("P-256");
	X509		*cac = NULL, *x = NULL, *stranger = NULL;
	const char	*kue = "critical,digitalSignature,keyEncipherment";
	int		 i;

	new_repo(repo, sizeof(repo), "rabad");
	CHECK_MSG(ca_init(repo, "/CN=Bad RA CA", 2048, 3650, NULL, NULL, err, sizeof(err)) == 1, "%s", err);
	ca = ca_load(repo, NULL, err, sizeof(err));
	CHECK_MSG(ca != NULL, "%s", err);
	if (ca == NULL)
		goto out;
	cac = ca_cert(ca);
	repo_file(p, sizeof(p), repo, "ra.pem");
	repo_file(pk, sizeof(pk), repo, "ra.key");

	/* One file without the other. */
	x = mk_cert("/CN=RA", rk, cac, ca_scep_key(ca), "critical,CA:FALSE", kue, "serverAuth",
	    100);
	CHECK(write_pem_certs(p, &x, 1));
	load_fails(repo, "an RA needs both", __LINE__);
	unlink(p);
	CHECK(write_pem_key(pk, rk));
	load_fails(repo, "an RA needs both", __LINE__);

	/* Key that does not match. */
	CHECK(write_pem_certs(p, &x, 1));
	CHECK(write_pem_key(pk, ok2));
	load_fails(repo, "does not match", __LINE__);
	/* The good one loads. */
	CHECK(write_pem_key(pk, rk));
	{
		struct ca *good = ca_load(repo, NULL, err, sizeof(err));

		CHECK_MSG(good != NULL, "%s", err);
		CHECK(good != NULL && same_cert(ca_scep_cert(good), x));
		ca_free(good);
	}
	X509_free(x);

	/* An EC RA. */
	x = mk_cert("/CN=RA", ek, cac, ca_scep_key(ca), "critical,CA:FALSE", kue, NULL, 101);
	CHECK(write_pem_certs(p, &x, 1));
	CHECK(write_pem_key(pk, ek));
	load_fails(repo, "not an RSA key", __LINE__);
	X509_free(x);
	CHECK(write_pem_key(pk, rk));

	/* A CA as RA. */
	x = mk_cert("/CN=RA", rk, cac, ca_scep_key(ca), "critical,CA:TRUE",
	    "critical,keyCertSign,digitalSignature,keyEncipherment", NULL, 102);
	CHECK(write_pem_certs(p, &x, 1));
	load_fails(repo, "an RA must be an end entity", __LINE__);
	X509_free(x);

	/* Issued by someone else (same issuer name, other key), and self-signed. */
	stranger = mk_cert("/CN=Bad RA CA", ok2, NULL, ok2, "critical,CA:TRUE",
	    "critical,keyCertSign,cRLSign", NULL, 1);
	x = mk_cert("/CN=RA", rk, stranger, ok2, "critical,CA:FALSE", kue, NULL, 103);
	CHECK(write_pem_certs(p, &x, 1));
	load_fails(repo, "was not issued by", __LINE__);
	X509_free(x);
	x = mk_cert("/CN=RA", rk, NULL, rk, "critical,CA:FALSE", kue, NULL, 104);
	CHECK(write_pem_certs(p, &x, 1));
	load_fails(repo, "was not issued by", __LINE__);
	X509_free(x);

	/* Key usages: sign only, encipher only, none. */
	for (i = 0; i < 3; i++) {
		static const char *const kus[] = {
			"critical,digitalSignature", "critical,keyEncipherment", NULL
		};

		x = mk_cert("/CN=RA", rk, cac, ca_scep_key(ca), "critical,CA:FALSE", kus[i],
		    NULL, 105 + i);
		CHECK(write_pem_certs(p, &x, 1));
		load_fails(repo, "needs keyUsage digitalSignature and keyEncipherment",
		    __LINE__);
		X509_free(x);
	}
	unlink(p);
	unlink(pk);

	/* ca_import of an RA: the same refusals, nothing written; then a good one. */
	x = mk_cert("/CN=RA", rk, cac, ca_scep_key(ca), "critical,CA:FALSE",
	    "critical,digitalSignature", NULL, 110);
	snprintf(p, sizeof(p), "%s/in-ra.pem", repo);
	snprintf(pk, sizeof(pk), "%s/in-ra.key", repo);
	CHECK(write_pem_certs(p, &x, 1) && write_pem_key(pk, rk));
	CHECK(ca_import(repo, p, pk, NULL, 1, NULL, err, sizeof(err)) == 0);
	CHECK_MSG(strstr(err, "keyEncipherment") != NULL, "%s", err);
	CHECK(!exists(repo, "ra.pem") && !exists(repo, "ra.key"));
	X509_free(x);
	x = mk_cert("/CN=Imported RA", rk, cac, ca_scep_key(ca), "critical,CA:FALSE", kue,
	    NULL, 111);
	CHECK(write_pem_certs(p, &x, 1));
	CHECK(write_pem_key(pk, ok2));
	CHECK(ca_import(repo, p, pk, NULL, 1, NULL, err, sizeof(err)) == 0);
	CHECK_MSG(strstr(err, "does not match") != NULL, "%s", err);
	CHECK(write_pem_key(pk, rk));
	CHECK(ca_import(repo, p, pk, p, 1, NULL, err, sizeof(err)) == 0);	/* no chain for an RA */
	CHECK(!exists(repo, "ra.pem") && !exists(repo, "ra.key"));
	/* No EKU: a warning only. */
	CHECK_MSG(ca_import(repo, p, pk, NULL, 1, NULL, err, sizeof(err)) == 1, "%s", err);
	CHECK(ca_import(repo, p, pk, NULL, 1, NULL, err, sizeof(err)) == 0);
	CHECK_MSG(strstr(err, "refusing to replace the RA") != NULL, "%s", err);
	{
		struct ca	*imp = ca_load(repo, NULL, err, sizeof(err));
		struct stat	 st;

		CHECK_MSG(imp != NULL, "%s", err);
		CHECK(imp != NULL && same_cert(ca_scep_cert(imp), x));
		ca_free(imp);
		repo_file(pk, sizeof(pk), repo, "ra.key");
		CHECK(stat(pk, &st) == 0 && (st.st_mode & 0777) == 0600);
	}
	X509_free(x);
out:
	X509_free(stranger);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ok2);
	EVP_PKEY_free(ek);
	ca_free(ca);
	ERR_clear_error();
}

/* A root and an intermediate (the CA to import) with their keys, like `openssl req/x509`. */
struct pki {
	EVP_PKEY	*rootkey, *intkey;
	X509		*root, *inter;
};

static void
pki_make(struct pki *k, const char *rootdn, const char *intdn, const char *intku, long serial)
{
	k->rootkey = EVP_RSA_gen(2048);
	k->intkey = EVP_RSA_gen(2048);
	k->root = mk_cert(rootdn, k->rootkey, NULL, k->rootkey, "critical,CA:TRUE",
	    "critical,keyCertSign,cRLSign", NULL, serial);
	k->inter = mk_cert(intdn, k->intkey, k->root, k->rootkey, "critical,CA:TRUE", intku,
	    NULL, serial + 1);
}

static void
pki_free(struct pki *k)
{
	X509_free(k->root);
	X509_free(k->inter);
	EVP_PKEY_free(k->rootkey);
	EVP_PKEY_free(k->intkey);
}

/* ca_import of an intermediate CA with chain.pem; GetCACert with and without the root. */
static void
test_import_intermediate(void)
{
	char		 repo[600], cp[800], kp[800], chp[800], err[1024] = "";
	struct pki	 k = { 0 };
	struct ca	*ca = NULL;
	STACK_OF(X509)	*sk;
	X509		*ee = NULL, *two[2];
	EVP_PKEY	*enc = NULL;
	struct stat	 st;

	new_repo(repo, sizeof(repo), "inter");
	pki_make(&k, "/CN=Import Root", "/CN=Import Issuing CA",
	    "critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment", 500);
	snprintf(cp, sizeof(cp), "%s/in.pem", repo);
	snprintf(kp, sizeof(kp), "%s/in.key", repo);
	snprintf(chp, sizeof(chp), "%s/in-chain.pem", repo);
	CHECK(write_pem_certs(cp, &k.inter, 1) && write_pem_key(kp, k.intkey));

	/* Refusals, each leaving ca/ empty. */
	CHECK(write_pem_certs(chp, &k.inter, 1));		/* not its issuer */
	CHECK(ca_import(repo, cp, kp, chp, 0, NULL, err, sizeof(err)) == 0);
	CHECK_MSG(strstr(err, "did not issue") != NULL, "%s", err);
	two[0] = k.root;
	two[1] = k.inter;
	CHECK(write_pem_certs(chp, two, 2));			/* root, then a non-issuer */
	CHECK(ca_import(repo, cp, kp, chp, 0, NULL, err, sizeof(err)) == 0);
	CHECK(ca_import(repo, cp, kp, "/nonexistent/chain.pem", 0, NULL, err, sizeof(err)) == 0);
	CHECK_MSG(strstr(err, "/nonexistent/chain.pem") != NULL, "%s", err);
	CHECK(write_pem_key(kp, k.rootkey));			/* wrong key */
	CHECK(write_pem_certs(chp, &k.root, 1));
	CHECK(ca_import(repo, cp, kp, chp, 0, NULL, err, sizeof(err)) == 0);
	CHECK_MSG(strstr(err, "does not match") != NULL, "%s", err);
	/* An encrypted key without a configured passphrase is refused, never prompted for. */
	{
		FILE *f = fopen(kp, "w");

		CHECK(f != NULL && PEM_write_PrivateKey(f, k.intkey, EVP_aes_128_cbc(),
		    (unsigned char *)"secret", 6, NULL, NULL));
		if (f != NULL)
			fclose(f);
	}
	CHECK(ca_import(repo, cp, kp, chp, 0, NULL, err, sizeof(err)) == 0);
	CHECK_MSG(strstr(err, "no passphrase is configured") != NULL, "%s", err);
	CHECK(write_pem_key(kp, k.intkey));
	/* An end entity is not a CA; a CA without keyCertSign is refused. */
	enc = EVP_RSA_gen(2048);
	ee = mk_cert("/CN=ee", enc, k.root, k.rootkey, "critical,CA:FALSE",
	    "critical,digitalSignature,keyEncipherment", NULL, 600);
	{
		char eep[800], eek[800];

		snprintf(eep, sizeof(eep), "%s/ee.pem", repo);
		snprintf(eek, sizeof(eek), "%s/ee.key", repo);
		CHECK(write_pem_certs(eep, &ee, 1) && write_pem_key(eek, enc));
		CHECK(ca_import(repo, eep, eek, NULL, 0, NULL, err, sizeof(err)) == 0);
		CHECK_MSG(strstr(err, "not a CA certificate") != NULL, "%s", err);
		X509_free(ee);
		ee = mk_cert("/CN=nosign", enc, k.root, k.rootkey, "critical,CA:TRUE",
		    "critical,cRLSign,digitalSignature,keyEncipherment", NULL, 601);
		CHECK(write_pem_certs(eep, &ee, 1));
		CHECK(ca_import(repo, eep, eek, NULL, 0, NULL, err, sizeof(err)) == 0);
		CHECK_MSG(strstr(err, "keyCertSign") != NULL, "%s", err);
	}
	CHECK(!exists(repo, "ca.pem") && !exists(repo, "ca.key") && !exists(repo, "chain.pem"));

	/* The good import. */
	CHECK_MSG(ca_import(repo, cp, kp, chp, 0, NULL, err, sizeof(err)) == 1, "%s", err);
	CHECK(ca_import(repo, cp, kp, chp, 0, NULL, err, sizeof(err)) == 0);
	CHECK_MSG(strstr(err, "refusing to replace a CA") != NULL, "%s", err);
	repo_file(kp, sizeof(kp), repo, "ca.key");
	CHECK(stat(kp, &st) == 0 && (st.st_mode & 0777) == 0600);
	ca = ca_load(repo, NULL, err, sizeof(err));
	CHECK_MSG(ca != NULL, "%s", err);
	if (ca == NULL)
		goto out;
	CHECK(same_cert(ca_cert(ca), k.inter) && ca_scep_cert(ca) == ca_cert(ca));
	sk = ca_getcacert_certs(ca);
	CHECK(sk_X509_num(sk) == 2 && same_cert(sk_X509_value(sk, 0), k.inter) &&
	    same_cert(sk_X509_value(sk, 1), k.root));
	ca_set_include_root(ca, 0);
	sk = ca_getcacert_certs(ca);
	CHECK(sk_X509_num(sk) == 1 && same_cert(sk_X509_value(sk, 0), k.inter));
	ca_free(ca);

	/* With an RA: [RA, CA, root], without the root [RA, CA]. */
	CHECK_MSG(ca_init_ra(repo, "/CN=Inter RA", 2048, 30, NULL, NULL, err, sizeof(err)) == 1, "%s", err);
	ca = ca_load(repo, NULL, err, sizeof(err));
	CHECK_MSG(ca != NULL, "%s", err);
	if (ca == NULL)
		goto out;
	sk = ca_getcacert_certs(ca);
	CHECK(sk_X509_num(sk) == 3 && sk_X509_value(sk, 0) == ca_scep_cert(ca) &&
	    sk_X509_value(sk, 1) == ca_cert(ca) && same_cert(sk_X509_value(sk, 2), k.root));
	ca_set_include_root(ca, 0);
	sk = ca_getcacert_certs(ca);
	CHECK(sk_X509_num(sk) == 2 && sk_X509_value(sk, 0) == ca_scep_cert(ca) &&
	    sk_X509_value(sk, 1) == ca_cert(ca));
	/* The RA validity is capped at the issuing CA's. */
	CHECK(ASN1_TIME_compare(X509_get0_notAfter(ca_scep_cert(ca)),
	    X509_get0_notAfter(k.inter)) <= 0);
	/* The root is not a CA of ours: it issued the intermediate, not our certificates. */
	CHECK(ca_issuer_of(ca, k.inter) == NULL);
	CHECK(ca_issuer_of(ca, ca_scep_cert(ca)) == ca_cert(ca));
out:
	X509_free(ee);
	EVP_PKEY_free(enc);
	ca_free(ca);
	pki_free(&k);
	ERR_clear_error();
}

/* prepare + switch, twice, in RA mode; recipients and issuers across the generations. */
static void
test_rollover(void)
{
	char		 repo[600], p[800], p2[800], err[1024] = "";
	struct ca	*ca = NULL;
	X509		*ca1 = NULL, *ra1 = NULL, *ca2 = NULL, *ra2 = NULL, *l1 = NULL, *l2 = NULL;
	X509		*c;
	EVP_PKEY	*k, *ek = EVP_EC_gen("P-256");
	X509_REQ	*req = NULL;
	STACK_OF(X509)	*sk;
	X509_CRL	*crl = NULL;
	struct cert_profile prof = { .days = 30 };
	FILE		*f;

	new_repo(repo, sizeof(repo), "roll");
	CHECK(ca_rollover_prepare(repo, NULL, 0, 0, NULL, NULL, NULL, err, sizeof(err)) == 0);	/* no CA */
	CHECK_MSG(ca_init(repo, "/CN=Roll CA/O=Example", 2048, 1000, NULL, NULL, err, sizeof(err)) == 1,
	    "%s", err);
	CHECK_MSG(ca_init_ra(repo, "/CN=Roll RA", 2048, 200, NULL, NULL, err, sizeof(err)) == 1, "%s", err);
	CHECK(ca_rollover_switch(repo, NULL, err, sizeof(err)) == 0);
	CHECK_MSG(strstr(err, "no rollover is prepared") != NULL, "%s", err);
	CHECK(ca_rollover_prepare(repo, "bad", 0, 0, NULL, NULL, NULL, err, sizeof(err)) == 0);
	CHECK(ca_rollover_prepare(repo, NULL, 1024, 0, NULL, NULL, NULL, err, sizeof(err)) == 0);
	CHECK(!exists(repo, "next") && !exists(repo, "next.tmp"));

	/* Generation 1: issue a certificate. */
	ca = ca_load(repo, NULL, err, sizeof(err));
	CHECK_MSG(ca != NULL, "%s", err);
	if (ca == NULL)
		goto out;
	ca1 = X509_dup(ca_cert(ca));
	ra1 = X509_dup(ca_scep_cert(ca));
	req = make_csr(ek, "/CN=roller", NULL, 0);
	l1 = ca_issue(ca, req, "11", &prof, err, sizeof(err));
	CHECK_MSG(l1 != NULL, "%s", err);
	ca_free(ca);

	/* A leftover next.tmp/ of a crashed prepare is cleaned up. */
	repo_file(p, sizeof(p), repo, "next.tmp");
	CHECK(mkdir(p, 0700) == 0);
	repo_file(p, sizeof(p), repo, "next.tmp/.tmp-junk");
	CHECK((f = fopen(p, "w")) != NULL);
	if (f != NULL)
		fclose(f);
	CHECK_MSG(ca_rollover_prepare(repo, NULL, 0, 0, NULL, NULL, NULL, err, sizeof(err)) == 1, "%s", err);
	CHECK(!exists(repo, "next.tmp") && exists(repo, "next/ca.pem") &&
	    exists(repo, "next/ca.key") && exists(repo, "next/ra.pem") &&
	    exists(repo, "next/ra.key"));
	CHECK(ca_rollover_prepare(repo, NULL, 0, 0, NULL, NULL, NULL, err, sizeof(err)) == 0);
	CHECK_MSG(strstr(err, "already prepared") != NULL, "%s", err);

	ca = ca_load(repo, NULL, err, sizeof(err));
	CHECK_MSG(ca != NULL, "%s", err);
	if (ca == NULL)
		goto out;
	/* Current unchanged; next = [next RA, next CA], same subject/size/validity length. */
	CHECK(same_cert(ca_cert(ca), ca1) && same_cert(ca_scep_cert(ca), ra1));
	sk = ca_next_certs(ca);
	CHECK(sk != NULL && sk_X509_num(sk) == 2);
	if (sk == NULL || sk_X509_num(sk) != 2)
		goto out;
	ra2 = X509_dup(sk_X509_value(sk, 0));
	ca2 = X509_dup(sk_X509_value(sk, 1));
	CHECK(ca2 == NULL || !same_cert(ca2, ca1));
	CHECK(X509_NAME_cmp(X509_get_subject_name(ca2), X509_get_subject_name(ca1)) == 0);
	CHECK(X509_NAME_cmp(X509_get_subject_name(ra2), X509_get_subject_name(ra1)) == 0);
	CHECK(X509_check_ca(ca2) == 1 && X509_check_ca(ra2) == 0);
	CHECK(EVP_PKEY_get_bits(X509_get0_pubkey(ca2)) == 2048);
	CHECK(labs(secs_from_now(X509_get0_notAfter(ca2)) - 1000L * 86400) < 400);
	CHECK(labs(secs_from_now(X509_get0_notAfter(ra2)) - 200L * 86400) < 400);
	CHECK(verifies_purpose(ra2, ca2, X509_PURPOSE_SSL_SERVER) &&
	    !verifies_purpose(ra2, ca1, X509_PURPOSE_SSL_SERVER));
	CHECK(same_cert(ca_generation_cert(ca, CA_GEN_NEXT, 0), ca2) &&
	    same_cert(ca_generation_cert(ca, CA_GEN_NEXT, 1), ra2));
	/* The next RA decrypts already; the reply can be signed by its generation. */
	CHECK(ca_recipient(ca, X509_get_issuer_name(ra2), X509_get0_serialNumber(ra2), &c, &k)
	    == 1 && same_cert(c, ra2) && X509_check_private_key(ra2, k) == 1);
	CHECK(ca_signer_for(ca, c, &c, &k) == 1 && same_cert(c, ra2));
	CHECK(ca_recipient(ca, X509_get_issuer_name(ca2), X509_get0_serialNumber(ca2), &c, &k)
	    == 1 && same_cert(c, ca2) && X509_check_private_key(ca2, k) == 1);
	CHECK(ca_issuer_of(ca, l1) == ca_cert(ca));
	ca_set_include_root(ca, 0);
	CHECK(sk_X509_num(ca_next_certs(ca)) == 2);	/* the issuing CA is never dropped */
	ca_free(ca);
	ca = NULL;

	/* A next/ without an RA while the current CA has one: refused, nothing moved. */
	repo_file(p, sizeof(p), repo, "next/ra.pem");
	repo_file(p2, sizeof(p2), repo, "ra-save.pem");
	CHECK(rename(p, p2) == 0);
	repo_file(p, sizeof(p), repo, "next/ra.key");
	repo_file(p2, sizeof(p2), repo, "ra-save.key");
	CHECK(rename(p, p2) == 0);
	CHECK(ca_rollover_switch(repo, NULL, err, sizeof(err)) == 0);
	CHECK_MSG(strstr(err, "has none") != NULL, "%s", err);
	/* An incomplete next/ is refused by the switch and by ca_load. */
	repo_file(p, sizeof(p), repo, "next/ca.key");
	repo_file(p2, sizeof(p2), repo, "ca-save.key");
	CHECK(rename(p, p2) == 0);
	CHECK(ca_rollover_switch(repo, NULL, err, sizeof(err)) == 0);
	CHECK_MSG(strstr(err, "next/ca.key") != NULL, "%s", err);
	load_fails(repo, "next/ca.key", __LINE__);
	CHECK(exists(repo, "ca.pem") && !exists(repo, "old"));
	CHECK(rename(p2, p) == 0);
	repo_file(p, sizeof(p), repo, "ra-save.pem");
	repo_file(p2, sizeof(p2), repo, "next/ra.pem");
	CHECK(rename(p, p2) == 0);
	repo_file(p, sizeof(p), repo, "ra-save.key");
	repo_file(p2, sizeof(p2), repo, "next/ra.key");
	CHECK(rename(p, p2) == 0);

	/* Switch. */
	CHECK_MSG(ca_rollover_switch(repo, NULL, err, sizeof(err)) == 1, "%s", err);
	CHECK(!exists(repo, "next") && !exists(repo, "switching") && exists(repo, "old/ca.pem")
	    && exists(repo, "old/ca.key") && exists(repo, "old/ra.pem") &&
	    exists(repo, "old/ra.key") && !exists(repo, "old/chain.pem"));
	ca = ca_load(repo, NULL, err, sizeof(err));
	CHECK_MSG(ca != NULL, "%s", err);
	if (ca == NULL)
		goto out;
	CHECK(same_cert(ca_cert(ca), ca2) && same_cert(ca_scep_cert(ca), ra2));
	CHECK(same_cert(ca_generation_cert(ca, CA_GEN_OLD, 0), ca1) &&
	    same_cert(ca_generation_cert(ca, CA_GEN_OLD, 1), ra1));
	CHECK(ca_next_certs(ca) == NULL);
	sk = ca_getcacert_certs(ca);
	CHECK(sk_X509_num(sk) == 2 && same_cert(sk_X509_value(sk, 0), ra2) &&
	    same_cert(sk_X509_value(sk, 1), ca2));
	/* Old generation: still decrypts; its certificates are still ours. */
	CHECK(ca_recipient(ca, X509_get_issuer_name(ra1), X509_get0_serialNumber(ra1), &c, &k)
	    == 1 && same_cert(c, ra1) && X509_check_private_key(ra1, k) == 1);
	CHECK(ca_signer_for(ca, c, &c, &k) == 1 && same_cert(c, ra1));
	CHECK(ca_recipient(ca, X509_get_issuer_name(ca1), X509_get0_serialNumber(ca1), &c, &k)
	    == 1 && same_cert(c, ca1));
	CHECK(ca_recipient(ca, X509_get_issuer_name(ra2), X509_get0_serialNumber(ra2), &c, &k)
	    == 1 && c == ca_scep_cert(ca) && k == ca_scep_key(ca));
	CHECK(ca_issuer_of(ca, l1) == ca_generation_cert(ca, CA_GEN_OLD, 0));
	/* Same subject, other key: only the signature tells them apart. */
	l2 = ca_issue(ca, req, "12", &prof, err, sizeof(err));
	CHECK_MSG(l2 != NULL, "%s", err);
	CHECK(l2 != NULL && ca_issuer_of(ca, l2) == ca_cert(ca));
	CHECK(l2 != NULL && verifies(l2, ca2, NULL) && !verifies(l2, ca1, NULL));
	crl = ca_make_crl(ca, NULL, 0, "02", 7, err, sizeof(err));
	CHECK(crl != NULL && X509_CRL_verify(crl, X509_get0_pubkey(ca2)) == 1);
	ca_free(ca);
	ca = NULL;

	/* Second round with a new subject: the older old/ is replaced. */
	CHECK_MSG(ca_rollover_prepare(repo, "/CN=Roll CA 3", 2048, 30, NULL, NULL, NULL, err, sizeof(err)) == 1,
	    "%s", err);
	CHECK_MSG(ca_rollover_switch(repo, NULL, err, sizeof(err)) == 1, "%s", err);
	ca = ca_load(repo, NULL, err, sizeof(err));
	CHECK_MSG(ca != NULL, "%s", err);
	if (ca == NULL)
		goto out;
	CHECK(same_cert(ca_generation_cert(ca, CA_GEN_OLD, 0), ca2) &&
	    same_cert(ca_generation_cert(ca, CA_GEN_OLD, 1), ra2));
	CHECK(X509_NAME_cmp(X509_get_subject_name(ca_cert(ca)), X509_get_subject_name(ca2))
	    != 0);
	/* The next RA is capped at the new CA's 30 days. */
	CHECK(labs(secs_from_now(X509_get0_notAfter(ca_scep_cert(ca))) - 30L * 86400) < 400);
	CHECK(ca_recipient(ca, X509_get_issuer_name(ra1), X509_get0_serialNumber(ra1), &c, &k)
	    == 0);
	CHECK(ca_issuer_of(ca, l1) == NULL);
	CHECK(l2 != NULL && ca_issuer_of(ca, l2) == ca_generation_cert(ca, CA_GEN_OLD, 0));
	ca_free(ca);
	ca = NULL;
out:
	X509_CRL_free(crl);
	X509_REQ_free(req);
	X509_free(l1);
	X509_free(l2);
	X509_free(ca1);
	X509_free(ra1);
	X509_free(ca2);
	X509_free(ra2);
	EVP_PKEY_free(ek);
	ca_free(ca);
	ERR_clear_error();
}

/* A switch interrupted in either phase is finished by running it again. */
static void
test_switch_resume(void)
{
	char		 repo[600], p[800], p2[800], err[1024] = "";
	struct ca	*ca = NULL;
	X509		*cur = NULL, *next = NULL;
	FILE		*f;
	int		 phase;

	new_repo(repo, sizeof(repo), "resume");
	CHECK_MSG(ca_init(repo, "/CN=Resume CA", 2048, 100, NULL, NULL, err, sizeof(err)) == 1, "%s", err);
	for (phase = 1; phase <= 2; phase++) {
		CHECK_MSG(ca_rollover_prepare(repo, NULL, 0, 0, NULL, NULL, NULL, err, sizeof(err)) == 1, "%s",
		    err);
		ca = ca_load(repo, NULL, err, sizeof(err));
		CHECK_MSG(ca != NULL, "%s", err);
		if (ca == NULL)
			return;
		X509_free(cur);
		X509_free(next);
		cur = X509_dup(ca_cert(ca));
		next = X509_dup(ca_generation_cert(ca, CA_GEN_NEXT, 0));
		ca_free(ca);
		ca = NULL;

		/* What a crash leaves: old/ replaced, the marker, some files moved. */
		repo_file(p, sizeof(p), repo, "old");
		if (phase == 2) {
			repo_file(p2, sizeof(p2), repo, "old/ca.pem");
			unlink(p2);
			repo_file(p2, sizeof(p2), repo, "old/ca.key");
			unlink(p2);
			CHECK(rmdir(p) == 0);
		}
		CHECK(mkdir(p, 0700) == 0);
		repo_file(p, sizeof(p), repo, "ca.key");
		repo_file(p2, sizeof(p2), repo, "old/ca.key");
		CHECK(rename(p, p2) == 0);
		if (phase == 2) {
			repo_file(p, sizeof(p), repo, "ca.pem");
			repo_file(p2, sizeof(p2), repo, "old/ca.pem");
			CHECK(rename(p, p2) == 0);
			repo_file(p, sizeof(p), repo, "next/ca.pem");
			repo_file(p2, sizeof(p2), repo, "ca.pem");
			CHECK(rename(p, p2) == 0);
		}
		repo_file(p, sizeof(p), repo, "switching");
		CHECK((f = fopen(p, "w")) != NULL);
		if (f != NULL) {
			fprintf(f, "%d\n", phase);
			fclose(f);
		}
		load_fails(repo, "interrupted", __LINE__);
		CHECK(ca_rollover_prepare(repo, NULL, 0, 0, NULL, NULL, NULL, err, sizeof(err)) == 0);

		CHECK_MSG(ca_rollover_switch(repo, NULL, err, sizeof(err)) == 1, "phase %d: %s", phase,
		    err);
		ca = ca_load(repo, NULL, err, sizeof(err));
		CHECK_MSG(ca != NULL, "phase %d: %s", phase, err);
		if (ca == NULL)
			break;
		CHECK(same_cert(ca_cert(ca), next));
		CHECK(same_cert(ca_generation_cert(ca, CA_GEN_OLD, 0), cur));
		CHECK(ca_next_certs(ca) == NULL && !exists(repo, "switching"));
		ca_free(ca);
		ca = NULL;
	}
	/* A damaged marker is reported, not guessed at. */
	repo_file(p, sizeof(p), repo, "switching");
	CHECK((f = fopen(p, "w")) != NULL);
	if (f != NULL) {
		fputs("x\n", f);
		fclose(f);
	}
	CHECK(ca_rollover_switch(repo, NULL, err, sizeof(err)) == 0);
	CHECK_MSG(strstr(err, "damaged") != NULL, "%s", err);
	unlink(p);
	X509_free(cur);
	X509_free(next);
	ca_free(ca);
	ERR_clear_error();
}

/* Rollover to an imported intermediate (with chain) from a self-signed CA in CA mode. */
static void
test_rollover_import(void)
{
	char		 repo[600], cp[800], kp[800], chp[800], err[1024] = "";
	struct pki	 k = { 0 };
	struct ca	*ca = NULL;
	STACK_OF(X509)	*sk;

	new_repo(repo, sizeof(repo), "rollimp");
	CHECK_MSG(ca_init(repo, "/CN=Self CA", 2048, 100, NULL, NULL, err, sizeof(err)) == 1, "%s", err);
	/* The current CA itself is not a rollover. */
	repo_file(cp, sizeof(cp), repo, "ca.pem");
	repo_file(kp, sizeof(kp), repo, "ca.key");
	CHECK(ca_rollover_import(repo, cp, kp, NULL, NULL, NULL, err, sizeof(err)) == 0);
	CHECK_MSG(strstr(err, "current CA") != NULL, "%s", err);
	CHECK(!exists(repo, "next") && !exists(repo, "next.tmp"));

	/* An intermediate without dS/kE: imported (a warning), no RA made in CA mode. */
	pki_make(&k, "/CN=New Root", "/CN=New Issuing", "critical,keyCertSign,cRLSign", 700);
	snprintf(cp, sizeof(cp), "%s/new.pem", repo);
	snprintf(kp, sizeof(kp), "%s/new.key", repo);
	snprintf(chp, sizeof(chp), "%s/new-chain.pem", repo);
	CHECK(write_pem_certs(cp, &k.inter, 1) && write_pem_key(kp, k.intkey) &&
	    write_pem_certs(chp, &k.root, 1));
	CHECK_MSG(ca_rollover_import(repo, cp, kp, chp, NULL, NULL, err, sizeof(err)) == 1, "%s", err);
	CHECK(exists(repo, "next/chain.pem") && !exists(repo, "next/ra.pem"));
	ca = ca_load(repo, NULL, err, sizeof(err));
	CHECK_MSG(ca != NULL, "%s", err);
	if (ca == NULL)
		goto out;
	sk = ca_next_certs(ca);
	CHECK(sk != NULL && sk_X509_num(sk) == 2 && same_cert(sk_X509_value(sk, 0), k.inter)
	    && same_cert(sk_X509_value(sk, 1), k.root));
	ca_set_include_root(ca, 0);
	sk = ca_next_certs(ca);
	CHECK(sk != NULL && sk_X509_num(sk) == 1 && same_cert(sk_X509_value(sk, 0), k.inter));
	CHECK(sk_X509_num(ca_getcacert_certs(ca)) == 1);	/* never the only one */
	ca_free(ca);
	CHECK_MSG(ca_rollover_switch(repo, NULL, err, sizeof(err)) == 1, "%s", err);
	CHECK(exists(repo, "chain.pem") && !exists(repo, "old/chain.pem"));
	ca = ca_load(repo, NULL, err, sizeof(err));
	CHECK_MSG(ca != NULL, "%s", err);
	if (ca != NULL)
		CHECK(same_cert(ca_cert(ca), k.inter) &&
		    sk_X509_num(ca_getcacert_certs(ca)) == 2);
out:
	ca_free(ca);
	pki_free(&k);
	ERR_clear_error();
}

/*
 * An EnvelopedData of MSG to TO (and FIRST before it, if any), RSA key transport
 * (OAEP if OAEP), AES-128-CBC. DER into *der.
 */
static int
envelope(X509 *first, X509 *to, int oaep, const char *msg, unsigned char **der)
{
	CMS_ContentInfo		*cms;
	CMS_RecipientInfo	*ri;
	BIO			*in = BIO_new_mem_buf(msg, (int)strlen(msg));
	int			 n = 0;

	cms = CMS_encrypt(NULL, NULL, EVP_aes_128_cbc(), CMS_BINARY | CMS_PARTIAL);
	if (cms != NULL && in != NULL &&
	    (first == NULL || CMS_add1_recipient_cert(cms, first, 0) != NULL) &&
	    (ri = CMS_add1_recipient_cert(cms, to, CMS_KEY_PARAM)) != NULL &&
	    (!oaep || EVP_PKEY_CTX_set_rsa_padding(CMS_RecipientInfo_get0_pkey_ctx(ri),
	    RSA_PKCS1_OAEP_PADDING) > 0) &&
	    CMS_final(cms, in, NULL, CMS_BINARY) == 1)
		n = i2d_CMS_ContentInfo(cms, der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	return n;
}

/* ca_sign_scep()'s DER: one signer that verifies with SIGNER, certificates [SIGNER, X]. */
static int
signed_by(const unsigned char *der, size_t len, X509 *signer, X509 *extra, int nid,
    const char *content)
{
	const unsigned char	*p = der;
	PKCS7			*p7 = d2i_PKCS7(NULL, &p, (long)len);
	STACK_OF(X509)		*certs;
	PKCS7_SIGNER_INFO	*si;
	ASN1_TYPE		*t;
	BIO			*out = BIO_new(BIO_s_mem());
	char			*data;
	long			 n;
	int			 ok = 0;

	if (p7 == NULL || p != der + len || !PKCS7_type_is_signed(p7) || out == NULL)
		goto out;
	certs = p7->d.sign->cert;
	if (sk_X509_num(certs) != (extra != NULL ? 2 : 1) ||
	    X509_cmp(sk_X509_value(certs, 0), signer) != 0 ||
	    (extra != NULL && X509_cmp(sk_X509_value(certs, 1), extra) != 0))
		goto out;
	if (sk_PKCS7_SIGNER_INFO_num(PKCS7_get_signer_info(p7)) != 1)
		goto out;
	si = sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(p7), 0);
	if (nid != NID_undef && ((t = PKCS7_get_signed_attribute(si, nid)) == NULL ||
	    t->type != V_ASN1_PRINTABLESTRING))
		goto out;
	if (PKCS7_verify(p7, NULL, NULL, NULL, out, PKCS7_NOVERIFY | PKCS7_BINARY) != 1)
		goto out;
	n = BIO_get_mem_data(out, &data);
	ok = n == (long)strlen(content) && (n == 0 || memcmp(data, content, (size_t)n) == 0);
out:
	BIO_free(out);
	PKCS7_free(p7);
	ERR_clear_error();
	return ok;
}

/*
 * The operations that use the keys, over an old and a current generation (RA mode):
 * ca_decrypt() chooses by certificate and says which, ca_sign_scep() signs as that
 * generation, ca_sign_cms() as the current CA.
 */
static void
test_key_operations(void)
{
	char		 repo[600], err[1024] = "";
	struct ca	*ca = NULL;
	X509		*old_ra, *old_ca, *stranger = NULL;
	const X509	*rcpt;
	EVP_PKEY	*sk = EVP_RSA_gen(2048);
	STACK_OF(X509_ATTRIBUTE) *attrs = NULL;
	STACK_OF(X509)	*extra = sk_X509_new_null();
	unsigned char	*der = NULL, *plain = NULL, *sig = NULL;
	size_t		 plen = 0, siglen = 0, i;
	enum ca_decrypt_fail why;
	/* OID 2.16.840.1.101.3.4.1.2, aes-128-cbc */
	static const unsigned char aes128[] = {
		0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02
	};
	int		 n;

	new_repo(repo, sizeof(repo), "keyops");
	CHECK_MSG(ca_init(repo, "/CN=Keyops CA", 2048, 100, NULL, NULL, err, sizeof(err)) == 1 &&
	    ca_init_ra(repo, "/CN=Keyops RA", 2048, 100, NULL, NULL, err, sizeof(err)) == 1 &&
	    ca_rollover_prepare(repo, NULL, 0, 0, NULL, NULL, NULL, err, sizeof(err)) == 1 &&
	    ca_rollover_switch(repo, NULL, err, sizeof(err)) == 1, "%s", err);
	if ((ca = ca_load(repo, NULL, err, sizeof(err))) == NULL || sk == NULL || extra == NULL)
		goto out;
	old_ra = ca_generation_cert(ca, CA_GEN_OLD, 1);
	old_ca = ca_generation_cert(ca, CA_GEN_OLD, 0);
	stranger = mk_cert("/CN=Stranger", sk, NULL, sk, "critical,CA:TRUE", NULL, NULL, 7);

	/* To the old RA, a foreign recipient first: decrypted, the old RA named. */
	CHECK((n = envelope(stranger, old_ra, 0, "hello", &der)) > 0);
	CHECK(ca_decrypt(ca, der, (size_t)n, &plain, &plen, &rcpt, &why) == 1 &&
	    rcpt == old_ra && plen == 5 && memcmp(plain, "hello", 5) == 0);
	free(plain);
	plain = NULL;
	OPENSSL_free(der);
	der = NULL;
	/* OAEP to the old CA (RA mode: the CA key decrypts too). */
	CHECK((n = envelope(NULL, old_ca, 1, "oaep", &der)) > 0);
	CHECK(ca_decrypt(ca, der, (size_t)n, &plain, &plen, &rcpt, &why) == 1 &&
	    rcpt == old_ca && plen == 4);
	free(plain);
	plain = NULL;
	/* Garbage, and a stranger only. */
	CHECK(ca_decrypt(ca, der, (size_t)n - 1, &plain, &plen, &rcpt, &why) == 0 &&
	    why == CA_DECRYPT_MALFORMED && plain == NULL && rcpt == NULL);
	OPENSSL_free(der);
	der = NULL;
	CHECK((n = envelope(NULL, stranger, 0, "x", &der)) > 0);
	CHECK(ca_decrypt(ca, der, (size_t)n, &plain, &plen, &rcpt, &why) == 0 &&
	    why == CA_DECRYPT_NOT_OURS && plain == NULL);
	OPENSSL_free(der);
	der = NULL;
	/*
	 * Ours, but the content does not decrypt: an unknown content cipher (AES-128-CBC's
	 * OID with another last arc). Not a wrong key: RSA key transport then yields a random
	 * content key, and CBC padding still checks out about once in 256 tries.
	 */
	CHECK((n = envelope(NULL, ca_scep_cert(ca), 0, "x", &der)) > 0);
	for (i = 0; n > 0 && i + sizeof(aes128) <= (size_t)n; i++)
		if (memcmp(der + i, aes128, sizeof(aes128)) == 0) {
			der[i + sizeof(aes128) - 1] = 0x7f;
			break;
		}
	CHECK(n > 0 && i + sizeof(aes128) <= (size_t)n);
	CHECK(ca_decrypt(ca, der, (size_t)n, &plain, &plen, &rcpt, &why) == 0 &&
	    why == CA_DECRYPT_FAILED && plain == NULL);
	ERR_clear_error();

	/* Signed as the generation the request was encrypted to, else as the current one. */
	CHECK(X509at_add1_attr_by_NID(&attrs, NID_pkcs9_challengePassword,
	    V_ASN1_PRINTABLESTRING, (const unsigned char *)"attr", 4) != NULL);
	CHECK(ca_sign_scep(ca, old_ca, EVP_sha256(), (const unsigned char *)"reply", 5, attrs,
	    NULL, &sig, &siglen) == 1);
	CHECK(signed_by(sig, siglen, old_ra, NULL, NID_pkcs9_challengePassword, "reply"));
	OPENSSL_free(sig);
	sig = NULL;
	CHECK(sk_X509_push(extra, stranger) > 0);
	CHECK(ca_sign_scep(ca, NULL, EVP_sha256(), NULL, 0, NULL, extra, &sig, &siglen) == 1);
	CHECK(signed_by(sig, siglen, ca_scep_cert(ca), stranger, NID_undef, ""));
	OPENSSL_free(sig);
	sig = NULL;
	CHECK(ca_sign_scep(ca, stranger, EVP_sha1(), (const unsigned char *)"r", 1, NULL,
	    NULL, &sig, &siglen) == 1);
	CHECK(signed_by(sig, siglen, ca_scep_cert(ca), NULL, NID_undef, "r"));
	OPENSSL_free(sig);
	sig = NULL;
	/* CMS: the current CA, never the RA. */
	CHECK_MSG(ca_sign_cms(ca, (const unsigned char *)"doc", 3, NULL, &sig, &siglen, err,
	    sizeof(err)) == 1, "%s", err);
	if (sig != NULL) {
		const unsigned char	*q = sig;
		CMS_ContentInfo		*cms = d2i_CMS_ContentInfo(NULL, &q, (long)siglen);
		STACK_OF(X509)		*signers;

		CHECK(cms != NULL && CMS_verify(cms, NULL, NULL, NULL, NULL,
		    CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) == 1);
		signers = cms != NULL ? CMS_get0_signers(cms) : NULL;
		CHECK(sk_X509_num(signers) == 1 && X509_cmp(sk_X509_value(signers, 0),
		    ca_cert(ca)) == 0);
		sk_X509_free(signers);
		CMS_ContentInfo_free(cms);
	}
out:
	CHECK_MSG(ca != NULL, "%s", err);
	OPENSSL_free(sig);
	OPENSSL_free(der);
	free(plain);
	sk_X509_ATTRIBUTE_pop_free(attrs, X509_ATTRIBUTE_free);
	sk_X509_free(extra);
	X509_free(stranger);
	EVP_PKEY_free(sk);
	ca_free(ca);
	ERR_clear_error();
}

/* SECRET into a file PATH (one line). */
static void
write_secret(const char *path, const char *secret)
{
	FILE	*f = fopen(path, "w");

	CHECK(f != NULL);
	if (f != NULL) {
		fprintf(f, "%s\n", secret);
		fclose(f);
	}
}

/*
 * The key store with PEM files: a configured passphrase encrypts what init writes, opens it
 * again (also from a "credential"), and a missing or wrong one is named; pkcs11: URIs that
 * carry a PIN or name no key are refused before any token is touched.
 */
static void
test_key_store(void)
{
	struct ca_keysrc	 src = { 0 };
	struct ca		*ca;
	char			 repo[600], pass[600], bad[600], creds[600], key[700];
	char			 err[1024] = "", where[700];
	const char		*kind = NULL;
	FILE			*f;
	char			 line[128] = "";

	snprintf(repo, sizeof(repo), "%s/keystore", root);
	snprintf(pass, sizeof(pass), "%s/pass", root);
	snprintf(bad, sizeof(bad), "%s/bad", root);
	snprintf(creds, sizeof(creds), "%s/creds", root);
	snprintf(key, sizeof(key), "%s/ca/ca.key", repo);
	CHECK(mkdir(repo, 0700) == 0 && mkdir(creds, 0700) == 0);
	write_secret(pass, "a passphrase");
	write_secret(bad, "not the passphrase");
	src.pass_file = pass;
	CHECK_MSG(ca_init(repo, "/CN=Encrypted CA", 2048, 30, NULL, &src, err, sizeof(err)),
	    "%s", err);
	if ((f = fopen(key, "r")) != NULL) {
		CHECK(fgets(line, sizeof(line), f) != NULL);
		fclose(f);
	}
	CHECK_MSG(strcmp(line, "-----BEGIN ENCRYPTED PRIVATE KEY-----\n") == 0, "%s", line);
	CHECK(ca_key_location(repo, CA_GEN_CURRENT, 0, where, sizeof(where), &kind) &&
	    strcmp(where, key) == 0 && strcmp(kind, "pem-encrypted") == 0);
	CHECK(!ca_key_location(repo, CA_GEN_CURRENT, 1, where, sizeof(where), &kind));
	ca = ca_load(repo, &src, err, sizeof(err));
	CHECK_MSG(ca != NULL, "%s", err);
	ca_free(ca);

	CHECK(ca_load(repo, NULL, err, sizeof(err)) == NULL);
	CHECK_MSG(strstr(err, "is encrypted and no passphrase is configured") != NULL, "%s", err);
	src.pass_file = bad;
	CHECK(ca_load(repo, &src, err, sizeof(err)) == NULL);
	CHECK_MSG(strstr(err, "wrong passphrase") != NULL && strstr(err, bad) != NULL, "%s",
	    err);
	src.pass_file = NULL;
	src.pass_credential = "ca-pass";
	unsetenv("CREDENTIALS_DIRECTORY");
	CHECK(ca_load(repo, &src, err, sizeof(err)) == NULL);
	CHECK_MSG(strstr(err, "$CREDENTIALS_DIRECTORY is not set") != NULL, "%s", err);
	setenv("CREDENTIALS_DIRECTORY", creds, 1);
	CHECK(ca_load(repo, &src, err, sizeof(err)) == NULL);
	CHECK_MSG(strstr(err, "cannot open the passphrase file") != NULL, "%s", err);
	snprintf(where, sizeof(where), "%s/ca-pass", creds);
	write_secret(where, "a passphrase");
	ca = ca_load(repo, &src, err, sizeof(err));
	CHECK_MSG(ca != NULL, "%s", err);
	ca_free(ca);
	unsetenv("CREDENTIALS_DIRECTORY");

	/* A key in a token needs the module; URIs are checked first. */
	CHECK(ca_key_uri_check("pkcs11:token=t;object=ca", err, sizeof(err)));
	CHECK(!ca_key_uri_check("pkcs11:token=t;object=ca;pin-value=1234", err, sizeof(err)));
	CHECK_MSG(strstr(err, "carries a PIN") != NULL, "%s", err);
	CHECK(!ca_key_uri_check("pkcs11:token=t?pin-source=file:/p", err, sizeof(err)));
	CHECK(!ca_key_uri_check("pkcs11:token=t", err, sizeof(err)));
	CHECK_MSG(strstr(err, "names no key") != NULL, "%s", err);
	CHECK(!ca_key_uri_check("pkcs11:token=my token;object=x", err, sizeof(err)));
	CHECK(!ca_key_uri_check("/etc/ca.key", err, sizeof(err)));
	snprintf(where, sizeof(where), "%s/tokenless", root);
	CHECK(mkdir(where, 0700) == 0);
	CHECK(!ca_init(where, "/CN=x", 2048, 30, "pkcs11:token=t;object=x", NULL, err,
	    sizeof(err)));
	CHECK_MSG(strstr(err, "ScepPKCS11Module") != NULL, "%s", err);
}

int
main(void)
{
	struct ca	*ca;
	char		 err[512] = "", cmd[600];

	log_init("test_ca", 0, LOG_LVL_ERR);
	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_parse_dn();
	test_init();
	ca = ca_load(root, NULL, err, sizeof(err));
	CHECK_MSG(ca != NULL, "ca_load: %s", err);
	if (ca != NULL) {
		test_ca_cert(ca);
		test_issue(ca);
		test_profile(ca);
		test_publication_urls(ca);
		test_crl(ca);
		test_chain(ca);
		test_load_bad(ca);
	}
	test_ra_mode();
	test_ra_refusals();
	test_import_intermediate();
	test_rollover();
	test_switch_resume();
	test_rollover_import();
	test_key_operations();
	test_key_store();
	ca_free(ca);
	ca_free(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
	return unit_done("ca");
}
