/*
 * Unit tests of the policy decision (policy_decide()) and of the name comparisons it
 * relies on (names.c): every verdict, every refusal, from facts built in memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "names.h"
#include "policy.h"
#include "scep.h"
#include "unit.h"

static char	 dir[] = "/tmp/test_policy.XXXXXX";
static EVP_PKEY	*key, *key2, *small;

/* A configuration made of the base lines and EXTRA. */
static struct config *
conf(const char *extra)
{
	char		 path[300], err[512];
	struct config	*cf;
	FILE		*f;

	snprintf(path, sizeof(path), "%s/scep.conf", dir);
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	fprintf(f, "ScepRepository = %s\nScepChallengePassword = secret\n%s", dir, extra);
	fclose(f);
	if ((cf = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "config: %s\n", err);
		exit(1);
	}
	return cf;
}

/*
 * A name from "TYPE=VALUE/TYPE=VALUE" with every value of string type STYPE (MBSTRING_UTF8
 * or a V_ASN1_ type); a value "\0" spelt as "#0" holds a NUL there.
 */
static X509_NAME *
mkname(const char *spec, int stype)
{
	X509_NAME	*n = X509_NAME_new();
	char		 buf[256], *p, *save = NULL, *eq, val[128];
	size_t		 i, j;

	snprintf(buf, sizeof(buf), "%s", spec);
	for (p = strtok_r(buf, "/", &save); p != NULL; p = strtok_r(NULL, "/", &save)) {
		if ((eq = strchr(p, '=')) == NULL)
			continue;
		*eq++ = '\0';
		for (i = j = 0; eq[i] != '\0' && j < sizeof(val); i++, j++) {
			if (eq[i] == '#' && eq[i + 1] == '0') {
				val[j] = '\0';
				i++;
			} else
				val[j] = eq[i];
		}
		if (stype == V_ASN1_BMPSTRING) {	/* the bytes must be UCS-2 already */
			ASN1_STRING *b = NULL;

			ASN1_mbstring_copy(&b, (unsigned char *)val, (int)j, MBSTRING_UTF8,
			    B_ASN1_BMPSTRING);
			X509_NAME_add_entry_by_txt(n, p, stype, ASN1_STRING_get0_data(b),
			    ASN1_STRING_length(b), -1, 0);
			ASN1_STRING_free(b);
		} else
			X509_NAME_add_entry_by_txt(n, p, stype, (unsigned char *)val, (int)j,
			    -1, 0);
	}
	return n;
}

/* subjectAltName from an OpenSSL config value ("DNS:a,DNS:b"), or NULL. */
static X509_EXTENSION *
mksan(const char *sans)
{
	return sans ? X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sans) : NULL;
}

static X509_REQ *
mkcsr(EVP_PKEY *k, const char *subject, int stype, const char *sans)
{
	X509_REQ			*req = X509_REQ_new();
	X509_NAME			*n = mkname(subject, stype);
	STACK_OF(X509_EXTENSION)	*exts = NULL;
	X509_EXTENSION			*e = mksan(sans);

	X509_REQ_set_version(req, 0);
	X509_REQ_set_subject_name(req, n);
	X509_REQ_set_pubkey(req, k);
	if (e != NULL) {
		exts = sk_X509_EXTENSION_new_null();
		sk_X509_EXTENSION_push(exts, e);
		X509_REQ_add_extensions(req, exts);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	X509_REQ_sign(req, k, EVP_sha256());
	X509_NAME_free(n);
	return req;
}

/* A self-signed certificate for K with SUBJECT and SANS. */
static X509 *
mkcert(EVP_PKEY *k, const char *subject, const char *sans)
{
	X509		*x = X509_new();
	X509_NAME	*n = mkname(subject, MBSTRING_UTF8);
	X509_EXTENSION	*e = mksan(sans);

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	if (e != NULL)
		X509_add_ext(x, e, -1);
	X509_sign(x, k, EVP_sha256());
	X509_EXTENSION_free(e);
	X509_NAME_free(n);
	return x;
}

/* Facts of a new request: CSR for KEY signed by SIGNER (kind KIND). */
static void
arrival(struct policy_facts *f, enum signer_kind kind, X509 *signer, X509_REQ *csr)
{
	memset(f, 0, sizeof(*f));
	f->stage = STAGE_ARRIVAL;
	f->msgtype = MT_PKCSREQ;
	f->signer = kind;
	f->signer_cert = signer;
	f->csr = csr;
}

/* Decide and check the verdict (and, for a refusal, badRequest with WANT in its text). */
#define DECIDE(cf, f, d, v, want) do {						\
	policy_decision_clear(&(d));						\
	CHECK_MSG(policy_decide((cf), &(f), &(d)) && (d).verdict == (v),	\
	    "verdict %d, want %d (%s)", (d).verdict, (v), (d).text);		\
	if ((want) != NULL)							\
		CHECK_MSG(strstr((d).text, (want) ? (want) : "") != NULL,	\
		    "\"%s\" not in \"%s\"", (want) ? (want) : "", (d).text);	\
	if ((v) == POLICY_REFUSE)						\
		CHECK((d).failinfo == FAIL_BADREQUEST);				\
} while (0)

static void
test_signers(void)
{
	struct config		*cf = conf("");
	struct policy_facts	 f;
	struct policy_decision	 d;
	X509_REQ		*csr = mkcsr(key, "CN=host1/O=Test", MBSTRING_UTF8, NULL);
	X509			*self = mkcert(key, "CN=host1/O=Test", NULL);
	X509			*other = mkcert(key2, "CN=attacker", NULL);
	enum signer_kind	 bad[] = { SIGNER_REVOKED, SIGNER_EXPIRED, SIGNER_UNKNOWN,
				    SIGNER_FOREIGN };
	size_t			 i;

	memset(&d, 0, sizeof(d));
	arrival(&f, SIGNER_SELF, self, csr);
	f.challenge = CHAL_STATIC;
	DECIDE(cf, f, d, POLICY_PENDING, "static");
	CHECK(d.renewal == 0 && strcmp(d.challenge, "static") == 0);
	/* A RenewalReq must be signed by the certificate it renews. */
	f.msgtype = MT_RENEWALREQ;
	DECIDE(cf, f, d, POLICY_REFUSE, "RenewalReq");
	f.msgtype = MT_PKCSREQ;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f.signer = bad[i];
		DECIDE(cf, f, d, POLICY_REFUSE, signer_kind_text(bad[i]));
	}
	/* A self-signed signer must carry the CSR's key (RFC 8894 §2.3). */
	arrival(&f, SIGNER_SELF, other, csr);
	f.challenge = CHAL_STATIC;
	DECIDE(cf, f, d, POLICY_REFUSE, "requested key");
	/* ... also when it resends a known transactionID. */
	f.existing = f.same_requester = 1;
	DECIDE(cf, f, d, POLICY_REFUSE, "requested key");
	/* A known transactionID: a poll, for the same requester only. */
	arrival(&f, SIGNER_SELF, self, csr);
	f.existing = 1;
	f.same_requester = 1;
	DECIDE(cf, f, d, POLICY_EXISTING, NULL);
	f.same_requester = 0;
	DECIDE(cf, f, d, POLICY_REFUSE, "transactionID");
	policy_decision_clear(&d);
	X509_free(self);
	X509_free(other);
	X509_REQ_free(csr);
	config_free(cf);
}

static void
test_request(void)
{
	struct config		*cf = conf("");
	struct policy_facts	 f;
	struct policy_decision	 d;
	X509_REQ		*csr;
	X509			*self;
	static const struct {
		const char	*subject, *sans, *want;
		EVP_PKEY	**k;
	} cases[] = {
		{ "CN=host1", NULL, NULL, &key },
		{ "CN=host1", NULL, "2048", &small },
		{ "", NULL, "empty subject", &key },
		{ "CN=host1#0.bank.example", NULL, "control character", &key },
		{ "CN=evil\nhost", NULL, "control character", &key },
		{ "CN=host1/O=a\x7f", NULL, "control character", &key },
		{ "CN=host1/O=\xc2\x85", NULL, "control character", &key },	/* U+0085 */
		{ "CN=h\xc3\xb6st", NULL, NULL, &key },				/* U+00F6 */
		{ "CN=host1", "DNS:www.bank.example", NULL, &key },
		{ "CN=host1", "DNS:www\x1b.bank.example", "subjectAltName 1", &key },
		{ "CN=host1", "DNS:a.example,email:x\ty@example", "subjectAltName 2", &key },
		{ "CN=host1", "URI:http://a\x01/", "subjectAltName 1", &key },
		{ "CN=host1", "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:admin\x1b@corp", "control",
		    &key },
		{ "CN=host1", "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:admin@corp", NULL, &key },
	};
	size_t			 i;

	memset(&d, 0, sizeof(d));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		csr = mkcsr(*cases[i].k, cases[i].subject, MBSTRING_UTF8, cases[i].sans);
		self = mkcert(*cases[i].k, "CN=self", NULL);
		arrival(&f, SIGNER_SELF, self, csr);
		f.challenge = CHAL_STATIC;
		if (cases[i].want == NULL)
			DECIDE(cf, f, d, POLICY_PENDING, NULL);
		else
			DECIDE(cf, f, d, POLICY_REFUSE, cases[i].want);
		X509_free(self);
		X509_REQ_free(csr);
	}
	/* A NUL inside a DNS name is refused too (the null-prefix attack). */
	{
		GENERAL_NAMES	*g = GENERAL_NAMES_new();
		GENERAL_NAME	*n = GENERAL_NAME_new();
		ASN1_IA5STRING	*s = ASN1_IA5STRING_new();
		char		 why[256];

		ASN1_STRING_set(s, "www.bank.example\0.evil", 22);
		GENERAL_NAME_set0_value(n, GEN_DNS, s);
		sk_GENERAL_NAME_push(g, n);
		CHECK(!sans_clean(g, why, sizeof(why)) && strstr(why, "control") != NULL);
		GENERAL_NAMES_free(g);
	}
	policy_decision_clear(&d);
	config_free(cf);
}

static void
test_initial(void)
{
	struct config		*cf = conf(""), *auto_cf = conf("ScepAutoApproveEnrollment = YES\n");
	struct config		*noenroll = conf("ScepAllowEnrollment = NO\n");
	struct policy_facts	 f;
	struct policy_decision	 d;
	X509_REQ		*csr = mkcsr(key, "CN=host1/O=Test", MBSTRING_UTF8, NULL);
	X509			*self = mkcert(key, "CN=host1/O=Test", NULL);

	memset(&d, 0, sizeof(d));
	arrival(&f, SIGNER_SELF, self, csr);
	f.challenge = CHAL_NONE;
	DECIDE(cf, f, d, POLICY_PENDING, NULL);
	CHECK(strcmp(d.challenge, "none") == 0 && !d.check_challenge && d.role != NULL &&
	    strcmp(d.ra, "scep") == 0);
	DECIDE(auto_cf, f, d, POLICY_PENDING, NULL);	/* no challenge: never at once */
	f.challenge = CHAL_UNCHECKED;
	DECIDE(auto_cf, f, d, POLICY_PENDING, NULL);
	CHECK(d.check_challenge == 1);
	f.challenge = CHAL_STATIC;
	DECIDE(auto_cf, f, d, POLICY_ISSUE, NULL);
	CHECK(strcmp(d.challenge, "static") == 0 && !d.check_challenge);
	DECIDE(cf, f, d, POLICY_PENDING, "ScepAutoApproveEnrollment");
	f.challenge = CHAL_ONETIME;
	DECIDE(auto_cf, f, d, POLICY_ISSUE, NULL);
	CHECK(strcmp(d.challenge, "one-time") == 0);
	f.challenge = CHAL_WRONG;
	DECIDE(auto_cf, f, d, POLICY_REFUSE, "wrong");
	f.challenge = CHAL_EXPIRED;
	DECIDE(auto_cf, f, d, POLICY_REFUSE, "expired");
	/* ScepAllowEnrollment = NO: only renewals, whatever the DN already holds. */
	f.challenge = CHAL_STATIC;
	f.valid_for_dn = 1;
	DECIDE(noenroll, f, d, POLICY_REFUSE, "ScepAllowEnrollment");
	f.valid_for_dn = 0;
	DECIDE(noenroll, f, d, POLICY_REFUSE, "ScepAllowEnrollment");
	/* A key that holds a valid certificate of ours is not enrolled again. */
	f.valid_for_dn = 1;
	f.key_certified = 1;
	DECIDE(auto_cf, f, d, POLICY_REFUSE, "holds a valid certificate");
	f.key_certified = 0;
	DECIDE(auto_cf, f, d, POLICY_ISSUE, NULL);
	policy_decision_clear(&d);
	X509_free(self);
	X509_REQ_free(csr);
	config_free(cf);
	config_free(auto_cf);
	config_free(noenroll);
}

/* A renewal of OLD (CN=host1/O=Test, DNS:host1.test.example) into SUBJECT, SANS. */
static void
renew(const struct config *cf, X509 *old, const char *subject, int stype, const char *sans,
    enum policy_verdict v, const char *want, const char *diff)
{
	struct policy_facts	 f;
	struct policy_decision	 d;
	X509_REQ		*csr = mkcsr(key2, subject, stype, sans);

	memset(&d, 0, sizeof(d));
	arrival(&f, SIGNER_VALID, old, csr);
	f.valid_for_dn = 1;
	DECIDE(cf, f, d, v, want);
	if (v != POLICY_REFUSE) {
		CHECK(d.renewal == 1 && strcmp(d.challenge, "renewal") == 0);
		CHECK_MSG(diff == NULL ? d.differences == NULL :
		    d.differences != NULL && strcmp(d.differences, diff) == 0,
		    "differences \"%s\", want \"%s\"", d.differences ? d.differences : "(none)",
		    diff ? diff : "(none)");
	}
	policy_decision_clear(&d);
	X509_REQ_free(csr);
}

static void
test_renewal(void)
{
	struct config	*cf = conf("ScepAutoApprove = YES\n");
	struct config	*manual = conf("");
	struct config	*strict = conf("ScepAutoApprove = YES\nScepRenewalNewNames = REFUSE\n");
	struct config	*norenew = conf("ScepAllowRenewal = NO\n");
	struct config	*nosan = conf("ScepAutoApprove = YES\nScepKeepSubjectAltName = NO\n");
	struct config	*rdn = conf("ScepAutoApprove = YES\nScepRenewalRDNMatch = CN, O\n");
	X509		*old = mkcert(key, "CN=host1/O=Test", "DNS:host1.test.example");
	const char	*s = "DNS:host1.test.example";

	renew(cf, old, "CN=host1/O=Test", MBSTRING_UTF8, s, POLICY_ISSUE, NULL, NULL);
	renew(manual, old, "CN=host1/O=Test", MBSTRING_UTF8, s, POLICY_PENDING, NULL, NULL);
	renew(norenew, old, "CN=host1/O=Test", MBSTRING_UTF8, s, POLICY_REFUSE,
	    "ScepAllowRenewal", NULL);
	/* Names are compared canonically: string type, case and blanks do not count. */
	renew(cf, old, "CN=host1/O=Test", V_ASN1_PRINTABLESTRING, s, POLICY_ISSUE, NULL, NULL);
	renew(cf, old, "CN=host1/O=Test", V_ASN1_BMPSTRING, s, POLICY_ISSUE, NULL, NULL);
	renew(cf, old, "CN=HOST1/O= test ", MBSTRING_UTF8, "DNS:HOST1.test.example",
	    POLICY_ISSUE, NULL, NULL);
	/* ScepRenewalRDNMatch: CN differs (also after its first character, or by a NUL). */
	renew(cf, old, "CN=hostX/O=Test", MBSTRING_UTF8, s, POLICY_REFUSE,
	    "ScepRenewalRDNMatch", NULL);
	renew(cf, old, "CN=host2/O=Test", MBSTRING_UTF8, s, POLICY_REFUSE,
	    "ScepRenewalRDNMatch", NULL);
	renew(cf, old, "CN=host/O=Test", MBSTRING_UTF8, s, POLICY_REFUSE, "ScepRenewalRDNMatch",
	    NULL);
	renew(rdn, old, "CN=host1/O=Other", MBSTRING_UTF8, s, POLICY_REFUSE, "in O", NULL);
	renew(cf, old, "CN=host1/CN=host2/O=Test", MBSTRING_UTF8, s, POLICY_REFUSE,
	    "ScepRenewalRDNMatch", NULL);
	/* New names: pending with the difference, or refused with ScepRenewalNewNames. */
	renew(cf, old, "CN=host1/O=Other", MBSTRING_UTF8, s, POLICY_PENDING, "lacks", "O=Other");
	renew(cf, old, "CN=host1/O=Test/OU=Domain Admins", MBSTRING_UTF8, s, POLICY_PENDING,
	    NULL, "OU=Domain Admins");
	renew(cf, old, "CN=host1/O=Test", MBSTRING_UTF8, "DNS:host1.test.example,"
	    "DNS:www.bank.example,DNS:*.corp.example,IP:10.0.0.1,email:a@b.example,"
	    "URI:http://x.example/,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:administrator@corp",
	    POLICY_PENDING, NULL, "DNS:www.bank.example,DNS:*.corp.example,IP:10.0.0.1,"
	    "email:a@b.example,URI:http://x.example/,UPN:administrator@corp");
	renew(cf, old, "CN=host1/O=a,b", MBSTRING_UTF8, s, POLICY_PENDING, NULL, "O=a\\x2cb");
	renew(strict, old, "CN=host1/O=Other", MBSTRING_UTF8, s, POLICY_REFUSE,
	    "ScepRenewalNewNames", NULL);
	renew(strict, old, "CN=host1/O=Test", MBSTRING_UTF8, s, POLICY_ISSUE, NULL, NULL);
	/* Fewer names are no new names. */
	renew(cf, old, "CN=host1", MBSTRING_UTF8, NULL, POLICY_ISSUE, NULL, NULL);
	/* SANs that are not copied into the certificate are not new names. */
	renew(nosan, old, "CN=host1/O=Test", MBSTRING_UTF8, "DNS:www.bank.example",
	    POLICY_ISSUE, NULL, NULL);
	X509_free(old);
	config_free(cf);
	config_free(manual);
	config_free(strict);
	config_free(norenew);
	config_free(nosan);
	config_free(rdn);
}

static void
test_renewal_limits_and_role(void)
{
	struct config		*cf = conf("ScepAutoApprove = YES\n[role default]\n"
				    "[role server]\nKeepSubjectAltName = NO\n");
	struct policy_facts	 f;
	struct policy_decision	 d;
	X509			*old = mkcert(key, "CN=host1", NULL);
	X509_REQ		*csr = mkcsr(key2, "CN=host1", MBSTRING_UTF8,
				    "DNS:new.example");

	memset(&d, 0, sizeof(d));
	arrival(&f, SIGNER_VALID, old, csr);
	f.valid_for_dn = POLICY_MAX_VALID_PER_DN;
	DECIDE(cf, f, d, POLICY_REFUSE, "already 2 valid certificates");
	f.valid_for_dn = POLICY_MAX_VALID_PER_DN - 1;
	/* The role and RA of the renewed certificate, or the defaults. */
	DECIDE(cf, f, d, POLICY_PENDING, NULL);		/* default keeps SANs: a new SAN */
	CHECK(strcmp(d.role->name, "default") == 0 && strcmp(d.ra, "scep") == 0);
	f.role = "server";
	f.ra = "ra1";
	DECIDE(cf, f, d, POLICY_ISSUE, NULL);		/* server copies no SAN */
	CHECK(strcmp(d.role->name, "server") == 0 && strcmp(d.ra, "ra1") == 0);
	f.role = "gone";
	DECIDE(cf, f, d, POLICY_PENDING, NULL);
	CHECK(strcmp(d.role->name, "default") == 0);
	CHECK(policy_role(cf, NULL) == config_role(cf, "default"));
	CHECK(policy_role(cf, "SERVER") == config_role(cf, "server"));
	CHECK(policy_keep_san(cf, config_role(cf, "server")) == 0);
	CHECK(policy_keep_san(cf, config_role(cf, "default")) == 1);
	policy_decision_clear(&d);
	X509_free(old);
	X509_REQ_free(csr);
	config_free(cf);
}

static void
test_stored_and_issue(void)
{
	struct config		*cf = conf("");
	struct policy_facts	 f;
	struct policy_decision	 d;

	memset(&d, 0, sizeof(d));
	memset(&f, 0, sizeof(f));
	f.stage = STAGE_STORED;
	f.renewal = 1;
	f.signer = SIGNER_VALID;
	DECIDE(cf, f, d, POLICY_EXISTING, NULL);
	f.signer = SIGNER_REVOKED;
	DECIDE(cf, f, d, POLICY_REFUSE, "revoked");
	f.renewal = 0;				/* an initial request has no signer to lose */
	DECIDE(cf, f, d, POLICY_EXISTING, NULL);

	f.stage = STAGE_ISSUE;
	f.renewal = 1;
	f.signer = SIGNER_VALID;
	f.valid_for_dn = 1;
	DECIDE(cf, f, d, POLICY_ISSUE, NULL);
	f.valid_for_dn = POLICY_MAX_VALID_PER_DN;
	DECIDE(cf, f, d, POLICY_REFUSE, "already 2 valid");
	f.valid_for_dn = 0;
	f.signer = SIGNER_REVOKED;
	DECIDE(cf, f, d, POLICY_REFUSE, "revoked");
	f.renewal = 0;
	f.valid_for_dn = 5;
	DECIDE(cf, f, d, POLICY_ISSUE, NULL);
	policy_decision_clear(&d);
	config_free(cf);
}

static void
test_names(void)
{
	X509_NAME	*a = mkname("CN=host1/O=Test", MBSTRING_UTF8);
	X509_NAME	*b = mkname("CN=HOST1/O=  test", V_ASN1_BMPSTRING);
	X509_NAME	*c = mkname("CN=host1#0x/O=Test", MBSTRING_UTF8);
	X509_NAME	*e = mkname("O=Test/CN=host1", MBSTRING_UTF8);
	unsigned char	 ma[32], mb[32], mc[32], me[32];
	char		*diff = NULL, why[256];

	CHECK(name_canon_digest(a, ma) && name_canon_digest(b, mb) &&
	    name_canon_digest(c, mc) && name_canon_digest(e, me));
	CHECK(X509_NAME_cmp(a, b) == 0 && memcmp(ma, mb, 32) == 0);
	CHECK(X509_NAME_cmp(a, c) != 0 && memcmp(ma, mc, 32) != 0);
	CHECK(X509_NAME_cmp(a, e) != 0 && memcmp(ma, me, 32) != 0);
	CHECK(name_clean(a, why, sizeof(why)) && name_clean(b, why, sizeof(why)));
	CHECK(!name_clean(c, why, sizeof(why)) && strstr(why, "CN") != NULL);
	CHECK(names_added(a, b, NULL, NULL, &diff) && diff == NULL);
	free(diff);
	CHECK(names_added(b, c, NULL, NULL, &diff) && diff != NULL &&
	    strcmp(diff, "CN=host1\\x00x") == 0);
	free(diff);
	X509_NAME_free(a);
	X509_NAME_free(b);
	X509_NAME_free(c);
	X509_NAME_free(e);
}

int
main(void)
{
	char	cmd[64];

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	key = EVP_RSA_gen(2048);
	key2 = EVP_RSA_gen(2048);
	small = EVP_RSA_gen(1024);
	if (key == NULL || key2 == NULL || small == NULL) {
		fprintf(stderr, "cannot make keys\n");
		return 1;
	}
	test_signers();
	test_request();
	test_initial();
	test_renewal();
	test_renewal_limits_and_role();
	test_stored_and_issue();
	test_names();
	EVP_PKEY_free(key);
	EVP_PKEY_free(key2);
	EVP_PKEY_free(small);
	snprintf(cmd, sizeof(cmd), "%s", dir);
	unit_rmtree(cmd, "TEST_POLICY_KEEP");
	return unit_done("policy");
}
