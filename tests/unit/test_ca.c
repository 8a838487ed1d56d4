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
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"
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

/* X509_verify_cert of LEAF against TRUSTED, with UNTRUSTED intermediates, purpose client. */
static int
verifies(X509 *leaf, X509 *trusted, STACK_OF(X509) *untrusted)
{
	X509_STORE	*st = X509_STORE_new();
	X509_STORE_CTX	*ctx = X509_STORE_CTX_new();
	int		 rc = 0;

	if (st == NULL || ctx == NULL || !X509_STORE_add_cert(st, trusted) ||
	    !X509_STORE_CTX_init(ctx, st, leaf, untrusted))
		goto out;
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
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

	CHECK_MSG(ca_init(root, "/CN=Test CA/O=Example\\/Slash Inc./C=DE", 2048, 3650,
	    err, sizeof(err)) == 1, "%s", err);
	path_of(p, sizeof(p), root, "ca");
	CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	path_of(p, sizeof(p), root, "ca/ca.key");
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
	path_of(p, sizeof(p), root, "ca/ca.pem");
	CHECK(stat(p, &st) == 0 && S_ISREG(st.st_mode));

	/* Never replace a key; parameters are checked. */
	CHECK(ca_init(root, "/CN=Again", 2048, 10, err, sizeof(err)) == 0);
	CHECK_MSG(strstr(err, "refusing") != NULL, "%s", err);
	CHECK(ca_init(root, "/CN=x", 1024, 10, err, sizeof(err)) == 0);
	CHECK(ca_init(root, "/CN=x", 8193, 10, err, sizeof(err)) == 0);
	CHECK(ca_init(root, "/CN=x", 2048, 0, err, sizeof(err)) == 0);
	CHECK(ca_init(root, "CN=x", 2048, 10, err, sizeof(err)) == 0);
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
	CHECK(ca_load(repo2, err, sizeof(err)) == NULL);
	CHECK_MSG(strstr(err, "did not issue") != NULL, "%s", err);
	/* More than MAX_CHAIN certificates is refused. */
	for (i = 0; i <= MAX_CHAIN; i++)
		certs[i] = ca_cert(rootca);
	CHECK(write_pem_certs(p, certs, MAX_CHAIN + 1));
	CHECK(ca_load(repo2, err, sizeof(err)) == NULL);
	CHECK_MSG(strstr(err, "more than") != NULL, "%s", err);
	/* An empty chain.pem is an error, not "no chain". */
	CHECK(write_pem_certs(p, certs, 0));
	CHECK(ca_load(repo2, err, sizeof(err)) == NULL);

	certs[0] = ca_cert(rootca);
	CHECK(write_pem_certs(p, certs, 1));
	ica = ca_load(repo2, err, sizeof(err));
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
	CHECK(ca_load(repo3, err, sizeof(err)) == NULL);
	CHECK_MSG(strstr(err, "ca.pem") != NULL, "%s", err);
	CHECK(mkdir(repo3, 0700) == 0);
	path_of(p, sizeof(p), repo3, "ca");
	CHECK(mkdir(p, 0700) == 0);
	path_of(p, sizeof(p), repo3, "ca/ca.pem");
	CHECK(write_pem_certs(p, &c, 1));
	CHECK(ca_load(repo3, err, sizeof(err)) == NULL);
	CHECK_MSG(strstr(err, "ca.key") != NULL, "%s", err);

	path_of(p, sizeof(p), repo3, "ca/ca.key");
	CHECK(write_pem_key(p, other));
	chmod(p, 0600);
	CHECK(ca_load(repo3, err, sizeof(err)) == NULL);
	CHECK_MSG(strstr(err, "does not match") != NULL, "%s", err);

	CHECK(write_pem_key(p, ec));
	CHECK(ca_load(repo3, err, sizeof(err)) == NULL);
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
	ca = ca_load(root, err, sizeof(err));
	CHECK_MSG(ca != NULL, "ca_load: %s", err);
	if (ca != NULL) {
		test_ca_cert(ca);
		test_issue(ca);
		test_profile(ca);
		test_crl(ca);
		test_chain(ca);
		test_load_bad(ca);
	}
	ca_free(ca);
	ca_free(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
	return unit_done("ca");
}
