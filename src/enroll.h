/*
 * enroll: the state transitions that need both the repository and the CA, shared by the
 * server and scep-admin. Protocol-free.
 */
#ifndef ENROLL_H
#define ENROLL_H

#include <openssl/x509.h>
#include "repo.h"

struct ca;
struct config;

/* What enroll_create() did. */
enum enroll_result {
	ENROLL_ERROR = 0,	/* nothing done, or the record is stored and approved (err set) */
	ENROLL_PENDING,		/* stored in pending/ */
	ENROLL_ISSUED,		/* issued: *out is the certificate */
	ENROLL_EXISTS,		/* the id exists already (a concurrent resubmission) */
	ENROLL_REFUSED		/* a renewal refused at issue time (err set: the reason) */
};

/*
 * Store REC, the record of a new transaction: in pending/ unless ISSUE, else issued at
 * once: signed with a new random serial (REQ is the CSR as parsed, or NULL to read REC's
 * csr_der), then committed and published by repo_issue(), all durable before this
 * returns. A renewal (REC->renewal_of set) is decided again under the repository lock
 * (policy_decide(), STAGE_ISSUE; CF required): refused (err holds the reason) when the
 * certificate it renews is revoked or POLICY_MAX_VALID_PER_DN valid certificates with its
 * subject exist; nothing is stored then. REC is not changed. Takes the lock itself.
 */
enum enroll_result enroll_create(struct repo *, struct ca *, const struct config *,
	    const struct record *rec, X509_REQ *req, int issue, X509 **out, char *err,
	    size_t errlen);

/*
 * Issue the certificate for record ID. If ID is in approved/: signed with a new random
 * serial (the record's role, or ScepDefaultRole when unset or not in the config), then
 * committed and published (repo_issue()); a certificate committed before and not published
 * (an interrupted issue) is published, not signed again. If ID is already issued
 * (somebody else won the race), that certificate, made durable. A renewal (renewal_of
 * set) is decided again under the lock, as for enroll_create(): when refused, the record
 * moves approved -> rejected with the reason.
 * Returns 1 with the issued cert in *out (caller frees); 0 on error (err set) or if ID is
 * pending/rejected/absent; -1 when refused by policy (err set, record now rejected).
 * Callers treat anything but 1 as "not issued". ERR is one sentence naming the record
 * (errf()); the caller reports it.
 */
int	 enroll_issue(struct repo *, struct ca *, const struct config *, const char *id,
	    X509 **out, char *err, size_t errlen);

/*
 * Through the DN index: in *count the certificates with subject NAME (X509_NAME_cmp)
 * that are neither revoked nor expired, and in *key_certified (if not NULL) whether one
 * of them holds KEY (if not NULL). Locking and errors as enroll_valid_certs_for_dn().
 */
int	 enroll_dn_facts(struct repo *, X509_NAME *name, EVP_PKEY *key, int *count,
	    int *key_certified);

/*
 * Count, through the DN index, the certificates with subject NAME (X509_NAME_cmp) that
 * are neither revoked nor expired, committed ones not yet published included. Takes no
 * lock: call it with or without the repository lock held. Index entries that are
 * unreadable are skipped (and logged; `scep-admin check` reports them). 1 ok with *count
 * set, 0 error.
 */
int	 enroll_valid_certs_for_dn(struct repo *, X509_NAME *name, int *count);

/*
 * Decide a stored request ID again (policy_decide(), STAGE_STORED), as on every poll: a
 * pending or approved renewal whose certificate has been revoked since moves to
 * rejected/ with the reason. 1 it stays, 0 rejected now, -1 error (err set).
 */
int	 enroll_recheck(struct repo *, const struct config *, const char *id, char *err,
	    size_t errlen);

/* Load the issued certificate of a record in issued/ (X509, caller frees), or NULL. */
X509	*enroll_issued_cert(struct repo *, const char *id);

#endif
