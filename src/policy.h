/*
 * policy: OpenCA's SCEP policy (scep.conf keys) applied to one request. Decisions only:
 * what kind of request it is, whether it may go on, which role and RA it gets. The caller
 * (server.c) writes the record and answers. Every refusal comes with a sentence a person
 * can act on, for the failInfoText and the log.
 */
#ifndef POLICY_H
#define POLICY_H

#include <stddef.h>
#include <openssl/x509.h>

#include "config.h"
#include "repo.h"

struct ca;

/* What signed a request (RFC 8894 §2.3, OpenCA renewal rule). */
enum signer_kind {
	SIGNER_SELF,		/* self-signed: an initial enrollment */
	SIGNER_VALID,		/* issued by this CA, on record, not revoked, not expired */
	SIGNER_REVOKED,		/* issued by this CA but revoked */
	SIGNER_EXPIRED,		/* issued by this CA but expired (or not yet valid) */
	SIGNER_UNKNOWN,		/* signed by this CA's key but not in certs/ */
	SIGNER_FOREIGN		/* neither self-signed nor issued by this CA */
};

/*
 * Classify SIGNER. For certificates of this CA, its serial (uppercase hex, as the
 * repository names it) goes to serial[].
 */
enum signer_kind policy_signer(struct ca *, struct repo *, X509 *signer,
		    char *serial, size_t seriallen);
const char	*signer_kind_text(enum signer_kind);

/* The requested key: RSA of at least ScepMinKeyBits. 1 ok, 0 refused (why set). */
int		 policy_key_ok(const struct config *, EVP_PKEY *, char *why, size_t);

/*
 * ScepRenewalRDNMatch: every listed RDN type has the same values (in order) in the
 * signer's subject and in the requested subject. 1 ok, 0 refused (why set).
 */
int		 policy_rdn_match(const struct config *, X509_NAME *signer,
		    X509_NAME *requested, char *why, size_t);

/*
 * The role an initial request gets: one it asks for (certificate-template-name extension
 * 1.3.6.1.4.1.311.20.2 as Windows and Intune send it, or our scepRole attribute, see
 * scep.conf(5)) if the config marks it Selectable, else ScepDefaultRole, or NULL (refused,
 * why set) with ScepRoleFallback = REFUSE.
 */
const struct role *policy_select_role(const struct config *, X509_REQ *, char *why, size_t);

/* The role name a CSR asks for (malloc'd UTF-8), or NULL. */
char		*csr_requested_role(X509_REQ *);

/* The OID of our scepRole CSR attribute (a UUID-based OID, ITU-T X.667). */
#define OID_SCEP_ROLE	"2.25.120449421016315358108237866117543876236"
/* Microsoft certificate-template-name extension (szOID_ENROLL_CERTTYPE_EXTENSION). */
#define OID_MS_TEMPLATE_NAME "1.3.6.1.4.1.311.20.2"

/* How a challenge password checks out. */
enum challenge_result {
	CHAL_NONE,		/* the request carries none */
	CHAL_STATIC,		/* equals ScepChallengePassword */
	CHAL_ONETIME,		/* a one-time challenge, valid, now consumed */
	CHAL_EXPIRED,		/* a one-time challenge past its expiry (consumed) */
	CHAL_WRONG		/* anything else */
};

/*
 * Check CHALLENGE (may be NULL). A one-time challenge is consumed by this call, so call it
 * last, with the repository lock held, right before the record is created.
 */
enum challenge_result policy_challenge(const struct config *, struct repo *,
		    const char *challenge);

/* Hex SHA-256 of a challenge secret: the name it is stored under. */
int		 challenge_hash(const char *secret, char out[65]);

#endif
