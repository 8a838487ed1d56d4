/*
 * scep.conf(5): the INI file becomes a validated struct config once, at start-up.
 *
 * iniparser 4.1 does the value grammar (quotes, comments, continuation lines) and stores keys
 * lowercased as "section:key", keys before any section as ":key". It reports no line
 * numbers, so a small scanner that mirrors its line grammar walks the text first: it finds
 * the line of every key, and rejects unknown keys, unknown sections, duplicates and syntax
 * errors with "FILE:LINE: message". Global keys may stand at the top level or in a [scep]
 * section (the same setting in both places is a duplicate); "[role NAME]" sections hold the
 * keys of one certificate profile. Every global key is one line of keytab[] below, every role
 * key one line of rkeytab[]; anything else is an error, never a half-working policy.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <iniparser.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "scep.h"

#define MAX_CONF_SIZE	(256 * 1024)	/* bytes in scep.conf */
#define MAX_CONF_LINE	1000		/* iniparser 4.1 refuses lines of 1024 bytes and more */
#define MAX_KEY_NAME	64		/* longest key we echo in a message */
#define MAX_RA_NAME	64		/* ScepDefaultRA */
#define MAX_EKU		16		/* OIDs in one ExtendedKeyUsage */
#define MAX_LIST_ITEM	64		/* one name of a list value */
#define MAX_CREDENTIAL	255		/* a systemd credential name */
#define MAX_URL		512		/* ScepCRLURL, ScepCAIssuersURL */
#define CONF_SECTION	"scep"		/* the section of the global keys */
#define ROLE_SECTION	"role"		/* "[role NAME]" */
#define ROLE_KEYS	"Days, KeyUsage, ExtendedKeyUsage, Selectable, KeepSubjectAltName, " \
			"IncludeChain"
#define DEFAULT_ROLE	"default"
#define DEFAULT_KU	(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT)
#define DEFAULT_EKU	"clientAuth,serverAuth"

enum ktype {
	KT_STRING,	/* any non-empty string up to max bytes */
	KT_PATH,	/* absolute path, up to max bytes */
	KT_BOOL,	/* YES/NO, yes/no, true/false, 1/0 (any case) */
	KT_INT,		/* decimal integer in [min, max] */
	KT_LOGLEVEL,	/* ERROR, WARNING, INFO, DEBUG (any case) */
	KT_DURATION,	/* seconds in [min, max]: digits with an optional s, m, h or d */
	KT_ROLENAME,	/* a role name (letters, digits, '-', '_', '.'; 1..MAX_ROLE_NAME) */
	KT_RDNLIST,	/* RDN short names -> struct config rdn_match/n_rdn_match */
	KT_DIGESTS,	/* digest names -> DIG_* mask */
	KT_CIPHERS,	/* cipher names -> CIPH_* mask */
	KT_FALLBACK,	/* DEFAULT or REFUSE */
	KT_KEYUSAGE,	/* keyUsage names -> KU_* mask */
	KT_EKU,		/* extendedKeyUsage names or OIDs -> "a,b,c"; "none" -> "" */
	KT_CREDENTIAL,	/* a systemd credential name: letters, digits, '-', '_', '.', '@' */
	KT_URL		/* an http:// or ldap:// URL of printable ASCII without blanks */
};

struct keydef {
	const char	*name;		/* spelling as documented in scep.conf(5) */
	const char	*alias;		/* an older spelling accepted too, or NULL */
	enum ktype	 type;
	size_t		 off;		/* offsetof(struct config or struct role, field) */
	const char	*def;		/* default, as it would be written in the file; NULL: unset */
	int		 required;
	long		 min, max;	/* KT_INT, KT_DURATION: range; KT_STRING, KT_PATH: max length */
};

#define F(field)	offsetof(struct config, field)
#define R(field)	offsetof(struct role, field)

/* Every global key scep.conf may hold. Adding a key is one line here plus its struct field. */
static const struct keydef keytab[] = {
	{ "ScepRepository",		NULL, KT_PATH,	   F(repository), NULL,   1, 0, MAX_PATH_LEN - 1 },
	{ "ScepChallengePassword",	NULL, KT_STRING,   F(challenge),  NULL,   0, 0, MAX_CHALLENGE },
	{ "ScepAutoApproveEnrollment",	NULL, KT_BOOL,	   F(auto_approve_enrollment), "NO", 0, 0, 0 },
	{ "ScepCertValidityDays",	NULL, KT_INT,	   F(cert_days),  "365",  0, 1, 36500 },
	{ "ScepAllowLegacyCrypto",	NULL, KT_BOOL,	   F(allow_legacy_crypto), "YES", 0, 0, 0 },
	{ "ScepLogLevel",		NULL, KT_LOGLEVEL, F(log_level),  "INFO", 0, 0, 0 },
	/* OpenCA's policy keys. */
	{ "ScepAllowEnrollment",	NULL, KT_BOOL,	   F(allow_enrollment), "YES", 0, 0, 0 },
	{ "ScepAllowRenewal",		NULL, KT_BOOL,	   F(allow_renewal), "YES", 0, 0, 0 },
	{ "ScepAutoApprove",		NULL, KT_BOOL,	   F(auto_approve), "NO", 0, 0, 0 },
	{ "ScepKeepSubjectAltName",	NULL, KT_BOOL,	   F(keep_san),	  "YES",  0, 0, 0 },
	{ "ScepDefaultRole",		NULL, KT_ROLENAME, F(default_role), DEFAULT_ROLE, 0, 0, 0 },
	{ "ScepDefaultRA",		NULL, KT_STRING,   F(default_ra), "scep", 0, 0, MAX_RA_NAME },
	{ "ScepRenewalRDNMatch", "ScepRenewRDNMatch", KT_RDNLIST, F(rdn_match), "CN", 0, 0, 0 },
	/* This product's keys. */
	{ "ScepOneTimeChallenges",	NULL, KT_BOOL,	   F(one_time_challenges), "YES", 0, 0, 0 },
	{ "ScepChallengeTTL",		NULL, KT_DURATION, F(challenge_ttl), "3600", 0,
	    MIN_CHALLENGE_TTL, MAX_CHALLENGE_TTL },
	{ "ScepMinKeyBits",		NULL, KT_INT,	   F(min_key_bits), "2048", 0, 1024, 16384 },
	{ "ScepAllowedDigests",		NULL, KT_DIGESTS,  F(allowed_digests),
	    "SHA-1, SHA-224, SHA-256, SHA-384, SHA-512", 0, 0, 0 },
	{ "ScepAllowedCiphers",		NULL, KT_CIPHERS,  F(allowed_ciphers),
	    "DES, DES3, AES-128, AES-192, AES-256", 0, 0, 0 },
	{ "ScepRoleFallback",		NULL, KT_FALLBACK, F(role_fallback), "DEFAULT", 0, 0, 0 },
	{ "ScepCRLValidityDays",	NULL, KT_INT,	   F(crl_days),	  "7",	  0, 1, 3650 },
	{ "ScepCACertIncludeRoot",	NULL, KT_BOOL,	   F(include_root), "YES", 0, 0, 0 },
	/* Where the CA key's secrets come from (ca_key.c), and what is published. */
	{ "ScepPKCS11Module",		NULL, KT_PATH,	   F(keysrc.pkcs11_module), NULL, 0, 0,
	    MAX_PATH_LEN - 1 },
	{ "ScepCAKeyPINFile",		NULL, KT_PATH,	   F(keysrc.pin_file), NULL, 0, 0,
	    MAX_PATH_LEN - 1 },
	{ "ScepCAKeyPINCredential",	NULL, KT_CREDENTIAL, F(keysrc.pin_credential), NULL, 0,
	    0, MAX_CREDENTIAL },
	{ "ScepCAKeyPassphraseFile",	NULL, KT_PATH,	   F(keysrc.pass_file), NULL, 0, 0,
	    MAX_PATH_LEN - 1 },
	{ "ScepCAKeyPassphraseCredential", NULL, KT_CREDENTIAL, F(keysrc.pass_credential), NULL,
	    0, 0, MAX_CREDENTIAL },
	{ "ScepCRLURL",			NULL, KT_URL,	   F(crl_url),	  NULL,	  0, 0, MAX_URL },
	{ "ScepCAIssuersURL",		NULL, KT_URL,	   F(ca_issuers_url), NULL, 0, 0, MAX_URL },
	{ "ScepPublishDir",		NULL, KT_PATH,	   F(publish_dir), NULL,  0, 0,
	    MAX_PATH_LEN - 1 },
};
#define NKEYS	(sizeof(keytab) / sizeof(keytab[0]))

/*
 * Keys of a "[role NAME]" section. A NULL default is filled in by role_defaults() (Days
 * follows ScepCertValidityDays, KeepSubjectAltName -1 follows ScepKeepSubjectAltName).
 */
static const struct keydef rkeytab[] = {
	{ "Days",		NULL, KT_INT,	  R(days),	    NULL, 0, 1, 36500 },
	{ "KeyUsage",		NULL, KT_KEYUSAGE, R(key_usage),    NULL, 0, 0, 0 },
	{ "ExtendedKeyUsage",	NULL, KT_EKU,	  R(ext_key_usage), NULL, 0, 0, 0 },
	{ "Selectable",		NULL, KT_BOOL,	  R(selectable),    NULL, 0, 0, 0 },
	{ "KeepSubjectAltName",	NULL, KT_BOOL,	  R(keep_san),	    NULL, 0, 0, 0 },
	{ "IncludeChain",	NULL, KT_BOOL,	  R(include_chain), NULL, 0, 0, 0 },
};
#define NRKEYS	(sizeof(rkeytab) / sizeof(rkeytab[0]))

static const char *const loglevels[] = {
	[LOG_LVL_ERR] = "ERROR", [LOG_LVL_WARN] = "WARNING",
	[LOG_LVL_INFO] = "INFO", [LOG_LVL_DEBUG] = "DEBUG"
};

/* A name of a list value and its bit (or NID); several spellings may share a bit. */
struct listname {
	const char	*name;
	unsigned	 bit;
};

static const struct listname digest_names[] = {
	{ "MD5", DIG_MD5 }, { "SHA-1", DIG_SHA1 }, { "SHA1", DIG_SHA1 },
	{ "SHA-224", DIG_SHA224 }, { "SHA224", DIG_SHA224 },
	{ "SHA-256", DIG_SHA256 }, { "SHA256", DIG_SHA256 },
	{ "SHA-384", DIG_SHA384 }, { "SHA384", DIG_SHA384 },
	{ "SHA-512", DIG_SHA512 }, { "SHA512", DIG_SHA512 },
};

static const struct listname cipher_names[] = {
	{ "DES", CIPH_DES }, { "DES-CBC", CIPH_DES },
	{ "DES3", CIPH_DES3 }, { "3DES", CIPH_DES3 }, { "DES-EDE3", CIPH_DES3 },
	{ "DES-EDE3-CBC", CIPH_DES3 },
	{ "AES-128", CIPH_AES128 }, { "AES128", CIPH_AES128 }, { "AES-128-CBC", CIPH_AES128 },
	{ "AES-192", CIPH_AES192 }, { "AES192", CIPH_AES192 }, { "AES-192-CBC", CIPH_AES192 },
	{ "AES-256", CIPH_AES256 }, { "AES256", CIPH_AES256 }, { "AES-256-CBC", CIPH_AES256 },
};

/* RFC 5280 §4.2.1.3 names as openssl.cnf writes them; end-entity bits only. */
static const struct listname ku_names[] = {
	{ "digitalSignature", KU_DIGITAL_SIGNATURE },
	{ "nonRepudiation", KU_NON_REPUDIATION },
	{ "contentCommitment", KU_NON_REPUDIATION },
	{ "keyEncipherment", KU_KEY_ENCIPHERMENT },
	{ "dataEncipherment", KU_DATA_ENCIPHERMENT },
	{ "keyAgreement", KU_KEY_AGREEMENT },
};

/* RDN attribute types ScepRenewalRDNMatch may name (by OpenSSL short or long name). */
static const int rdn_nids[] = {
	NID_commonName, NID_organizationName, NID_organizationalUnitName, NID_countryName,
	NID_localityName, NID_stateOrProvinceName, NID_pkcs9_emailAddress, NID_serialNumber,
	NID_domainComponent, NID_userId, NID_streetAddress, NID_postalCode, NID_title,
	NID_givenName, NID_surname, NID_initials, NID_pseudonym, NID_dnQualifier,
	NID_organizationIdentifier, NID_businessCategory, NID_name, NID_generationQualifier,
};

/* iniparser reports through a global callback without a context pointer. */
static char	ini_err[256];

static int
ini_errback(const char *fmt, ...)
{
	va_list	 ap;
	size_t	 n = strlen(ini_err);
	char	*p;

	va_start(ap, fmt);
	if (n < sizeof(ini_err) - 1)
		vsnprintf(ini_err + n, sizeof(ini_err) - n, fmt, ap);
	va_end(ap);
	for (p = ini_err; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	return 0;
}

/* errf() with the place: "PATH:LINE: sentence", or "PATH: sentence" when LINE is 0. */
static int
conf_err(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		return errf(err, errlen, "%s:%d: %s", path, line, msg);
	return errf(err, errlen, "%s: %s", path, msg);
}

/* Index of NAME (any case, canonical spelling or alias) in TAB, or -1. */
static int
tab_index(const struct keydef *tab, size_t n, const char *name)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcasecmp(name, tab[i].name) == 0 ||
		    (tab[i].alias != NULL && strcasecmp(name, tab[i].alias) == 0))
			return (int)i;
	return -1;
}

#define key_index(name)		tab_index(keytab, NKEYS, (name))
#define rkey_index(name)	tab_index(rkeytab, NRKEYS, (name))

/* Trim ASCII white space at both ends of [*s, *e). */
static void
trim(const char **s, const char **e)
{
	while (*s < *e && isspace((unsigned char)**s))
		(*s)++;
	while (*e > *s && isspace((unsigned char)(*e)[-1]))
		(*e)--;
}

/* A printable copy of [s, e) for a message (the file is the administrator's, but be tidy). */
static void
printable(char *dst, size_t dstlen, const char *s, const char *e)
{
	if ((size_t)(e - s) > MAX_KEY_NAME)
		e = s + MAX_KEY_NAME;
	log_escape(dst, dstlen, s, (size_t)(e - s));
}

/* A role name: 1..MAX_ROLE_NAME of letters, digits, '-', '_', '.'. */
static int
role_name_ok(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || len > MAX_ROLE_NAME)
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return 0;
	return 1;
}

/* What the scanner found: the line of every key, and the role sections in file order. */
struct scan_role {
	char	 name[MAX_ROLE_NAME + 1];	/* as written */
	int	 line;				/* of "[role NAME]" */
	int	 lines[NRKEYS];
};

struct scan {
	int			 lines[NKEYS];
	struct scan_role	 roles[MAX_ROLES];
	size_t			 nroles;
};

/* The role called [s, s + len) (any case), or -1. */
static int
scan_role_find(const struct scan *sc, const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < sc->nroles; i++)
		if (strlen(sc->roles[i].name) == len && strncasecmp(sc->roles[i].name, s, len) == 0)
			return (int)i;
	return -1;
}

/*
 * If the section text [s, e) (trimmed) is "role NAME", set [*ns, *ne) to NAME (trimmed,
 * possibly empty) and return 1.
 */
static int
role_section(const char *s, const char *e, const char **ns, const char **ne)
{
	size_t	 n = strlen(ROLE_SECTION);

	if ((size_t)(e - s) < n || strncasecmp(s, ROLE_SECTION, n) != 0 ||
	    (s + n < e && !isspace((unsigned char)s[n])))
		return 0;
	*ns = s + n;
	*ne = e;
	trim(ns, ne);
	return 1;
}

/* Handle a section line's text [s, e) (brackets removed, trimmed). 1 ok, 0 with err set. */
static int
scan_section(const char *path, int lineno, const char *s, const char *e, struct scan *sc,
    int *cur, char *err, size_t errlen)
{
	char		 name[4 * MAX_KEY_NAME + 1];
	const char	*ns, *ne;
	int		 dup;

	if ((size_t)(e - s) == strlen(CONF_SECTION) &&
	    strncasecmp(s, CONF_SECTION, (size_t)(e - s)) == 0) {
		*cur = -1;
		return 1;
	}
	if (!role_section(s, e, &ns, &ne)) {
		printable(name, sizeof(name), s, e);
		conf_err(err, errlen, path, lineno, "unknown section [%s] (global keys go at "
		    "the top level or in [" CONF_SECTION "], role keys in [" ROLE_SECTION
		    " NAME])", name);
		return 0;
	}
	printable(name, sizeof(name), ns, ne);
	if (ns == ne) {
		conf_err(err, errlen, path, lineno, "a role section needs a name: "
		    "[" ROLE_SECTION " NAME]");
		return 0;
	}
	if (!role_name_ok(ns, (size_t)(ne - ns))) {
		conf_err(err, errlen, path, lineno, "bad role name \"%s\" (letters, digits, "
		    "'-', '_' and '.', at most %d)", name, MAX_ROLE_NAME);
		return 0;
	}
	if ((dup = scan_role_find(sc, ns, (size_t)(ne - ns))) != -1) {
		conf_err(err, errlen, path, lineno, "duplicate role section [" ROLE_SECTION
		    " %s] (already on line %d; role names are compared without regard to case)",
		    name, sc->roles[dup].line);
		return 0;
	}
	if (sc->nroles == MAX_ROLES) {
		conf_err(err, errlen, path, lineno, "more than %d role sections", MAX_ROLES);
		return 0;
	}
	memcpy(sc->roles[sc->nroles].name, ns, (size_t)(ne - ns));
	sc->roles[sc->nroles].name[ne - ns] = '\0';
	sc->roles[sc->nroles].line = lineno;
	*cur = (int)sc->nroles++;
	return 1;
}

/* Record the line of key NAME ([s, e) in the text) in section CUR. 1 ok, 0 with err set. */
static int
scan_key(const char *path, int lineno, const char *s, const char *e, struct scan *sc,
    int cur, char *err, size_t errlen)
{
	char		 name[4 * MAX_KEY_NAME + 1];
	int		 idx, *lines;

	printable(name, sizeof(name), s, e);
	if (s == e) {
		conf_err(err, errlen, path, lineno, "syntax error: missing key name");
		return 0;
	}
	if (strlen(name) != (size_t)(e - s))
		idx = -1;
	else if (cur < 0)
		idx = key_index(name);
	else
		idx = rkey_index(name);
	if (idx == -1) {
		if (cur < 0 && strlen(name) == (size_t)(e - s) && rkey_index(name) != -1)
			conf_err(err, errlen, path, lineno, "%s is a role key: it belongs in a "
			    "[" ROLE_SECTION " NAME] section", name);
		else if (cur < 0)
			conf_err(err, errlen, path, lineno, "unknown key \"%s\"", name);
		else if (strlen(name) == (size_t)(e - s) && key_index(name) != -1)
			conf_err(err, errlen, path, lineno, "%s is a global key: it cannot be "
			    "set in [" ROLE_SECTION " %s] (put it before the first role section or "
			    "in [" CONF_SECTION "])", name, sc->roles[cur].name);
		else
			conf_err(err, errlen, path, lineno, "unknown key \"%s\" in ["
			    ROLE_SECTION " %s] (role keys: " ROLE_KEYS ")", name,
			    sc->roles[cur].name);
		return 0;
	}
	lines = cur < 0 ? sc->lines : sc->roles[cur].lines;
	if (lines[idx] != 0) {
		conf_err(err, errlen, path, lineno, "duplicate key %s (already set on line %d)",
		    cur < 0 ? keytab[idx].name : rkeytab[idx].name, lines[idx]);
		return 0;
	}
	lines[idx] = lineno;
	return 1;
}

/*
 * Walk the text with iniparser 4.1's line grammar: blank lines, ';' and '#' comments,
 * "[section]", "key = value", a trailing backslash continues a line. Record in SC where
 * each known key is set and which role sections exist. 1 ok, 0 with err set.
 */
static int
conf_scan(const char *path, const char *text, size_t len, struct scan *sc,
    char *err, size_t errlen)
{
	const char	*p = text, *end = text + len, *nl, *s, *e, *eq;
	int		 lineno = 0, cont = 0, prev, cur = -1;

	while (p < end) {
		lineno++;
		nl = memchr(p, '\n', (size_t)(end - p));
		s = p;
		e = nl != NULL ? nl : end;
		p = nl != NULL ? nl + 1 : end;
		if (e - s > MAX_CONF_LINE) {
			conf_err(err, errlen, path, lineno, "line too long (more than %d bytes)",
			    MAX_CONF_LINE);
			return 0;
		}
		trim(&s, &e);
		/* iniparser joins a line ending in '\\' with the next, comments included. */
		prev = cont;
		cont = e > s && e[-1] == '\\';
		if (prev || s == e || *s == ';' || *s == '#')
			continue;
		if (*s == '[') {
			if (e[-1] != ']') {
				conf_err(err, errlen, path, lineno, "syntax error: a section line "
				    "must be \"[" CONF_SECTION "]\" or \"[" ROLE_SECTION " NAME]\"");
				return 0;
			}
			s++, e--;
			trim(&s, &e);
			if (!scan_section(path, lineno, s, e, sc, &cur, err, errlen))
				return 0;
			continue;
		}
		if ((eq = memchr(s, '=', (size_t)(e - s))) == NULL) {
			conf_err(err, errlen, path, lineno,
			    "syntax error: expected \"Key = value\"");
			return 0;
		}
		e = eq;
		trim(&s, &e);
		if (!scan_key(path, lineno, s, e, sc, cur, err, errlen))
			return 0;
	}
	return 1;
}

static int
parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "yes", "true", "1" }, *const no[] = { "no", "false", "0" };
	size_t	 i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 1;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 1;
		}
	}
	return 0;
}

/* Strict decimal: digits only (no sign, no blanks, no octal or hex), within [min, max]. */
static int
parse_int(const char *v, long min, long max, int *out)
{
	long	 n = 0;

	if (*v == '\0')
		return 0;
	for (; *v != '\0'; v++) {
		if (!isdigit((unsigned char)*v))
			return 0;
		n = n * 10 + (*v - '0');
		if (n > max)
			return 0;
	}
	if (n < min)
		return 0;
	*out = (int)n;
	return 1;
}

/* Seconds: digits, then optionally one of s, m, h, d (any case); within [min, max]. */
int
config_parse_duration(const char *v, long min, long max, int *out)
{
	long long	 n = 0, unit = 1;

	if (!isdigit((unsigned char)*v))
		return 0;
	for (; isdigit((unsigned char)*v); v++) {
		n = n * 10 + (*v - '0');
		if (n > max)
			return 0;
	}
	switch (tolower((unsigned char)*v)) {
	case '\0':
		break;
	case 's':
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		return 0;
	}
	if (*v != '\0' && v[1] != '\0')
		return 0;
	n *= unit;
	if (n < min || n > max)
		return 0;
	*out = (int)n;
	return 1;
}

/*
 * The next item of a list whose items are separated by commas and/or blanks, copied into
 * buf. 1 item, 0 end of list, -1 item longer than buflen - 1 (copied truncated).
 */
static int
next_item(const char **pp, char *buf, size_t buflen)
{
	const char	*p = *pp, *s;
	size_t		 n;

	while (*p == ',' || isspace((unsigned char)*p))
		p++;
	if (*p == '\0') {
		*pp = p;
		return 0;
	}
	for (s = p; *p != '\0' && *p != ',' && !isspace((unsigned char)*p); p++)
		;
	*pp = p;
	n = (size_t)(p - s);
	if (n >= buflen) {
		memcpy(buf, s, buflen - 1);
		buf[buflen - 1] = '\0';
		return -1;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 1;
}

/* Comma list of the distinct bits' first names in T, for a message. */
static void
list_names(char *out, size_t outlen, const struct listname *t, size_t n)
{
	size_t		 i, o = 0;
	unsigned	 seen = 0;

	out[0] = '\0';
	for (i = 0; i < n && o < outlen; i++) {
		if (seen & t[i].bit)
			continue;
		seen |= t[i].bit;
		o += (size_t)snprintf(out + o, outlen - o, "%s%s", o ? ", " : "", t[i].name);
	}
}

/* A list of names from T (any case) into a bit mask; at least one. 1 ok, 0 with msg set. */
static int
parse_mask(const char *key, const char *what, const char *v, const struct listname *t,
    size_t n, unsigned *out, char *msg, size_t msglen)
{
	char		 item[MAX_LIST_ITEM + 1], shown[4 * MAX_LIST_ITEM + 1], known[256];
	unsigned	 mask = 0;
	size_t		 i;
	int		 rc;

	while ((rc = next_item(&v, item, sizeof(item))) != 0) {
		for (i = 0; rc == 1 && i < n; i++)
			if (strcasecmp(item, t[i].name) == 0)
				break;
		if (rc == -1 || i == n) {
			printable(shown, sizeof(shown), item, item + strlen(item));
			list_names(known, sizeof(known), t, n);
			snprintf(msg, msglen, "%s: unknown %s \"%s\" (known: %s)", key, what,
			    shown, known);
			return 0;
		}
		mask |= t[i].bit;
	}
	if (mask == 0) {
		snprintf(msg, msglen, "%s: the list is empty (name at least one %s)", key, what);
		return 0;
	}
	*out = mask;
	return 1;
}

/* ScepRenewalRDNMatch: RDN type names (OpenSSL short or long name, any case) into NIDs. */
static int
parse_rdnlist(const char *key, const char *v, struct config *cf, char *msg, size_t msglen)
{
	char	 item[MAX_LIST_ITEM + 1], shown[4 * MAX_LIST_ITEM + 1];
	int	 nids[MAX_RDN_MATCH], rc, nid;
	size_t	 i, n = 0;

	while ((rc = next_item(&v, item, sizeof(item))) != 0) {
		nid = NID_undef;
		for (i = 0; rc == 1 && i < sizeof(rdn_nids) / sizeof(rdn_nids[0]); i++)
			if (strcasecmp(item, OBJ_nid2sn(rdn_nids[i])) == 0 ||
			    strcasecmp(item, OBJ_nid2ln(rdn_nids[i])) == 0) {
				nid = rdn_nids[i];
				break;
			}
		printable(shown, sizeof(shown), item, item + strlen(item));
		if (nid == NID_undef) {
			snprintf(msg, msglen, "%s: unknown RDN type \"%s\" (for example CN, O, "
			    "OU, C, L, ST, emailAddress, serialNumber, DC, UID)", key, shown);
			return 0;
		}
		for (i = 0; i < n; i++)
			if (nids[i] == nid) {
				snprintf(msg, msglen, "%s: %s is listed twice", key, shown);
				return 0;
			}
		if (n == MAX_RDN_MATCH) {
			snprintf(msg, msglen, "%s: more than %d RDN types", key, MAX_RDN_MATCH);
			return 0;
		}
		nids[n++] = nid;
	}
	if (n == 0) {
		snprintf(msg, msglen, "%s: the list is empty (name at least one RDN type, "
		    "for example CN)", key);
		return 0;
	}
	memcpy(cf->rdn_match, nids, n * sizeof(nids[0]));
	cf->n_rdn_match = n;
	return 1;
}

/* Extended key usages a person may write in any case (OBJ_txt2nid() is case-sensitive). */
static const int eku_nids[] = {
	NID_server_auth, NID_client_auth, NID_code_sign, NID_email_protect, NID_time_stamp,
	NID_OCSP_sign, NID_ipsecEndSystem, NID_ipsecTunnel, NID_ipsecUser, NID_ipsec_IKE,
	NID_ms_smartcard_login, NID_ms_efs, NID_anyExtendedKeyUsage,
};

/* "1.2.3": digits and single dots, not at either end. */
static int
dotted_oid(const char *s)
{
	const char	*p;

	if (!isdigit((unsigned char)s[0]))
		return 0;
	for (p = s; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
			return 0;
	return strchr(s, '.') != NULL;
}

/*
 * ExtendedKeyUsage: names OpenSSL knows or dotted OIDs, into "sn,sn,1.2.3" (canonical short
 * names, so ca.c's openssl.cnf-style value always parses); "none" is "" (no extension).
 */
static int
parse_eku(const char *key, const char *v, char **out, char *msg, size_t msglen)
{
	ASN1_OBJECT	*obj;
	char		 item[MAX_LIST_ITEM + 1], shown[4 * MAX_LIST_ITEM + 1], txt[MAX_LIST_ITEM + 1];
	char		 buf[MAX_EKU * (MAX_LIST_ITEM + 1) + 1], *copy;
	const char	*canon, *p;
	size_t		 i, n = 0, o = 0, len;
	int		 rc, nid;

	buf[0] = '\0';
	if (strcasecmp(v, "none") != 0) {
		while ((rc = next_item(&v, item, sizeof(item))) != 0) {
			printable(shown, sizeof(shown), item, item + strlen(item));
			nid = NID_undef;
			canon = NULL;
			if (rc == 1 && isdigit((unsigned char)item[0])) {
				/* OBJ_txt2obj() alone would take "1.2." for "1.2". */
				if (dotted_oid(item) && (obj = OBJ_txt2obj(item, 1)) != NULL) {
					if ((nid = OBJ_obj2nid(obj)) == NID_undef &&
					    OBJ_obj2txt(txt, sizeof(txt), obj, 1) > 0 &&
					    strlen(txt) < sizeof(txt) - 1)
						canon = txt;
					ASN1_OBJECT_free(obj);
				}
			} else if (rc == 1) {
				nid = OBJ_txt2nid(item);
				for (i = 0; nid == NID_undef &&
				    i < sizeof(eku_nids) / sizeof(eku_nids[0]); i++)
					if (strcasecmp(item, OBJ_nid2sn(eku_nids[i])) == 0 ||
					    strcasecmp(item, OBJ_nid2ln(eku_nids[i])) == 0)
						nid = eku_nids[i];
			}
			if (nid != NID_undef && OBJ_length(OBJ_nid2obj(nid)) > 0)
				canon = OBJ_nid2sn(nid);
			ERR_clear_error();
			if (canon == NULL) {
				snprintf(msg, msglen, "%s: unknown extended key usage \"%s\" (an "
				    "OpenSSL name such as clientAuth or serverAuth, or a dotted "
				    "OID)", key, shown);
				return 0;
			}
			/* A duplicate is the same canonical text between commas. */
			len = strlen(canon);
			for (p = buf; (p = strstr(p, canon)) != NULL; p += len)
				if ((p == buf || p[-1] == ',') && (p[len] == ',' || p[len] == '\0')) {
					snprintf(msg, msglen, "%s: %s is listed twice", key, shown);
					return 0;
				}
			if (n == MAX_EKU) {
				snprintf(msg, msglen, "%s: more than %d usages", key, MAX_EKU);
				return 0;
			}
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", n ? "," : "", canon);
			n++;
		}
		if (n == 0) {
			snprintf(msg, msglen, "%s: the list is empty (write \"none\" for no "
			    "extendedKeyUsage extension)", key);
			return 0;
		}
	}
	if ((copy = strdup(buf)) == NULL) {
		snprintf(msg, msglen, "out of memory");
		return 0;
	}
	free(*out);
	*out = copy;
	return 1;
}

/* A systemd credential name: a file name in $CREDENTIALS_DIRECTORY. */
static int
credential_ok(const char *v)
{
	const char	*p;

	if (v[0] == '.')
		return 0;
	for (p = v; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("-_.@", *p) == NULL)
			return 0;
	return 1;
}

/*
 * A URL for a certificate extension (RFC 5280 §4.2.1.13, §4.2.2.1 ask for HTTP or LDAP):
 * the scheme, a host, then printable ASCII without blanks, quotes or backslashes.
 */
static int
url_ok(const char *v)
{
	const char	*p;

	if (strncasecmp(v, "http://", 7) == 0)
		p = v + 7;
	else if (strncasecmp(v, "ldap://", 7) == 0)
		p = v + 7;
	else
		return 0;
	if (*p == '\0' || *p == '/')
		return 0;
	for (; *p != '\0'; p++)
		if (*p <= ' ' || *p > '~' || *p == '"' || *p == '\\')
			return 0;
	return 1;
}

/* Set the field of K in BASE (a struct config or struct role) from V. 1 ok, 0 with msg set. */
static int
set_value(void *base, const struct keydef *k, const char *v, char *msg, size_t msglen)
{
	void			*field = (char *)base + k->off;
	char			 shown[4 * MAX_KEY_NAME + 1];
	char			*copy;
	size_t			 i;

	printable(shown, sizeof(shown), v, v + strlen(v));
	if (*v == '\0') {
		snprintf(msg, msglen, "%s has an empty value (remove the line to get the "
		    "default)", k->name);
		return 0;
	}
	switch (k->type) {
	case KT_PATH:
		if (v[0] != '/') {
			snprintf(msg, msglen, "%s must be an absolute path, not \"%s\"",
			    k->name, shown);
			return 0;
		}
		/* FALLTHROUGH */
	case KT_CREDENTIAL:
		if (k->type == KT_CREDENTIAL && !credential_ok(v)) {
			snprintf(msg, msglen, "%s: bad credential name \"%s\" (letters, digits, "
			    "'-', '_', '.' and '@', not starting with '.')", k->name, shown);
			return 0;
		}
		/* FALLTHROUGH */
	case KT_URL:
		if (k->type == KT_URL && !url_ok(v)) {
			snprintf(msg, msglen, "%s must be an http:// or ldap:// URL without blanks "
			    "or quotes, not \"%s\"", k->name, shown);
			return 0;
		}
		/* FALLTHROUGH */
	case KT_STRING:
		if (strlen(v) > (size_t)k->max) {
			snprintf(msg, msglen, "%s is too long (at most %ld bytes)", k->name,
			    k->max);
			return 0;
		}
		/* FALLTHROUGH */
	case KT_ROLENAME:
		if (k->type == KT_ROLENAME && !role_name_ok(v, strlen(v))) {
			snprintf(msg, msglen, "%s: bad role name \"%s\" (letters, digits, '-', "
			    "'_' and '.', at most %d)", k->name, shown, MAX_ROLE_NAME);
			return 0;
		}
		if ((copy = strdup(v)) == NULL) {
			snprintf(msg, msglen, "out of memory");
			return 0;
		}
		free(*(char **)field);
		*(char **)field = copy;
		return 1;
	case KT_BOOL:
		if (!parse_bool(v, field)) {
			snprintf(msg, msglen, "%s must be YES or NO, not \"%s\"", k->name, shown);
			return 0;
		}
		return 1;
	case KT_INT:
		if (!parse_int(v, k->min, k->max, field)) {
			snprintf(msg, msglen, "%s must be a whole number from %ld to %ld, not "
			    "\"%s\"", k->name, k->min, k->max, shown);
			return 0;
		}
		return 1;
	case KT_DURATION:
		if (!config_parse_duration(v, k->min, k->max, field)) {
			snprintf(msg, msglen, "%s must be a duration from %ld to %ld seconds, "
			    "written as seconds or with a unit s, m, h or d (\"90m\"), not \"%s\"",
			    k->name, k->min, k->max, shown);
			return 0;
		}
		return 1;
	case KT_LOGLEVEL:
		for (i = 0; i < sizeof(loglevels) / sizeof(loglevels[0]); i++)
			if (strcasecmp(v, loglevels[i]) == 0) {
				*(int *)field = (int)i;
				return 1;
			}
		snprintf(msg, msglen, "%s must be ERROR, WARNING, INFO or DEBUG, not \"%s\"",
		    k->name, shown);
		return 0;
	case KT_FALLBACK:
		if (strcasecmp(v, "DEFAULT") == 0)
			*(enum role_fallback *)field = ROLE_FALLBACK_DEFAULT;
		else if (strcasecmp(v, "REFUSE") == 0)
			*(enum role_fallback *)field = ROLE_FALLBACK_REFUSE;
		else {
			snprintf(msg, msglen, "%s must be DEFAULT or REFUSE, not \"%s\"",
			    k->name, shown);
			return 0;
		}
		return 1;
	case KT_RDNLIST:
		return parse_rdnlist(k->name, v, base, msg, msglen);
	case KT_DIGESTS:
		return parse_mask(k->name, "digest", v, digest_names,
		    sizeof(digest_names) / sizeof(digest_names[0]), field, msg, msglen);
	case KT_CIPHERS:
		return parse_mask(k->name, "cipher", v, cipher_names,
		    sizeof(cipher_names) / sizeof(cipher_names[0]), field, msg, msglen);
	case KT_KEYUSAGE:
		return parse_mask(k->name, "key usage", v, ku_names,
		    sizeof(ku_names) / sizeof(ku_names[0]), field, msg, msglen);
	case KT_EKU:
		return parse_eku(k->name, v, field, msg, msglen);
	}
	snprintf(msg, msglen, "%s: internal error: unknown key type", k->name);
	return 0;
}

/* Read PATH whole (NUL-terminated). 1 ok, 0 with err set. */
static int
read_text(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
	FILE		*f = NULL;
	struct stat	 st;
	char		*buf = NULL;
	size_t		 n;
	int		 ok = 0;

	if ((f = fopen(path, "r")) == NULL) {
		conf_err(err, errlen, path, 0, "cannot open: %s", strerror(errno));
		goto out;
	}
	if (fstat(fileno(f), &st) == -1 || !S_ISREG(st.st_mode)) {
		conf_err(err, errlen, path, 0, "not a regular file");
		goto out;
	}
	if (st.st_size > MAX_CONF_SIZE) {
		conf_err(err, errlen, path, 0, "too large (more than %d bytes)", MAX_CONF_SIZE);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		conf_err(err, errlen, path, 0, "out of memory");
		goto out;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		conf_err(err, errlen, path, 0, "read error");
		goto out;
	}
	if (memchr(buf, '\0', n) != NULL) {
		conf_err(err, errlen, path, 0, "contains a NUL byte");
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	buf = NULL;
	ok = 1;
out:
	free(buf);
	if (f != NULL)
		fclose(f);
	return ok;
}

/*
 * The role of the dictionary section SEC (length LEN, lowercased by iniparser):
 * "role NAME" -> index into sc->roles, else -1.
 */
static int
dict_role(const struct scan *sc, const char *sec, size_t len)
{
	const char	*ns, *ne;

	if (!role_section(sec, sec + len, &ns, &ne))
		return -1;
	return scan_role_find(sc, ns, (size_t)(ne - ns));
}

/* Keys A and B name one secret twice (A and B both set): an error on B's line. */
static int
one_of(const char *a, const char *b, const char *aname, const char *bname,
    const struct scan *sc, const char *path, char *err, size_t errlen)
{
	if (a == NULL || b == NULL)
		return 1;
	conf_err(err, errlen, path, sc->lines[key_index(bname)], "%s and %s (line %d) name "
	    "the same secret: set one of them", bname, aname, sc->lines[key_index(aname)]);
	return 0;
}

/* A role named NAME with the defaults; Days follows ScepCertValidityDays. 1 ok, 0 ENOMEM. */
static int
role_init(struct role *ro, const char *name, const struct config *cf)
{
	memset(ro, 0, sizeof(*ro));
	ro->days = cf->cert_days;
	ro->key_usage = DEFAULT_KU;
	ro->selectable = 0;
	ro->keep_san = -1;
	ro->include_chain = 0;
	if ((ro->name = strdup(name)) == NULL ||
	    (ro->ext_key_usage = strdup(DEFAULT_EKU)) == NULL)
		return 0;
	return 1;
}

/* Comma list of the role names, for a message. */
static void
role_names(char *out, size_t outlen, const struct config *cf)
{
	size_t	 i, o = 0;

	out[0] = '\0';
	for (i = 0; i < cf->nroles && o < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%s%s", i ? ", " : "",
		    cf->roles[i].name);
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct config	*cf = NULL, *ret = NULL;
	struct scan	*sc = NULL;
	dictionary	*d = NULL;
	char		*text = NULL;
	const char	*vals[NKEYS] = { NULL }, *(*rvals)[NRKEYS] = NULL, *colon, **slot;
	char		 msg[512], names[MAX_ROLES * (MAX_ROLE_NAME + 2) + 1];
	int		 idx, ri, i, line = 0;
	size_t		 len = 0, k, seclen, r;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL)
		path = config_path(NULL);
	if ((sc = calloc(1, sizeof(*sc))) == NULL ||
	    (rvals = calloc(MAX_ROLES, sizeof(*rvals))) == NULL) {
		conf_err(err, errlen, path, 0, "out of memory");
		goto out;
	}
	if (!read_text(path, &text, &len, err, errlen))
		goto out;
	if (!conf_scan(path, text, len, sc, err, errlen))
		goto out;

	ini_err[0] = '\0';
	iniparser_set_error_callback(ini_errback);
	d = iniparser_load(path);
	iniparser_set_error_callback(NULL);
	if (d == NULL) {
		conf_err(err, errlen, path, 0, "%s", ini_err[0] != '\0' ? ini_err :
		    "iniparser cannot read it");
		goto out;
	}

	/* The dictionary is authoritative; the scan only told us where things are. */
	for (i = 0; i < d->size; i++) {
		if (d->key[i] == NULL)
			continue;
		if ((colon = strchr(d->key[i], ':')) == NULL)
			continue;	/* a section, checked by the scan */
		seclen = (size_t)(colon - d->key[i]);
		slot = NULL;
		if (seclen == 0 || (seclen == strlen(CONF_SECTION) &&
		    strncmp(d->key[i], CONF_SECTION, seclen) == 0)) {
			if ((idx = key_index(colon + 1)) != -1) {
				slot = &vals[idx];
				line = sc->lines[idx];
			}
		} else if ((ri = dict_role(sc, d->key[i], seclen)) != -1) {
			if ((idx = rkey_index(colon + 1)) != -1) {
				slot = &rvals[ri][idx];
				line = sc->roles[ri].lines[idx];
			}
		}
		if (slot == NULL) {
			conf_err(err, errlen, path, 0, "unknown key \"%.64s\"", d->key[i]);
			goto out;
		}
		if (*slot != NULL) {
			conf_err(err, errlen, path, line, "duplicate key \"%.64s\"", colon + 1);
			goto out;
		}
		*slot = d->val[i] != NULL ? d->val[i] : "";
	}

	if ((cf = calloc(1, sizeof(*cf))) == NULL ||
	    (cf->path = strdup(path)) == NULL) {
		conf_err(err, errlen, path, 0, "out of memory");
		goto out;
	}
	for (k = 0; k < NKEYS; k++) {
		if (vals[k] == NULL && keytab[k].required) {
			conf_err(err, errlen, path, 0, "%s is required", keytab[k].name);
			goto out;
		}
		if (vals[k] == NULL && keytab[k].def == NULL)
			continue;
		if (!set_value(cf, &keytab[k], vals[k] != NULL ? vals[k] : keytab[k].def,
		    msg, sizeof(msg))) {
			conf_err(err, errlen, path, vals[k] != NULL ? sc->lines[k] : 0, "%s",
			    msg);
			goto out;
		}
	}

	if (!one_of(cf->keysrc.pin_file, cf->keysrc.pin_credential, "ScepCAKeyPINFile",
	    "ScepCAKeyPINCredential", sc, path, err, errlen) ||
	    !one_of(cf->keysrc.pass_file, cf->keysrc.pass_credential,
	    "ScepCAKeyPassphraseFile", "ScepCAKeyPassphraseCredential", sc, path, err, errlen))
		goto out;

	/* Roles: the sections in file order, or one built from the global keys. */
	if (sc->nroles == 0) {
		if (!role_init(&cf->roles[0], DEFAULT_ROLE, cf)) {
			conf_err(err, errlen, path, 0, "out of memory");
			goto out;
		}
		cf->nroles = 1;
	}
	for (r = 0; r < sc->nroles; r++) {
		if (!role_init(&cf->roles[r], sc->roles[r].name, cf)) {
			cf->nroles = r + 1;
			conf_err(err, errlen, path, 0, "out of memory");
			goto out;
		}
		cf->nroles = r + 1;
		for (k = 0; k < NRKEYS; k++) {
			if (rvals[r][k] == NULL)
				continue;
			if (!set_value(&cf->roles[r], &rkeytab[k], rvals[r][k], msg,
			    sizeof(msg))) {
				conf_err(err, errlen, path, sc->roles[r].lines[k], "%s", msg);
				goto out;
			}
		}
	}
	if (config_role(cf, cf->default_role) == NULL) {
		role_names(names, sizeof(names), cf);
		idx = key_index("ScepDefaultRole");
		if ((line = sc->lines[idx]) != 0)
			conf_err(err, errlen, path, line, "ScepDefaultRole: no role \"%s\" "
			    "(roles: %s)", cf->default_role, names);
		else
			conf_err(err, errlen, path, 0, "no [" ROLE_SECTION " " DEFAULT_ROLE
			    "] section: set ScepDefaultRole to one of the roles (%s)", names);
		goto out;
	}
	ret = cf;
	cf = NULL;
out:
	config_free(cf);
	free(sc);
	free(rvals);
	if (d != NULL)
		iniparser_freedict(d);
	if (text != NULL) {
		explicit_bzero(text, len);	/* it may hold the challenge */
		free(text);
	}
	return ret;
}

void
config_free(struct config *cf)
{
	size_t	 i;

	if (cf == NULL)
		return;
	if (cf->challenge != NULL) {
		explicit_bzero(cf->challenge, strlen(cf->challenge));
		free(cf->challenge);
	}
	for (i = 0; i < cf->nroles && i < MAX_ROLES; i++) {
		free(cf->roles[i].name);
		free(cf->roles[i].ext_key_usage);
	}
	free(cf->keysrc.pkcs11_module);
	free(cf->keysrc.pin_file);
	free(cf->keysrc.pin_credential);
	free(cf->keysrc.pass_file);
	free(cf->keysrc.pass_credential);
	free(cf->crl_url);
	free(cf->ca_issuers_url);
	free(cf->publish_dir);
	free(cf->default_role);
	free(cf->default_ra);
	free(cf->repository);
	free(cf->path);
	free(cf);
}

const struct role *
config_role(const struct config *cf, const char *name)
{
	size_t	 i;

	if (cf == NULL || name == NULL)
		return NULL;
	for (i = 0; i < cf->nroles; i++)
		if (cf->roles[i].name != NULL && strcasecmp(cf->roles[i].name, name) == 0)
			return &cf->roles[i];
	return NULL;
}

const struct role *
config_role_or_default(const struct config *cf, const char *name)
{
	const struct role	*r = config_role(cf, name);

	return r != NULL ? r : config_role(cf, cf != NULL ? cf->default_role : NULL);
}

const char *
config_path(const char *explicit_path)
{
	const char	*env;

	if (explicit_path != NULL && explicit_path[0] != '\0')
		return explicit_path;
	if ((env = getenv("SCEP_CONF")) != NULL && env[0] != '\0')
		return env;
	return DEFAULT_CONF_PATH;
}
