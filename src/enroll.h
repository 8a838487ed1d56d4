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

/*
 * Issue the certificate for record ID. Under the repository lock: if ID is in approved/,
 * allocate a serial, sign with the CA using the record's role (record role unset or not in
 * the config: ScepDefaultRole), store certs/<SERIAL>.pem, the record's cert.der, the index
 * line and the DN index entry, and rename approved/ID -> issued/ID. If ID is already issued
 * (somebody else won the race), just load that certificate.
 * A renewal (renewal_of set) is decided again first (policy_decide(), STAGE_ISSUE; CF
 * required): refused when the certificate it renews is revoked or POLICY_MAX_VALID_PER_DN
 * valid certificates with its subject exist already, the record moving approved ->
 * rejected with the reason.
 * Returns 1 with the issued cert in *out (caller frees); 0 on error (err set) or if ID is
 * pending/rejected/absent; -1 when refused by policy (err set, record now rejected).
 * Callers treat anything but 1 as "not issued". ERR is one sentence naming the record
 * (errf()); the caller reports it.
 */
int	 enroll_issue(struct repo *, struct ca *, const struct config *, const char *id,
	    X509 **out, char *err, size_t errlen);

/*
 * enroll_issue() for a record whose CSR the caller holds already parsed, with its
 * self-signature verified (the request that created the record): CSR is used instead of
 * parsing and verifying csr.der again when it encodes to the same bytes. CSR NULL: the same
 * as enroll_issue().
 */
int	 enroll_issue_csr(struct repo *, struct ca *, const struct config *, const char *id,
	    X509_REQ *csr, X509 **out, char *err, size_t errlen);

/*
 * Through the DN index: in *count the certificates with subject NAME (X509_NAME_cmp)
 * that are neither revoked nor expired, and in *key_certified (if not NULL) whether one
 * of them holds KEY (if not NULL). Locking and errors as enroll_valid_certs_for_dn().
 */
int	 enroll_dn_facts(struct repo *, X509_NAME *name, EVP_PKEY *key, int *count,
	    int *key_certified);

/*
 * Count, through the DN index, the certificates with subject NAME (X509_NAME_cmp) that
 * are neither revoked nor expired. Takes no lock: call it with or without the repository
 * lock held. Index entries whose certificate is missing or unreadable are skipped (and
 * logged; `scep-admin check` reports them). 1 ok with *count set, 0 error.
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
