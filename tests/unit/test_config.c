/*
 * scep.conf reader: good files (top level, [scep] section, defaults), every bad value and
 * unknown key reported with the right "FILE:LINE: ", $SCEP_CONF fallback; the OpenCA policy
 * keys, this product's keys, [role NAME] sections and the default role.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "scep.h"
#include "unit.h"

static char	dir[] = "/tmp/test_config.XXXXXX";
static char	path[256];

static void
write_conf(const char *text)
{
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

/* Load TEXT; returns the config (or NULL with err filled). */
static struct config *
load(const char *text, char *err, size_t errlen)
{
	write_conf(text);
	return config_load(path, err, errlen);
}

/* TEXT must fail at LINE (0: no line) with a message containing WHAT. */
static void
expect_error(const char *text, int line, const char *what)
{
	struct config	*cf;
	char		 err[512], prefix[300];

	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", path);
	cf = load(text, err, sizeof(err));
	CHECK_MSG(cf == NULL, "accepted: %s", text);
	CHECK_MSG(strncmp(err, prefix, strlen(prefix)) == 0, "want prefix \"%s\", got \"%s\"",
	    prefix, err);
	CHECK_MSG(strstr(err, what) != NULL, "want \"%s\" in \"%s\"", what, err);
	config_free(cf);
}

static void
test_good_top_level(void)
{
	struct config	*cf;
	char		 err[512] = "";

	cf = load("# a comment\n"
	    "; another comment\n"
	    "\n"
	    "ScepRepository = /var/lib/scep\n"
	    "ScepChallengePassword = \"s3cret;#x\"\n"
	    "ScepAutoApproveEnrollment = YES\n"
	    "ScepCertValidityDays = 730\n"
	    "ScepAllowLegacyCrypto = NO\n"
	    "ScepLogLevel = DEBUG\n", err, sizeof(err));
	CHECK_MSG(cf != NULL, "%s", err);
	if (cf == NULL)
		return;
	CHECK(strcmp(cf->path, path) == 0);
	CHECK(strcmp(cf->repository, "/var/lib/scep") == 0);
	CHECK(cf->challenge != NULL && strcmp(cf->challenge, "s3cret;#x") == 0);
	CHECK(cf->auto_approve_enrollment == 1);
	CHECK(cf->cert_days == 730);
	CHECK(cf->allow_legacy_crypto == 0);
	CHECK(cf->log_level == LOG_LVL_DEBUG);
	config_free(cf);
}

static void
test_good_section(void)
{
	struct config	*cf;
	char		 err[512] = "";

	/* Key case does not matter; the section name neither; CRLF and inline comments. */
	cf = load("[ SCEP ]\r\n"
	    "sceprepository=/srv/ca   ; where the CA lives\r\n"
	    "SCEPAUTOAPPROVEENROLLMENT = true\r\n"
	    "ScepLogLevel = warning\r\n"
	    "ScepCertValidityDays = 36500\r\n", err, sizeof(err));
	CHECK_MSG(cf != NULL, "%s", err);
	if (cf == NULL)
		return;
	CHECK(strcmp(cf->repository, "/srv/ca") == 0);
	CHECK(cf->challenge == NULL);
	CHECK(cf->auto_approve_enrollment == 1);
	CHECK(cf->log_level == LOG_LVL_WARN);
	CHECK(cf->cert_days == 36500);
	CHECK(cf->allow_legacy_crypto == 1);
	config_free(cf);

	/* Mixed: some at the top level, the rest in [scep]. */
	cf = load("ScepRepository = /srv/ca\n"
	    "[scep]\n"
	    "ScepChallengePassword = pw\n", err, sizeof(err));
	CHECK_MSG(cf != NULL, "%s", err);
	if (cf != NULL)
		CHECK(strcmp(cf->challenge, "pw") == 0);
	config_free(cf);
}

static void
test_defaults(void)
{
	struct config	*cf;
	char		 err[512] = "";

	cf = load("ScepRepository = /r\n", err, sizeof(err));
	CHECK_MSG(cf != NULL, "%s", err);
	if (cf == NULL)
		return;
	CHECK(cf->challenge == NULL);
	CHECK(cf->auto_approve_enrollment == 0);
	CHECK(cf->cert_days == 365);
	CHECK(cf->allow_legacy_crypto == 1);
	CHECK(cf->log_level == LOG_LVL_INFO);
	config_free(cf);
}

static void
test_booleans(void)
{
	static const char *const yes[] = { "YES", "yes", "Yes", "TRUE", "true", "1" };
	static const char *const no[] = { "NO", "no", "nO", "FALSE", "false", "0" };
	struct config	*cf;
	char		 text[256], err[512];
	size_t		 i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(text, sizeof(text), "ScepRepository=/r\nScepAllowLegacyCrypto=%s\n"
		    "ScepAutoApproveEnrollment=%s\n", no[i], yes[i]);
		cf = load(text, err, sizeof(err));
		CHECK_MSG(cf != NULL && cf->auto_approve_enrollment == 1 &&
		    cf->allow_legacy_crypto == 0, "%s / %s: %s", yes[i], no[i], err);
		config_free(cf);
	}
}

static void
test_log_levels(void)
{
	static const struct { const char *s; int v; } lv[] = {
		{ "ERROR", LOG_LVL_ERR }, { "WARNING", LOG_LVL_WARN },
		{ "Info", LOG_LVL_INFO }, { "debug", LOG_LVL_DEBUG } };
	struct config	*cf;
	char		 text[256], err[512];
	size_t		 i;

	for (i = 0; i < sizeof(lv) / sizeof(lv[0]); i++) {
		snprintf(text, sizeof(text), "ScepRepository=/r\nScepLogLevel=%s\n", lv[i].s);
		cf = load(text, err, sizeof(err));
		CHECK_MSG(cf != NULL && cf->log_level == lv[i].v, "%s: %s", lv[i].s, err);
		config_free(cf);
	}
}

static void
test_bad_values(void)
{
	char	 longpw[400];

	expect_error("ScepChallengePassword = x\n", 0, "ScepRepository is required");
	expect_error("\n\nScepRepository = relative/path\n", 3, "absolute path");
	expect_error("ScepRepository =\n", 1, "empty value");
	expect_error("ScepRepository = /r\n#\nScepAutoApproveEnrollment = maybe\n", 3,
	    "must be YES or NO");
	expect_error("ScepRepository = /r\nScepAllowLegacyCrypto = Y\n", 2, "YES or NO");
	expect_error("ScepRepository = /r\nScepAllowLegacyCrypto = on\n", 2, "YES or NO");
	expect_error("ScepRepository = /r\nScepCertValidityDays = 0\n", 2, "from 1 to 36500");
	expect_error("ScepRepository = /r\nScepCertValidityDays = 36501\n", 2, "36500");
	expect_error("ScepRepository = /r\nScepCertValidityDays = -5\n", 2, "whole number");
	expect_error("ScepRepository = /r\nScepCertValidityDays = 12x\n", 2, "whole number");
	expect_error("ScepRepository = /r\nScepCertValidityDays = 0x10\n", 2, "whole number");
	expect_error("ScepRepository = /r\nScepCertValidityDays = 99999999999999999999\n", 2,
	    "whole number");
	expect_error("ScepRepository = /r\n[scep]\n\nScepLogLevel = verbose\n", 4,
	    "ERROR, WARNING, INFO or DEBUG");
	expect_error("ScepRepository = /r\nScepChallengePassword = \n", 2, "empty value");
	memset(longpw, 'a', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	{
		char text[600];

		snprintf(text, sizeof(text), "ScepRepository=/r\nScepChallengePassword=%s\n",
		    longpw);
		expect_error(text, 2, "too long");
	}
}

static void
test_structure_errors(void)
{
	expect_error("ScepRepository = /r\nScepFrobnicate = 1\n", 2, "unknown key \"ScepFrobnicate\"");
	expect_error("[scep]\nScepRepository = /r\n\n; c\nscepallowenrolment = YES\n", 5,
	    "unknown key \"scepallowenrolment\"");
	expect_error("ScepRepository = /r\n[other]\nScepLogLevel = INFO\n", 2,
	    "unknown section [other]");
	expect_error("ScepRepository = /r\n[scep\n", 2, "syntax error");
	expect_error("ScepRepository = /r\njust some words\n", 2, "syntax error");
	expect_error("ScepRepository = /r\n = 3\n", 2, "missing key name");
	expect_error("ScepRepository = /r\nScepLogLevel = INFO\nscepLOGlevel = DEBUG\n", 3,
	    "duplicate key ScepLogLevel (already set on line 2)");
	expect_error("ScepRepository = /r\n[scep]\nScepRepository = /s\n", 3,
	    "duplicate key ScepRepository");
	/* A continuation line is part of the value above it, not a key. */
	expect_error("ScepRepository = /r\nScepChallengePassword = a \\\n  b\nBogus = 1\n", 4,
	    "unknown key \"Bogus\"");
	/* A comment ending in a backslash swallows the next line (iniparser 4.1 does). */
	{
		struct config	*cf;
		char		 err[512] = "";

		cf = load("ScepRepository = /r\n# comment \\\nBogus = 1\n", err, sizeof(err));
		CHECK_MSG(cf != NULL, "%s", err);
		config_free(cf);
	}
}

static void
test_policy_defaults(void)
{
	struct config		*cf;
	const struct role	*ro;
	char			 err[512] = "";

	cf = load("ScepRepository = /r\nScepCertValidityDays = 90\n", err, sizeof(err));
	CHECK_MSG(cf != NULL, "%s", err);
	if (cf == NULL)
		return;
	CHECK(cf->allow_enrollment == 1);
	CHECK(cf->allow_renewal == 1);
	CHECK(cf->auto_approve == 0);
	CHECK(cf->keep_san == 1);
	CHECK(cf->default_role != NULL && strcmp(cf->default_role, "default") == 0);
	CHECK(cf->default_ra != NULL && strcmp(cf->default_ra, "scep") == 0);
	CHECK(cf->n_rdn_match == 1 && cf->rdn_match[0] == NID_commonName);
	CHECK(cf->one_time_challenges == 1);
	CHECK(cf->challenge_ttl == 3600);
	CHECK(cf->min_key_bits == 2048);
	CHECK(cf->allowed_digests == (DIG_SHA1 | DIG_SHA224 | DIG_SHA256 | DIG_SHA384 |
	    DIG_SHA512));
	CHECK(cf->allowed_ciphers == (CIPH_DES | CIPH_DES3 | CIPH_AES128 | CIPH_AES192 |
	    CIPH_AES256));
	CHECK(cf->role_fallback == ROLE_FALLBACK_DEFAULT);
	CHECK(cf->crl_days == 7);
	CHECK(cf->include_root == 1);
	/* The built-in role. */
	CHECK(cf->nroles == 1);
	ro = config_role(cf, "default");
	CHECK(ro != NULL && ro == config_role(cf, "DEFAULT"));
	CHECK(config_role(cf, "other") == NULL && config_role(cf, NULL) == NULL);
	if (ro != NULL) {
		CHECK(strcmp(ro->name, "default") == 0);
		CHECK(ro->days == 90);
		CHECK(ro->key_usage == (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
		CHECK(strcmp(ro->ext_key_usage, "clientAuth,serverAuth") == 0);
		CHECK(ro->selectable == 0 && ro->keep_san == -1 && ro->include_chain == 0);
	}
	config_free(cf);
}

static void
test_policy_keys(void)
{
	struct config	*cf;
	char		 err[512] = "";

	cf = load("ScepRepository = /r\n"
	    "[scep]\n"
	    "ScepAllowEnrollment = NO\n"
	    "ScepAllowRenewal = no\n"
	    "ScepAutoApprove = YES\n"
	    "ScepKeepSubjectAltName = NO\n"
	    "ScepDefaultRA = ra-east.1\n"
	    "ScepRenewalRDNMatch = CN, o,OU  emailAddress,serialNumber, DC,UID,c,L,st\n"
	    "ScepOneTimeChallenges = NO\n"
	    "ScepChallengeTTL = 2h\n"
	    "ScepMinKeyBits = 3072\n"
	    "ScepAllowedDigests = sha256, SHA-384 SHA512\n"
	    "ScepAllowedCiphers = AES-256,aes128\n"
	    "ScepRoleFallback = refuse\n"
	    "ScepCRLValidityDays = 30\n"
	    "ScepCACertIncludeRoot = NO\n", err, sizeof(err));
	CHECK_MSG(cf != NULL, "%s", err);
	if (cf == NULL)
		return;
	CHECK(cf->allow_enrollment == 0 && cf->allow_renewal == 0);
	CHECK(cf->auto_approve == 1 && cf->keep_san == 0);
	CHECK(strcmp(cf->default_ra, "ra-east.1") == 0);
	CHECK(cf->n_rdn_match == 10);
	if (cf->n_rdn_match == 10) {
		CHECK(cf->rdn_match[0] == NID_commonName);
		CHECK(cf->rdn_match[1] == NID_organizationName);
		CHECK(cf->rdn_match[2] == NID_organizationalUnitName);
		CHECK(cf->rdn_match[3] == NID_pkcs9_emailAddress);
		CHECK(cf->rdn_match[4] == NID_serialNumber);
		CHECK(cf->rdn_match[5] == NID_domainComponent);
		CHECK(cf->rdn_match[6] == NID_userId);
		CHECK(cf->rdn_match[7] == NID_countryName);
		CHECK(cf->rdn_match[8] == NID_localityName);
		CHECK(cf->rdn_match[9] == NID_stateOrProvinceName);
	}
	CHECK(cf->one_time_challenges == 0);
	CHECK(cf->challenge_ttl == 7200);
	CHECK(cf->min_key_bits == 3072);
	CHECK(cf->allowed_digests == (DIG_SHA256 | DIG_SHA384 | DIG_SHA512));
	CHECK(cf->allowed_ciphers == (CIPH_AES128 | CIPH_AES256));
	CHECK(cf->role_fallback == ROLE_FALLBACK_REFUSE);
	CHECK(cf->crl_days == 30);
	CHECK(cf->include_root == 0);
	config_free(cf);

	/* The older OpenCA spelling, long RDN names, legacy algorithms. */
	cf = load("ScepRepository = /r\nScepRenewRDNMatch = commonName,organizationName\n"
	    "ScepAllowedDigests = MD5,SHA-1\nScepAllowedCiphers = DES 3DES DES-EDE3-CBC\n"
	    "ScepRoleFallback = DEFAULT\n", err, sizeof(err));
	CHECK_MSG(cf != NULL, "%s", err);
	if (cf != NULL) {
		CHECK(cf->n_rdn_match == 2 && cf->rdn_match[0] == NID_commonName &&
		    cf->rdn_match[1] == NID_organizationName);
		CHECK(cf->allowed_digests == (DIG_MD5 | DIG_SHA1));
		CHECK(cf->allowed_ciphers == (CIPH_DES | CIPH_DES3));
		CHECK(cf->role_fallback == ROLE_FALLBACK_DEFAULT);
	}
	config_free(cf);

	/* Both spellings at once are one key set twice. */
	expect_error("ScepRepository = /r\nScepRenewalRDNMatch = CN\nScepRenewRDNMatch = O\n", 3,
	    "duplicate key ScepRenewalRDNMatch (already set on line 2)");
}

static void
test_durations(void)
{
	static const struct { const char *s; int v; } ok[] = {
		{ "60", 60 }, { "90s", 90 }, { "15m", 900 }, { "15M", 900 }, { "2h", 7200 },
		{ "7d", 604800 }, { "365d", 31536000 }, { "31536000", 31536000 } };
	static const char *const bad[] = { "59", "1m0", "1x", "h", "-60", "1.5h", "366d",
	    "31536001", "99999999999999999999d", "10 m", "1hh" };
	struct config	*cf;
	char		 text[256], err[512];
	size_t		 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "ScepRepository=/r\nScepChallengeTTL=%s\n", ok[i].s);
		cf = load(text, err, sizeof(err));
		CHECK_MSG(cf != NULL && cf->challenge_ttl == ok[i].v, "%s: %s", ok[i].s, err);
		config_free(cf);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "ScepRepository=/r\n\nScepChallengeTTL = %s\n",
		    bad[i]);
		expect_error(text, 3, "ScepChallengeTTL must be a duration");
	}
}

static void
test_policy_bad_values(void)
{
	expect_error("ScepRepository = /r\nScepAllowEnrollment = sometimes\n", 2,
	    "ScepAllowEnrollment must be YES or NO");
	expect_error("ScepRepository = /r\nScepAllowRenewal = 2\n", 2, "YES or NO");
	expect_error("ScepRepository = /r\nScepAutoApprove = \n", 2, "empty value");
	expect_error("ScepRepository = /r\nScepKeepSubjectAltName = keep\n", 2, "YES or NO");
	expect_error("ScepRepository = /r\nScepOneTimeChallenges = Y\n", 2, "YES or NO");
	expect_error("ScepRepository = /r\n#\nScepRenewalRDNMatch = CN,Nickname\n", 3,
	    "unknown RDN type \"Nickname\"");
	expect_error("ScepRepository = /r\nScepRenewRDNMatch = CN,CN\n", 2, "listed twice");
	expect_error("ScepRepository = /r\nScepRenewalRDNMatch = ,\n", 2, "list is empty");
	expect_error("ScepRepository = /r\nScepRenewalRDNMatch = CN,O,OU,C,L,ST,emailAddress,"
	    "serialNumber,DC,UID,street,postalCode,title,GN,SN,initials,pseudonym\n", 2,
	    "more than 16");
	expect_error("ScepRepository = /r\nScepMinKeyBits = 512\n", 2, "from 1024 to 16384");
	expect_error("ScepRepository = /r\nScepMinKeyBits = 16385\n", 2, "from 1024 to 16384");
	expect_error("ScepRepository = /r\nScepCRLValidityDays = 0\n", 2, "from 1 to 3650");
	expect_error("ScepRepository = /r\nScepCRLValidityDays = 3651\n", 2, "from 1 to 3650");
	expect_error("ScepRepository = /r\nScepCACertIncludeRoot = maybe\n", 2,
	    "ScepCACertIncludeRoot must be YES or NO");
	expect_error("ScepRepository = /r\nScepAllowedDigests = SHA-256, SHA3-256\n", 2,
	    "ScepAllowedDigests: unknown digest \"SHA3-256\"");
	expect_error("ScepRepository = /r\nScepAllowedDigests = ,,\n", 2,
	    "ScepAllowedDigests: the list is empty");
	expect_error("ScepRepository = /r\nScepAllowedDigests = \"\"\n", 2, "empty value");
	expect_error("ScepRepository = /r\nScepAllowedCiphers = AES-256 RC2\n", 2,
	    "ScepAllowedCiphers: unknown cipher \"RC2\"");
	expect_error("ScepRepository = /r\nScepAllowedCiphers = , ,\n", 2, "the list is empty");
	expect_error("ScepRepository = /r\nScepRoleFallback = ASK\n", 2,
	    "ScepRoleFallback must be DEFAULT or REFUSE");
	expect_error("ScepRepository = /r\nScepDefaultRA = \n", 2, "empty value");
	expect_error("ScepRepository = /r\nScepDefaultRA = "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", 2, "too long");
	expect_error("ScepRepository = /r\nScepDefaultRole = web server\n", 2,
	    "bad role name");
	/* Without role sections only "default" exists. */
	expect_error("ScepRepository = /r\n\nScepDefaultRole = web\n", 3,
	    "ScepDefaultRole: no role \"web\"");
}

/* The key store's secrets and module, and the publication keys. */
static void
test_keystore_publication(void)
{
	struct config	*cf;
	char		 err[512];

	cf = load("ScepRepository = /r\n", err, sizeof(err));
	CHECK_MSG(cf != NULL, "%s", err);
	if (cf != NULL) {
		CHECK(cf->keysrc.pkcs11_module == NULL && cf->keysrc.pin_file == NULL &&
		    cf->keysrc.pin_credential == NULL && cf->keysrc.pass_file == NULL &&
		    cf->keysrc.pass_credential == NULL);
		CHECK(cf->crl_url == NULL && cf->ca_issuers_url == NULL &&
		    cf->publish_dir == NULL);
	}
	config_free(cf);
	cf = load("ScepRepository = /r\n"
	    "ScepPKCS11Module = /usr/lib/softhsm/libsofthsm2.so\n"
	    "ScepCAKeyPINCredential = scep-token.pin@x\n"
	    "ScepCAKeyPassphraseFile = /etc/scep/pass\n"
	    "ScepCRLURL = http://pki.example.com/pki/ca.crl\n"
	    "ScepCAIssuersURL = ldap://ldap.example.com/cn=CA?cACertificate\n"
	    "ScepPublishDir = /var/www/scep\n", err, sizeof(err));
	CHECK_MSG(cf != NULL, "%s", err);
	if (cf != NULL) {
		CHECK(strcmp(cf->keysrc.pkcs11_module, "/usr/lib/softhsm/libsofthsm2.so") == 0);
		CHECK(strcmp(cf->keysrc.pin_credential, "scep-token.pin@x") == 0);
		CHECK(strcmp(cf->keysrc.pass_file, "/etc/scep/pass") == 0);
		CHECK(cf->keysrc.pin_file == NULL && cf->keysrc.pass_credential == NULL);
		CHECK(strcmp(cf->crl_url, "http://pki.example.com/pki/ca.crl") == 0);
		CHECK(strcmp(cf->ca_issuers_url,
		    "ldap://ldap.example.com/cn=CA?cACertificate") == 0);
		CHECK(strcmp(cf->publish_dir, "/var/www/scep") == 0);
	}
	config_free(cf);
	expect_error("ScepRepository = /r\nScepCAKeyPINFile = /p\n#\nScepCAKeyPINCredential = c\n",
	    4, "ScepCAKeyPINCredential and ScepCAKeyPINFile (line 2) name the same secret");
	expect_error("ScepRepository = /r\nScepCAKeyPassphraseCredential = c\n"
	    "ScepCAKeyPassphraseFile = /p\n", 2, "set one of them");
	expect_error("ScepRepository = /r\nScepCAKeyPINFile = pin.txt\n", 2,
	    "must be an absolute path");
	expect_error("ScepRepository = /r\nScepCAKeyPINCredential = ../pin\n", 2,
	    "bad credential name");
	expect_error("ScepRepository = /r\nScepCAKeyPassphraseCredential = a/b\n", 2,
	    "bad credential name");
	expect_error("ScepRepository = /r\nScepCRLURL = https://pki.example.com/ca.crl\n", 2,
	    "ScepCRLURL must be an http:// or ldap:// URL");
	expect_error("ScepRepository = /r\nScepCRLURL = http:///ca.crl\n", 2, "http://");
	expect_error("ScepRepository = /r\nScepCAIssuersURL = \"http://a b/ca.crt\"\n", 2,
	    "without blanks");
	expect_error("ScepRepository = /r\nScepPublishDir = pub\n", 2, "absolute path");
}

static void
test_roles(void)
{
	struct config		*cf;
	const struct role	*ro;
	char			 err[512] = "";

	cf = load("ScepRepository = /r\n"
	    "ScepCertValidityDays = 200\n"
	    "ScepDefaultRole = Device\n"
	    "[role Device]\n"
	    "; all defaults\n"
	    "[role vpn-gw_1.x]\n"
	    "Days = 730\n"
	    "keyusage = digitalSignature, keyAgreement nonRepudiation\n"
	    "ExtendedKeyUsage = serverAuth,ipsecIKE, 1.3.6.1.4.1.311.20.2.2 ,1.2.3.4.5\n"
	    "Selectable = YES\n"
	    "KeepSubjectAltName = NO\n"
	    "IncludeChain = YES\n"
	    "[scep]\n"
	    "ScepAutoApprove = YES\n"
	    "[ROLE   mail]\n"
	    "ExtendedKeyUsage = none\n"
	    "KeyUsage = contentCommitment\n"
	    "KeepSubjectAltName = yes\n"
	    "[role dotted]\n"
	    "ExtendedKeyUsage = 1.3.6.1.5.5.7.3.2 CLIENTAUTH-not-a-name-but-ok\n",
	    err, sizeof(err));
	CHECK_MSG(cf == NULL && strstr(err, ":20: ExtendedKeyUsage: unknown extended key "
	    "usage \"CLIENTAUTH-not-a-name-but-ok\""), "%s", err);
	config_free(cf);

	cf = load("ScepRepository = /r\n"
	    "ScepCertValidityDays = 200\n"
	    "ScepDefaultRole = device\n"
	    "[role Device]\n"
	    "; all defaults\n"
	    "[role vpn-gw_1.x]\n"
	    "Days = 730\n"
	    "keyusage = digitalSignature, keyAgreement nonRepudiation\n"
	    "ExtendedKeyUsage = serverAuth,ipsecIKE, 1.3.6.1.4.1.311.20.2.2 ,1.2.3.4.5\n"
	    "Selectable = YES\n"
	    "KeepSubjectAltName = NO\n"
	    "IncludeChain = YES\n"
	    "[scep]\n"
	    "ScepAutoApprove = YES\n"
	    "[ROLE   mail]\n"
	    "ExtendedKeyUsage = none\n"
	    "KeyUsage = contentCommitment\n"
	    "KeepSubjectAltName = yes\n"
	    "[role dotted]\n"
	    "ExtendedKeyUsage = 1.3.6.1.5.5.7.3.2 emailprotection\n",
	    err, sizeof(err));
	CHECK_MSG(cf != NULL, "%s", err);
	if (cf == NULL)
		return;
	CHECK(cf->auto_approve == 1);
	CHECK(cf->nroles == 4);
	CHECK(strcmp(cf->default_role, "device") == 0);
	ro = config_role(cf, cf->default_role);
	CHECK(ro != NULL && ro == &cf->roles[0]);
	if (ro != NULL) {
		CHECK(strcmp(ro->name, "Device") == 0);
		CHECK(ro->days == 200);
		CHECK(ro->key_usage == (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
		CHECK(strcmp(ro->ext_key_usage, "clientAuth,serverAuth") == 0);
		CHECK(ro->selectable == 0 && ro->keep_san == -1 && ro->include_chain == 0);
	}
	CHECK(config_role(cf, "default") == NULL);
	ro = config_role(cf, "VPN-GW_1.X");
	CHECK(ro != NULL);
	if (ro != NULL) {
		CHECK(strcmp(ro->name, "vpn-gw_1.x") == 0);
		CHECK(ro->days == 730);
		CHECK(ro->key_usage == (KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT |
		    KU_NON_REPUDIATION));
		CHECK_MSG(strcmp(ro->ext_key_usage, "serverAuth,ipsecIKE,msSmartcardLogin,"
		    "1.2.3.4.5") == 0, "%s", ro->ext_key_usage);
		CHECK(ro->selectable == 1 && ro->keep_san == 0 && ro->include_chain == 1);
	}
	ro = config_role(cf, "mail");
	CHECK(ro != NULL);
	if (ro != NULL) {
		CHECK(strcmp(ro->name, "mail") == 0);
		CHECK(ro->ext_key_usage != NULL && ro->ext_key_usage[0] == '\0');
		CHECK(ro->key_usage == KU_NON_REPUDIATION);
		CHECK(ro->keep_san == 1);
	}
	ro = config_role(cf, "dotted");
	CHECK(ro != NULL && strcmp(ro->ext_key_usage, "clientAuth,emailProtection") == 0);
	config_free(cf);

	/* A "default" role section is the default without ScepDefaultRole. */
	cf = load("ScepRepository = /r\n[role other]\n[role Default]\nDays = 5\n", err,
	    sizeof(err));
	CHECK_MSG(cf != NULL, "%s", err);
	if (cf != NULL) {
		CHECK(cf->nroles == 2);
		ro = config_role(cf, cf->default_role);
		CHECK(ro != NULL && ro->days == 5 && strcmp(ro->name, "Default") == 0);
	}
	config_free(cf);
}

static void
test_role_errors(void)
{
	char	 text[8192];
	size_t	 o, i;

	/* Roles defined, none called "default", ScepDefaultRole not set: a file-level error. */
	expect_error("ScepRepository = /r\n[role web]\n[role vpn]\n", 0,
	    "no [role default] section: set ScepDefaultRole to one of the roles (web, vpn)");
	/* ScepDefaultRole naming a missing role: at its line. */
	expect_error("ScepRepository = /r\n[scep]\nScepDefaultRole = mail\n[role web]\n", 3,
	    "ScepDefaultRole: no role \"mail\" (roles: web)");
	expect_error("ScepRepository = /r\n[role web]\nDays = 0\n", 3,
	    "Days must be a whole number from 1 to 36500");
	expect_error("ScepRepository = /r\n[role default]\n\nKeyUsage = keyCertSign\n", 4,
	    "KeyUsage: unknown key usage \"keyCertSign\"");
	expect_error("ScepRepository = /r\n[role default]\nKeyUsage = ,\n", 3,
	    "KeyUsage: the list is empty");
	expect_error("ScepRepository = /r\n[role default]\nExtendedKeyUsage = clientAuth,"
	    "frobAuth\n", 3, "unknown extended key usage \"frobAuth\"");
	expect_error("ScepRepository = /r\n[role default]\nExtendedKeyUsage = 1.2.\n", 3,
	    "unknown extended key usage \"1.2.\"");
	expect_error("ScepRepository = /r\n[role default]\nExtendedKeyUsage = ,\n", 3,
	    "write \"none\"");
	expect_error("ScepRepository = /r\n[role default]\nExtendedKeyUsage = clientAuth "
	    "1.3.6.1.5.5.7.3.2\n", 3, "listed twice");
	expect_error("ScepRepository = /r\n[role default]\nSelectable = perhaps\n", 3,
	    "Selectable must be YES or NO");
	expect_error("ScepRepository = /r\n[role default]\nKeepSubjectAltName = 2\n", 3,
	    "YES or NO");
	expect_error("ScepRepository = /r\n[role default]\nIncludeChain = \n", 3, "empty value");
	/* Unknown keys, global keys in a role, role keys at the top. */
	expect_error("ScepRepository = /r\n[role default]\nValidity = 3\n", 3,
	    "unknown key \"Validity\" in [role default] (role keys: Days,");
	expect_error("ScepRepository = /r\n[role default]\nScepAutoApprove = YES\n", 3,
	    "ScepAutoApprove is a global key");
	expect_error("ScepRepository = /r\nDays = 3\n", 2, "Days is a role key");
	expect_error("ScepRepository = /r\n[role default]\nDays = 3\ndays = 4\n", 4,
	    "duplicate key Days (already set on line 3)");
	/* Section names. */
	expect_error("ScepRepository = /r\n[role]\n", 2, "a role section needs a name");
	expect_error("ScepRepository = /r\n[role  ]\n", 2, "a role section needs a name");
	expect_error("ScepRepository = /r\n[role web server]\n", 2,
	    "bad role name \"web server\"");
	expect_error("ScepRepository = /r\n[role w/eb]\n", 2, "bad role name");
	expect_error("ScepRepository = /r\n[roles]\n", 2, "unknown section [roles]");
	expect_error("ScepRepository = /r\n[role web]\n\n[ROLE WEB]\n", 4,
	    "duplicate role section [role WEB] (already on line 2");
	o = (size_t)snprintf(text, sizeof(text), "ScepRepository = /r\n[role ");
	for (i = 0; i < 65; i++)
		text[o++] = 'a';
	snprintf(text + o, sizeof(text) - o, "]\n");
	expect_error(text, 2, "bad role name");
	o = (size_t)snprintf(text, sizeof(text), "ScepRepository = /r\n");
	for (i = 0; i <= MAX_ROLES; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "[role r%zu]\n", i);
	expect_error(text, MAX_ROLES + 2, "more than 32 role sections");
}

static void
test_missing_file(void)
{
	struct config	*cf;
	char		 err[512], missing[300];

	snprintf(missing, sizeof(missing), "%s/nonexistent.conf", dir);
	cf = config_load(missing, err, sizeof(err));
	CHECK(cf == NULL);
	CHECK_MSG(strncmp(err, missing, strlen(missing)) == 0 && strstr(err, "cannot open"),
	    "%s", err);
}

static void
test_path(void)
{
	struct config	*cf;
	char		 err[512] = "";

	unsetenv("SCEP_CONF");
	CHECK(strcmp(config_path(NULL), DEFAULT_CONF_PATH) == 0);
	CHECK(strcmp(config_path("/x.conf"), "/x.conf") == 0);
	setenv("SCEP_CONF", path, 1);
	CHECK(strcmp(config_path(NULL), path) == 0);
	CHECK(strcmp(config_path("/x.conf"), "/x.conf") == 0);
	setenv("SCEP_CONF", "", 1);
	CHECK(strcmp(config_path(NULL), DEFAULT_CONF_PATH) == 0);

	write_conf("ScepRepository = /from/env\n");
	setenv("SCEP_CONF", path, 1);
	cf = config_load(NULL, err, sizeof(err));
	CHECK_MSG(cf != NULL && strcmp(cf->repository, "/from/env") == 0, "%s", err);
	config_free(cf);
	unsetenv("SCEP_CONF");
}

int
main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/scep.conf", dir);
	test_good_top_level();
	test_good_section();
	test_defaults();
	test_booleans();
	test_log_levels();
	test_bad_values();
	test_structure_errors();
	test_policy_defaults();
	test_policy_keys();
	test_durations();
	test_policy_bad_values();
	test_keystore_publication();
	test_roles();
	test_role_errors();
	test_missing_file();
	test_path();
	unlink(path);
	rmdir(dir);
	return unit_done("config");
}
