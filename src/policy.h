/*
 * policy: OpenCA's SCEP policy (scep.conf keys) applied to one request. Decisions only:
 * the handlers (server.c, enroll.c) gather the facts of a request (how it is signed, by
 * which certificate, for which key and names, what the repository holds), hand them to
 * policy_decide() and carry out its answer. Every refusal comes with a sentence a person
 * can act on, for the failInfoText and the log.
 */
#ifndef POLICY_H
#define POLICY_H

#include <stddef.h>
#include <openssl/x509.h>

#include "config.h"
#include "repo.h"
#include "scep.h"

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

/* How a challenge password checks out. */
enum challenge_result {
	CHAL_NONE,		/* the request carries none */
	CHAL_STATIC,		/* equals ScepChallengePassword */
	CHAL_ONETIME,		/* a one-time challenge, valid, now consumed */
	CHAL_EXPIRED,		/* a one-time challenge past its expiry (consumed) */
	CHAL_WRONG,		/* anything else */
	CHAL_COMMAND,		/* found valid by ScepChallengeCommand */
	CHAL_UNCHECKED		/* the request carries one, not checked yet (policy_decide) */
};

/* A renewal is refused when this many valid certificates carry its subject already. */
#define POLICY_MAX_VALID_PER_DN	2

/* When a decision is taken. */
enum policy_stage {
	STAGE_ARRIVAL,		/* a PKCSReq or RenewalReq arrives */
	STAGE_STORED,		/* a stored pending or approved request is polled or resent */
	STAGE_ISSUE		/* an approved request is about to be signed */
};

/* The facts of one request; what a stage does not use may stay zero. */
struct policy_facts {
	enum policy_stage stage;
	int		 msgtype;	/* arrival: the messageType */
	/* arrival: policy_signer() of the message's signer; stored and issue: of the
	   certificate a renewal renews, as it is now (SIGNER_VALID or SIGNER_REVOKED) */
	enum signer_kind signer;
	X509		*signer_cert;	/* arrival: the certificate that signed the message */
	X509_REQ	*csr;		/* arrival: the requested certificate */
	int		 renewal;	/* stored and issue: the record renews a certificate */
	int		 existing;	/* arrival: a record holds this transaction already */
	int		 same_requester; /* ... for the same key and (canonically) subject */
	int		 valid_for_dn;	/* arrival and issue: valid certificates of ours whose
					   subject equals the requested one (X509_NAME_cmp) */
	int		 key_certified;	/* arrival: one of them holds the requested key */
	const char	*role;		/* arrival of a renewal: the role of the renewed
					   certificate's record (NULL: none known) */
	const char	*ra;		/* ... and its RA */
	enum challenge_result challenge; /* arrival of an initial request: CHAL_NONE, or
					   CHAL_UNCHECKED until checked under the lock */
};

enum policy_verdict {
	POLICY_REFUSE,		/* FAILURE with failinfo and text; nothing written */
	POLICY_EXISTING,	/* answer from the stored record (a poll) */
	POLICY_PENDING,		/* store in pending/ for an administrator */
	POLICY_ISSUE		/* store in approved/ and issue now */
};

struct policy_decision {
	enum policy_verdict	 verdict;
	enum scep_failinfo	 failinfo;	/* POLICY_REFUSE */
	char			 text[320];	/* why: the failInfoText, or why pending */
	int			 renewal;	/* arrival: a renewal of the signer's certificate */
	int			 check_challenge; /* arrival: verdict holds only if the challenge
					   does: check it (consuming it) and decide again */
	const struct role	*role;		/* arrival: the role to record */
	const char		*ra;		/* arrival: the RA to record */
	const char		*challenge;	/* arrival: how it authenticated: "none",
						   "static", "one-time" or "renewal" */
	char			*differences;	/* arrival of a renewal: the RDNs and SANs it asks
						   for that the renewed certificate lacks
						   (names_added()), or NULL; caller frees */
};

/*
 * The one policy decision: FACTS in, *D out (D->differences malloc'd, free with
 * policy_decision_clear()). 1 decided, 0 error (D->text says what failed; the caller
 * answers as for an unavailable repository).
 */
int		 policy_decide(const struct config *, const struct policy_facts *,
		    struct policy_decision *d);
void		 policy_decision_clear(struct policy_decision *);

/* The role NAME names in the configuration, else ScepDefaultRole's. */
const struct role *policy_role(const struct config *, const char *name);
/* Whether certificates of ROLE copy the requested subjectAltName. */
int		 policy_keep_san(const struct config *, const struct role *);

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


/*
 * Check CHALLENGE (may be NULL). A one-time challenge is consumed by this call, so call it
 * last, with the repository lock held, right before the record is created.
 */
enum challenge_result policy_challenge(const struct config *, struct repo *,
		    const char *challenge);

/* Hex SHA-256 of a challenge secret: the name it is stored under. */
int		 challenge_hash(const char *secret, char out[65]);

#endif
