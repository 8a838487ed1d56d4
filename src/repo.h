/*
 * The CA repository: a directory tree that is the database (see repo-layout/README.md).
 *
 *   <root>/ca/               CA certificate and key (owned by ca.c)
 *   <root>/pending/<id>/     a request waiting for an administrator
 *   <root>/approved/<id>/    approved, not yet issued
 *   <root>/issued/<id>/      certificate issued
 *   <root>/rejected/<id>/    rejected (kept so that a polling client learns it)
 *   <root>/certs/<SERIAL>.pem every issued certificate by serial (uppercase hex)
 *   <root>/tmp/              staging area for atomic creation (same filesystem)
 *   <root>/index.txt         OpenSSL `ca` compatible index (+ index.txt.attr)
 *   <root>/serial            next serial, hex, OpenSSL format
 *   <root>/.lock             fcntl() lock file; never deleted
 *   <root>/certs/<SERIAL>.id "<record id>\n<dnkey>\n": which record holds the cert, and
 *                            the DN index key of its subject (so revocation finds it)
 *   <root>/bydn/<dnkey>/<SERIAL>  DN index: one empty file per valid certificate
 *   <root>/revoked/<SERIAL>  revocation marker: "<revdate>[,<reason>]\n" as in index.txt
 *   <root>/crlnumber         next CRL number, hex, OpenSSL format
 *   <root>/challenges/<hash> one-time challenge: hex SHA-256 of the secret -> "<expiry>\n"
 *   <root>/challenges/used/<hash>  consumed challenges (kept a day, then purged)
 * bydn/, revoked/ and challenges/ are created by repo_create() and, in repositories made
 * before they existed, on first use.
 *
 * <id> is 64 lowercase hex characters built only by repo_id(); a client string never
 * becomes a path component. A record is a directory holding:
 *   meta        "key=value" lines (values escaped with log_escape rules), see struct record
 *   request.der the pkiMessage as received
 *   csr.der     the PKCS#10 request (DER)
 *   signer.der  the certificate that signed the request (DER)
 *   cert.der    the issued certificate (DER): written in approved/, then moved to issued/
 * Repository code does no CMS and never sees the CA key.
 *
 * Concurrency: every change to a record, a counter or an index (record creation, state
 * change, serial allocation, index append, meta rewrite, revocation) happens with the
 * repository lock held (fcntl F_SETLKW on .lock, which works across processes and over
 * NFSv4). Functions marked [locked] require the caller to hold it. Of the others,
 * repo_check() takes it itself; the rest read a snapshot, or change one name with one
 * atomic create or rename (the one-time challenges). Files are written to a temp name in
 * the same directory, fsynced, renamed, and the directory fsynced (fileio.h).
 *
 * The module is one header over files with one job each (repo_int.h holds what they
 * share, fileio.c the file primitives under them):
 *   repo.c            open, create, lock; record ids; state, path and serial names; find
 *   repo_record.c     records and their states: meta, blobs, create, move, update, print
 *   repo_counter.c    the `serial` and `crlnumber` counters
 *   repo_index.c      issued certificates: certs/, index.txt, the DN index, store
 *   repo_revoke.c     revocation and the list of revoked certificates for a CRL
 *   repo_challenge.c  one-time challenges
 *   repo_check.c      the consistency checker and its repairs
 * The sections below follow the same order.
 */
#ifndef REPO_H
#define REPO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <openssl/types.h>	/* X509, X509_NAME, ASN1_INTEGER */

#include "scep.h"

enum rstate { RS_NONE = -1, RS_PENDING = 0, RS_APPROVED, RS_ISSUED, RS_REJECTED, RS_COUNT };

struct repo;	/* opaque: root path and lock fd */

/*
 * File names are built only from validated strings: record ids and challenge hashes
 * (64 lower-case hex digits), serials (hex, normalized to upper case, whole octets) and
 * DN keys (lower-case hex).
 */
#define REPO_SERIAL_MAX		64	/* hex digits of a normalized serial */
#define REPO_DNKEY_MIN		8	/* a dnkey is 8..64 lower-case hex digits */
#define REPO_DNKEY_MAX		64
#define REPO_CHALLENGE_KEEP	86400	/* seconds a consumed challenge stays in used/ */

/* What a record says about itself; every string is owned by the struct (NULL if unset). */
struct record {
	char		 id[REPO_ID_LEN + 1];
	enum rstate	 state;
	unsigned char	*txid;		/* raw transactionID bytes as received */
	size_t		 txid_len;
	int		 msgtype;	/* messageType of the request that created it */
	char		*subject;	/* requested subject, OpenSSL oneline form "/CN=x/O=y" */
	char		*key_fp;	/* hex SHA-256 of the CSR's SubjectPublicKeyInfo (DER) */
	char		*signer_fp;	/* hex SHA-256 of the signer cert's SubjectPublicKeyInfo */
	char		*digest;	/* request digest short name, e.g. "SHA256" */
	char		*cipher;	/* request content cipher short name, e.g. "AES-128-CBC" */
	char		*client;	/* client address */
	char		*challenge;	/* "valid", "none" (never the secret itself) */
	char		*role;
	char		*ra;
	char		*serial;	/* uppercase hex, once issued */
	char		*reason;	/* rejection reason */
	char		*renewal_of;	/* serial of the signer cert for a renewal */
	time_t		 created;
	time_t		 updated;
	/* Blobs, loaded on demand by repo_record_load(..., with_blobs=1). */
	unsigned char	*csr_der;	size_t csr_len;
	unsigned char	*signer_der;	size_t signer_len;
	unsigned char	*cert_der;	size_t cert_len;
	unsigned char	*request_der;	size_t request_len;
};

/* ---- Opening, locking, ids, states (repo.c) ---------------------------------------- */

/*
 * Open the repository at ROOT (must exist and contain the state directories).
 * repo_create() makes the directory skeleton (mode 0750) and the counter files if missing.
 */
struct repo	*repo_open(const char *root, char *err, size_t errlen);
int		 repo_create(const char *root, char *err, size_t errlen);
void		 repo_close(struct repo *);
const char	*repo_root(const struct repo *);

/* Cross-process lock over the whole repository. Not recursive. 1 ok, 0 error. */
int		 repo_lock(struct repo *);
void		 repo_unlock(struct repo *);

/*
 * The record id for a transaction: hex SHA-256 over the raw transactionID, followed,
 * for a renewal, by a 0 byte and the serial (hex) of the certificate that signed it,
 * so that a renewal reusing an old transactionID (sscep) is a new record.
 */
void		 repo_id(char out[REPO_ID_LEN + 1], const unsigned char *txid, size_t len,
		    const char *renewal_serial);
int		 repo_id_valid(const char *);	/* 64 lowercase hex */

/*
 * A certificate's serial number as the repository names it (upper-case hex, no leading
 * zeros, whole octets: certs/<SERIAL>.pem) into OUT, of REPO_SERIAL_MAX + 2 bytes. 0 if
 * it is negative or does not fit.
 */
int		 repo_serial_name(const ASN1_INTEGER *, char *out, size_t outlen);

/* Which state holds ID (RS_NONE if none). [locked or not: a snapshot] */
enum rstate	 repo_find(struct repo *, const char *id);

const char	*rstate_name(enum rstate);		/* "pending", ... */
enum rstate	 rstate_from_name(const char *);	/* RS_NONE if unknown */

/*
 * Iterate the ids in state ST (names of the wrong shape are skipped), calling fn for each
 * until it returns non-zero. Returns 0, or what fn returned.
 */
int		 repo_foreach(struct repo *, enum rstate st,
		    int (*fn)(const char *id, void *arg), void *arg);

/* ---- Records and states (repo_record.c) -------------------------------------------- */

/* Load a record; blobs too if with_blobs. NULL if absent or unreadable. */
struct record	*repo_record_load(struct repo *, const char *id, int with_blobs);
void		 record_free(struct record *);
/* Human-readable dump ("key: value" lines): what scep-admin show prints. */
void		 record_print(const struct record *, FILE *);

/*
 * [locked] Create REC (its id, metadata and csr/signer/request blobs) in state ST.
 * Fails (returns 0, errno EEXIST) if the id exists in any state.
 */
int		 repo_record_create(struct repo *, const struct record *, enum rstate st);

/* [locked] Move ID from state FROM to TO with rename(2). 0 if it is not in FROM. */
int		 repo_move(struct repo *, const char *id, enum rstate from, enum rstate to);

/* [locked] Rewrite the meta file of ID (in whatever state it is) from REC. */
int		 repo_record_update(struct repo *, const struct record *);

/* ---- Counters (repo_counter.c) ----------------------------------------------------- */

/*
 * [locked] Allocate the next serial: reads `serial`, writes serial+1 atomically, returns
 * the allocated value as uppercase hex (even number of digits, OpenSSL style) in out.
 */
int		 repo_serial_next(struct repo *, char *out, size_t outlen);

/*
 * [locked] Like repo_serial_next() over `crlnumber`; a missing file counts as "01". Zero is
 * a valid CRL number. 1 ok, 0 error.
 */
int		 repo_crlnumber_next(struct repo *, char *out, size_t outlen);

/* ---- Issued certificates and their indexes (repo_index.c) -------------------------- */

/*
 * What the repository records about an issued certificate, taken from it once, where it is
 * signed, by repo_cert_facts(): its serial as the repository names it, its subject in
 * OpenSSL's oneline form (index.txt's), the DN index key of the subject, its notAfter.
 * repo_cert_facts() returns 1, or 0 leaving OpenSSL's error queue to the caller.
 */
struct repo_cert {
	char	 serial[REPO_SERIAL_MAX + 2];	/* normalized upper-case hex */
	char	 dnkey[REPO_DNKEY_MAX + 1];
	char	*subject;			/* "/CN=x/O=y", printable ASCII */
	time_t	 not_after;
};
int		 repo_cert_facts(X509 *, struct repo_cert *);
void		 repo_cert_facts_free(struct repo_cert *);

/*
 * [locked] Store the issued certificate DER, described by CERT: the record's cert.der,
 * certs/<SERIAL>.pem, certs/<SERIAL>.id, the DN index entry (unless the serial is
 * revoked), the index.txt line ("V", expiry, serial, subject) and, last, the serial in the
 * record's meta, so that a meta holding a serial means all the rest is there. Calling it
 * again for the same certificate finishes an interrupted store (no second index line);
 * certs/<SERIAL>.pem is never replaced by another certificate (errno EEXIST). Does not
 * move the record: the caller then moves approved -> issued.
 */
int		 repo_store_cert(struct repo *, const char *id, const unsigned char *der,
		    size_t derlen, const struct repo_cert *cert);

/* Read certs/<SERIAL>.pem as DER. SERIAL is validated (hex only). */
int		 repo_cert_by_serial(struct repo *, const char *serial,
		    unsigned char **der, size_t *len);

/*
 * The DN index key of a subject: lower-case hex SHA-256 of the DER encoding of NAME as
 * i2d_X509_NAME() produces it. OpenSSL keeps the encoding a name was parsed from, so this
 * is the received encoding, byte for byte: two certificates have the same key exactly when
 * their subjects are byte-identical DER. That is what "same DN" means for certificates we
 * issue (ca.c copies the subject of the CSR unchanged). No string-type or case folding is
 * done: a client that re-encodes its own DN differently gets a different key. 1 ok, 0 error.
 */
int		 repo_dnkey(X509_NAME *, char out[REPO_DNKEY_MAX + 1]);
int		 repo_dnkey_valid(const char *);	/* 8..64 lower-case hex */

/*
 * DN index: bydn/<dnkey>/<SERIAL>, one empty file per non-revoked certificate with that
 * subject, so a lookup costs one directory read whatever the size of the repository.
 * repo_store_cert() adds the entry and repo_revoke() removes it; repo_dn_add() and
 * repo_dn_remove() are idempotent (adding an existing or removing a missing entry is
 * success). Entries of expired certificates stay until repo_check(repair) prunes them, so a
 * caller counting "valid certificates with this DN" still checks each one's notAfter.
 * 1 ok, 0 error (EINVAL for a malformed dnkey or serial).
 */
int		 repo_dn_add(struct repo *, const char *dnkey, const char *serial);	/* [locked] */
int		 repo_dn_remove(struct repo *, const char *dnkey, const char *serial);	/* [locked] */
/*
 * The serials (normalized, ascending) listed under DNKEY; none is success (*n = 0). Free
 * the vector with strv_free() (fileio.h).
 */
int		 repo_dn_serials(struct repo *, const char *dnkey, char ***serials, size_t *n);

/*
 * The id of the record that holds certificate SERIAL, from certs/<SERIAL>.id.
 * 1 ok, 0 error (ENOENT: no such certificate or no .id file).
 */
int		 repo_record_by_serial(struct repo *, const char *serial,
		    char id[REPO_ID_LEN + 1]);

/* ---- Revocation (repo_revoke.c) ---------------------------------------------------- */

/*
 * CRLReason codes (RFC 5280 §5.3.1) that `openssl ca` can write in index.txt: 0..6 and 8.
 * -1 means "no reason" (no reasonCode extension). The names are OpenSSL's.
 */
#define REPO_REASON_NONE	(-1)
const char	*repo_reason_name(int reason);		/* NULL if not supported */
int		 repo_reason_from_name(const char *);	/* -1 if unknown */

/*
 * [locked] Revoke SERIAL at WHEN (1950..2049: index.txt uses UTCTime) for REASON: writes
 * revoked/<SERIAL>, rewrites index.txt with the line turned into
 * "R<TAB>expiry<TAB>YYMMDDHHMMSSZ[,reason]<TAB>SERIAL<TAB>unknown<TAB>subject" (the
 * `openssl ca -revoke` form), and removes the DN index entry (its key is read from
 * certs/<SERIAL>.id, or computed from the certificate). The certificate must be in certs/
 * and have a V (or E, expired) line in index.txt. 1 ok; 0 with errno ENOENT (unknown
 * serial), EALREADY (already revoked), EINVAL (bad serial, reason or time), or an I/O error.
 */
int		 repo_revoke(struct repo *, const char *serial, int reason, time_t when);

/* 1 if revoked/<SERIAL> exists, 0 if not, -1 on a malformed serial or an I/O error. */
int		 repo_is_revoked(struct repo *, const char *serial);

struct revoked {
	char	serial[REPO_SERIAL_MAX + 1];	/* normalized upper-case hex */
	time_t	when;				/* revocation date */
	int	reason;				/* CRLReason code, or REPO_REASON_NONE */
};

/*
 * Every revoked certificate, for a CRL: the R lines of index.txt, plus any revoked/ marker
 * whose index line is not R yet (an interrupted repo_revoke(); revocation errs on the side
 * of listing). Sorted by serial. 1 ok (*list NULL when *n is 0), 0 error (EINVAL when an
 * R line's date is unreadable: run repo_check). Free with repo_revoked_free().
 */
int		 repo_revoked_list(struct repo *, struct revoked **list, size_t *n);
void		 repo_revoked_free(struct revoked *);

/* ---- One-time challenges (repo_challenge.c) ---------------------------------------- */

/*
 * One-time challenges. HASH_HEX is the lower-case hex SHA-256 (64 digits) of the secret,
 * computed by the caller; the secret itself is never stored.
 * repo_challenge_add(): create challenges/<hash> holding EXPIRES (Unix seconds) with an
 * exclusive create, so no lock is needed. 1 ok, 0 error (EEXIST: already pending, or used
 * within the last REPO_CHALLENGE_KEEP seconds).
 * repo_challenge_consume(): rename(2) challenges/<hash> to challenges/used/<hash>; of any
 * number of processes presenting the same challenge, only the one whose rename succeeds
 * can win. Then the expiry is read from the renamed file. Returns 1 valid and consumed,
 * 0 unknown or already used (errno ENOENT) or an error, -1 expired (consumed and removed).
 * A challenge is valid while now <= expiry.
 * repo_challenge_purge(): remove expired challenges and used ones consumed more than
 * REPO_CHALLENGE_KEEP seconds before NOW. Returns the number removed, -1 on error.
 */
int		 repo_challenge_add(struct repo *, const char *hash_hex, time_t expires);
int		 repo_challenge_consume(struct repo *, const char *hash_hex, time_t now);
int		 repo_challenge_purge(struct repo *, time_t now);

/* ---- The checker (repo_check.c) ---------------------------------------------------- */

/*
 * Repository checker. Takes the repository lock for the whole run (do not hold it when
 * calling). Each violation is passed to REPORT (may be NULL) with a stable code WHAT, a
 * human-readable DETAIL naming the file or serial, and REPAIRED (1 if this run fixed it).
 * Returns the number of violations left unrepaired (0 = clean), -1 if the check could not
 * run. Codes:
 *   stray-temp         tmp/ entry or .tmp-* file (older than 5 minutes) left by a crash
 *   bad-name           a name of the wrong shape in a repository directory (left alone)
 *   dup-state          one id in two state directories (left alone)
 *   bad-record         a record whose meta does not load (left alone)
 *   issued-no-cert     issued record without cert.der/serial, or whose certs/<SERIAL>.pem
 *                      is missing (restored from cert.der) or a different certificate
 *   approved-has-cert  approved record already holding its stored certificate (moved to
 *                      issued/: a crash between storing and the rename)
 *   bad-cert           certs/<SERIAL>.pem unparsable or with another serial (left alone;
 *                      index.txt is then not rebuilt)
 *   cert-id            certs/<SERIAL>.id missing, malformed or wrong (rewritten)
 *   cert-no-index      certificate without an index.txt line
 *   index-no-cert      index.txt line without a certificate (dropped; an R line is kept
 *                      and stays reported, since dropping it would unrevoke)
 *   index-mismatch     malformed or duplicate line, or subject/expiry differing from the
 *                      certificate
 *   revoked-marker     revoked/ marker and index.txt status disagree (revocation wins)
 *   serial-behind      `serial` not above every serial in use (set to max + 1)
 *   dn-index           DN index entry missing, or present for a revoked/unknown cert
 *   dn-expired         DN index entry of an expired certificate: not a violation, only
 *                      reported (repaired) when repair prunes it
 * Index problems are repaired by rebuilding index.txt from certs/ (sorted by serial,
 * revocation dates and reasons kept from the old index or the revoked/ markers).
 */
typedef void	 repo_report_fn(const char *what, const char *detail, int repaired,
		    void *arg);
int		 repo_check(struct repo *, int repair, repo_report_fn *report, void *arg);

/* A REPORT callback collecting the issues: pass a zeroed struct repo_issue_report. */
struct repo_issue {
	char	*what;
	char	*detail;
	int	 repaired;
};
struct repo_issue_report {
	struct repo_issue	*v;
	size_t			 n;
	size_t			 unrepaired;
};
void		 repo_issue_collect(const char *what, const char *detail, int repaired,
		    void *arg);
void		 repo_issue_report_free(struct repo_issue_report *);

#endif
