/*
 * mobileconfig: an Apple configuration profile (.mobileconfig: XML property list, UTF-8,
 * optionally CMS-signed) that makes an iOS or macOS device enroll with this server.
 * One "Configuration" profile holding one com.apple.security.scep payload; the keys and
 * their plist types are those of Apple's device-management schema
 * (mdm/profiles/com.apple.security.scep.yaml), summarised in docs/clients.md §6.
 * Used by `scep-admin mobileconfig`, see scep-admin(8).
 */
#ifndef MOBILECONFIG_H
#define MOBILECONFIG_H

#include <stddef.h>
#include <openssl/x509.h>

struct ca;

/* Limits of the profile builder. */
#define MC_FINGERPRINT_LEN	20		/* CAFingerprint: SHA-1 of the CA certificate */
#define MC_MAX_STRING		2048		/* bytes of one string (URL, name, SAN value...) */
#define MC_MAX_SAN		64		/* subjectAltName values, all kinds together */
#define MC_MAX_RETRIES		1000		/* Retries */
#define MC_MAX_RETRY_DELAY	86400		/* RetryDelay, seconds */
#define MC_MAX_DOC		(256 * 1024)	/* bytes of the whole document */
#define MC_UUID_LEN		36		/* "XXXXXXXX-XXXX-4XXX-YXXX-XXXXXXXXXXXX" */

/*
 * What goes into the profile. mobileconfig_defaults() fills it; strings are borrowed.
 * A NULL string (or an empty list) leaves its key out.
 */
struct mobileconfig {
	const char		*url;		/* URL (required): http:// or https:// */
	const char		*name;		/* Name: the CA-IDENT sent in GetCACert */
	const char		*subject;	/* Subject, OpenSSL "/CN=x/O=y" form (ca_parse_dn) */
	const char		*challenge;	/* Challenge */
	int			 keysize;	/* Keysize: 1024, 2048 or 4096 (default 2048) */
	int			 key_usage;	/* Key Usage: 0, 1 (signing), 4 (encryption), 5
						   (both; default) */
	int			 retries;	/* Retries (default 3) */
	int			 retry_delay;	/* RetryDelay, seconds (default 10) */
	const char *const	*san_dns;	/* SubjectAltName dNSName */
	size_t			 n_san_dns;
	const char *const	*san_email;	/* rfc822Name */
	size_t			 n_san_email;
	const char *const	*san_uri;	/* uniformResourceIdentifier */
	size_t			 n_san_uri;
	const char		*upn;		/* ntPrincipalName */
	int			 has_fingerprint;
	unsigned char		 fingerprint[MC_FINGERPRINT_LEN];	/* CAFingerprint */
	const char		*identifier;	/* PayloadIdentifier of the profile (reverse
						   DNS); NULL: from the URL's host name */
	const char		*display_name;	/* PayloadDisplayName; NULL: a default */
	const char		*organization;	/* PayloadOrganization */
	const char		*uuid_profile;	/* PayloadUUIDs; NULL: random (version 4) */
	const char		*uuid_payload;
};

void	 mobileconfig_defaults(struct mobileconfig *);

/*
 * Build the XML property list into a malloc'd, NUL-terminated buffer (*doc, *len without
 * the NUL). Every string is checked (valid UTF-8, no control characters, at most
 * MC_MAX_STRING bytes) and escaped for XML. 1 ok; 0 with a sentence in err that names
 * the offending option.
 */
int	 mobileconfig_build(const struct mobileconfig *, char **doc, size_t *len,
	    char *err, size_t errlen);

/* CAFingerprint of CERT: SHA-1 of its DER encoding. 1 ok, 0 error. */
int	 mobileconfig_fingerprint(X509 *cert, unsigned char out[MC_FINGERPRINT_LEN]);

/* A random (version 4) UUID in upper case, as Apple's tools write PayloadUUIDs. */
int	 mobileconfig_uuid(char out[MC_UUID_LEN + 1]);

/*
 * CMS SignedData (RFC 5652, DER) with DOC attached, signed (SHA-256) by the CA key (also in
 * RA mode), carrying the CA certificate and the issuers above it from GetCACert, so that
 * `openssl cms -verify -CAfile ca.pem` verifies it. *der is OPENSSL_malloc'd.
 */
int	 mobileconfig_sign(struct ca *, const char *doc, size_t len, unsigned char **der,
	    size_t *derlen, char *err, size_t errlen);

#endif
