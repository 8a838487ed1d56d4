/*
 * scep.conf: the INI file (iniparser) becomes a validated struct config once, at start-up.
 * Every error names the file and line. See scep.conf(5).
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>

#define DEFAULT_CONF_PATH	"/etc/scep/scep.conf"

/* Algorithm allow-lists (ScepAllowedDigests, ScepAllowedCiphers), as bit masks. */
#define DIG_MD5		0x01
#define DIG_SHA1	0x02
#define DIG_SHA224	0x04
#define DIG_SHA256	0x08
#define DIG_SHA384	0x10
#define DIG_SHA512	0x20
#define CIPH_DES	0x01
#define CIPH_DES3	0x02
#define CIPH_AES128	0x04
#define CIPH_AES192	0x08
#define CIPH_AES256	0x10

#define MAX_ROLES	32
#define MAX_RDN_MATCH	16
#define MAX_ROLE_NAME	64	/* bytes of a role name: letters, digits, - _ . */
#define MIN_CHALLENGE_TTL 60		/* ScepChallengeTTL range, seconds */
#define MAX_CHALLENGE_TTL 31536000

/*
 * Where the secrets that open the CA and RA private keys come from, and the PKCS#11 module
 * of a token holding them (the CA module's key store, ca_key.c, reads them when it opens a
 * key). Each field NULL when not set.
 */
struct ca_keysrc {
	char	*pkcs11_module;		/* ScepPKCS11Module: the token's PKCS#11 module */
	char	*pin_file;		/* ScepCAKeyPINFile: the token's user PIN */
	char	*pin_credential;	/* ScepCAKeyPINCredential: the same as a systemd
					   credential, $CREDENTIALS_DIRECTORY/NAME */
	char	*pass_file;		/* ScepCAKeyPassphraseFile: of encrypted PEM keys */
	char	*pass_credential;	/* ScepCAKeyPassphraseCredential */
};

/*
 * A role (certificate profile), a section "[role NAME]" of scep.conf. A config without any
 * role section has one built-in role named "default" made from the global keys.
 */
struct role {
	char	*name;			/* as written in the section header (case kept) */
	int	 days;			/* Days: validity (default ScepCertValidityDays) */
	unsigned key_usage;		/* KeyUsage: comma list of digitalSignature, nonRepudiation,
					   keyEncipherment, dataEncipherment, keyAgreement;
					   as X509v3 KU_* bits (default digitalSignature,keyEncipherment) */
	char	*ext_key_usage;		/* ExtendedKeyUsage: comma list of OpenSSL short names or
					   dotted OIDs (default "clientAuth,serverAuth"); "" = none */
	int	 selectable;		/* Selectable: an initial request may ask for it (default NO) */
	int	 keep_san;		/* KeepSubjectAltName: -1 = ScepKeepSubjectAltName (default) */
	int	 include_chain;		/* IncludeChain: CA certs after the issued one in CertRep
					   (default NO; Cisco VPN wants YES, Juniper NO) */
};

/* What happens to an initial request asking for an unknown or non-selectable role. */
enum role_fallback { ROLE_FALLBACK_DEFAULT = 0, ROLE_FALLBACK_REFUSE = 1 };

struct config {
	char	*path;			/* the file it was read from */
	char	*repository;		/* ScepRepository: repository root (required) */
	char	*challenge;		/* ScepChallengePassword: static challenge or NULL */
	int	 auto_approve_enrollment; /* ScepAutoApproveEnrollment: YES/NO (default NO) */
	int	 cert_days;		/* ScepCertValidityDays: validity of issued certs (default 365) */
	int	 allow_legacy_crypto;	/* ScepAllowLegacyCrypto: single DES (and MD5) accepted (default YES:
					   micromdm scepclient always sends DES) */
	int	 log_level;		/* ScepLogLevel: ERROR, WARNING, INFO (default), DEBUG */

	/* OpenCA policy keys, same names and meaning as OpenCA's scep.conf. */
	int	 allow_enrollment;	/* ScepAllowEnrollment (default YES) */
	int	 allow_renewal;		/* ScepAllowRenewal (default YES) */
	int	 auto_approve;		/* ScepAutoApprove: renewals signed by a valid cert of
					   this CA are issued at once (default NO) */
	int	 keep_san;		/* ScepKeepSubjectAltName (default YES) */
	char	*default_role;		/* ScepDefaultRole: a role name (default "default") */
	char	*default_ra;		/* ScepDefaultRA: RA name recorded (default "scep") */
	int	 rdn_match[MAX_RDN_MATCH]; /* ScepRenewalRDNMatch (alias ScepRenewRDNMatch):
					   NIDs of the RDN types that must be equal between the
					   signer and the requested subject (default "CN") */
	size_t	 n_rdn_match;

	/* This product's keys. */
	int	 one_time_challenges;	/* ScepOneTimeChallenges: accept challenges made by
					   `scep-admin challenge` (default YES) */
	int	 challenge_ttl;		/* ScepChallengeTTL: their default lifetime, seconds
					   (default 3600; 60..31536000) */
	int	 min_key_bits;		/* ScepMinKeyBits: minimum RSA size requested (default 2048,
					   1024..16384) */
	unsigned allowed_digests;	/* ScepAllowedDigests: list of MD5, SHA-1, SHA-224,
					   SHA-256, SHA-384, SHA-512 (default all but MD5) */
	unsigned allowed_ciphers;	/* ScepAllowedCiphers: list of DES, DES3, AES-128, AES-192,
					   AES-256 (default all); DES and MD5 also need
					   ScepAllowLegacyCrypto = YES */
	enum role_fallback role_fallback; /* ScepRoleFallback: DEFAULT (default) or REFUSE */
	int	 crl_days;		/* ScepCRLValidityDays: nextUpdate (default 7, 1..3650) */
	int	 include_root;		/* ScepCACertIncludeRoot: GetCACert/GetNextCACert keep a
					   self-signed root at the end of chain.pem (default YES);
					   the server calls ca_set_include_root() with it */
	struct ca_keysrc keysrc;	/* ScepPKCS11Module, ScepCAKeyPIN..., ScepCAKeyPassphrase... */
	char	*crl_url;		/* ScepCRLURL: cRLDistributionPoints of issued
					   certificates (http:// or ldap://; NULL: none) */
	char	*ca_issuers_url;	/* ScepCAIssuersURL: authorityInfoAccess caIssuers
					   of issued certificates (NULL: none) */
	char	*publish_dir;		/* ScepPublishDir: where the CRL and the CA certificate
					   are published for a web server (NULL: not published) */
	struct role roles[MAX_ROLES];	/* [role NAME] sections, or the built-in "default" */
	size_t	 nroles;
};

/*
 * Read and validate PATH. On error returns NULL and writes "PATH:LINE: message" (or
 * "PATH: message" when no line applies) into err.
 */
struct config	*config_load(const char *path, char *err, size_t errlen);
void		 config_free(struct config *);
/* The role called NAME (case-insensitive), or NULL. */
const struct role *config_role(const struct config *, const char *name);
/* The role called NAME, or ScepDefaultRole's when NAME is NULL or names no role. */
const struct role *config_role_or_default(const struct config *, const char *name);

/*
 * A duration as ScepChallengeTTL takes it: decimal seconds, optionally followed by one unit
 * s, m, h or d (any case), within [min, max] seconds. 1 ok, 0 malformed or out of range.
 */
int		 config_parse_duration(const char *, long min, long max, int *out);

/* The path to use: explicit argument, else $SCEP_CONF, else DEFAULT_CONF_PATH. */
const char	*config_path(const char *explicit_path);

#endif
