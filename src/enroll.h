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
 * allocate a serial, sign with the CA, store certs/<SERIAL>.pem, the record's cert.der,
 * the index line, and rename approved/ID -> issued/ID. If ID is already issued (somebody
 * else won the race), just load that certificate. Returns the issued cert in *out (caller
 * frees) and 1; 0 on error (err set) or if ID is pending/rejected/absent.
 */
int	 enroll_issue(struct repo *, struct ca *, const struct config *, const char *id,
	    X509 **out, char *err, size_t errlen);

/* Load the issued certificate of a record in issued/ (X509, caller frees), or NULL. */
X509	*enroll_issued_cert(struct repo *, const char *id);

#endif
