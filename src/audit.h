/*
 * The audit trail: <repository>/audit.log, one line per decision of the server and per
 * administrator action, appended and never rewritten. Each line is tab-separated
 * "key=value" fields (values escaped with log_escape(), so no tab or newline inside):
 *
 *   seq=N  time=ISO-8601 UTC  prog=scep|scep-admin  user=NAME[ sudo=NAME]  uid=N  event=WHAT
 *   [id=RECORD]  [serial=HEX]  [subject=DN]  [client=ADDR]  [detail=TEXT]
 *   prev=HASH  hash=HASH
 *
 * hash is the hex SHA-256 of the line's bytes before "\thash=" (so it covers prev), and
 * prev is the hash of the line before (64 zeros for the first). A modified line breaks its
 * own hash; a removed, inserted or reordered line breaks seq and prev of the next one. Only
 * cutting entries off the end goes unseen: keep the head hash that audit_verify() reports
 * somewhere else to detect that too.
 *
 * Writers lock audit.log itself (fcntl F_SETLKW, independent of the repository lock, so
 * callers may or may not hold that), read the last line, append the new line with one
 * write(2) on an O_APPEND descriptor, fsync it, and unlock: when audit_append() returns 1
 * the entry is durable.
 */
#ifndef AUDIT_H
#define AUDIT_H

#include <stddef.h>

#define AUDIT_FILE		"audit.log"
#define AUDIT_MAX_LINE		8192	/* bytes of one entry, newline included */
#define AUDIT_HASH_LEN		64	/* hex SHA-256 */

/* What one entry says; NULL fields are left out. */
struct audit_event {
	const char	*event;		/* "issued", "pending", "refused", "approve", ... */
	const char	*id;		/* record id */
	const char	*serial;	/* certificate serial */
	const char	*subject;	/* subject DN, OpenSSL oneline form */
	const char	*client;	/* the requester's address */
	const char	*detail;	/* reason or other facts, free text */
};

/*
 * Who writes: PROG ("scep", "scep-admin") and the real user of the process as it is
 * now (call it before any change of user). Without it, entries say prog=? and the user
 * of the moment.
 */
void	audit_init(const char *prog);

/* Append one entry to ROOT/audit.log (created 0640 if absent). 1 ok (durable), 0 error. */
int	audit_append(const char *root, const struct audit_event *, char *err, size_t errlen);

/*
 * Check the chain of ROOT/audit.log: 1 intact, with the number of entries in *ENTRIES and
 * the last hash in HEAD (64 zeros for an empty or absent log); 0 with ERR naming the first
 * bad line (and *ENTRIES the number of good entries before it).
 */
int	audit_verify(const char *root, size_t *entries, char head[AUDIT_HASH_LEN + 1],
	    char *err, size_t errlen);

#endif
