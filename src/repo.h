/*
 * The CA repository: a directory tree that is the database (see repo-layout/README.md).
 *
 *   <root>/ca/               CA certificate and key (owned by ca.c)
 *   <root>/pending/<id>      a request waiting for an administrator
 *   <root>/approved/<id>     approved, not yet issued (or issued and not yet published:
 *                            then it holds its certificate)
 *   <root>/issued/<id>       certificate issued
 *   <root>/rejected/<id>     rejected (kept so that a polling client learns it)
 *   <root>/certs/<SERIAL>.pem every issued certificate by serial (uppercase hex), after a
 *                            "record=<id>" line naming the record that holds it
 *   <root>/tmp/              staging area: files are written here, synced, then renamed
 *                            or linked into place (same filesystem)
 *   <root>/index.txt         OpenSSL `ca` compatible index (+ index.txt.attr)
 *   <root>/.lock             fcntl() lock file; never deleted
 *   <root>/bydn/<b>/<dnkey>.<SERIAL>  DN index: a hard link of certs/<SERIAL>.pem for each
 *                            valid certificate, <b> the first 3 digits of <dnkey>
 *   <root>/revoked/<SERIAL>  revocation marker: "<revdate>[,<reason>]\n" as in index.txt
 *   <root>/crlnumber         next CRL number, hex, OpenSSL format
 *   <root>/challenges/<hash> one-time challenge: hex SHA-256 of the secret -> "<expiry>\n"
 *   <root>/challenges/used/<hash>  consumed challenges (kept a day, then purged)
 * bydn/, revoked/ and challenges/ are created by repo_create() and, in repositories made
 * before they existed, on first use.
 *
 * <id> is 64 lowercase hex characters built only by repo_id(); a client string never
 * becomes a path component. A record is one file: "key=value" lines (values escaped with
 * log_escape rules, see struct record), then its blobs as "cert=", "csr=", "signer=" and
 * "request=" lines of base64: the issued certificate, the PKCS#10 request, the certificate
 * that signed the request, the pkiMessage as received (all DER). Serials are random (see
 * enroll.c); nothing counts them. Repository code does no CMS and never sees the CA key.
 *
 * Concurrency: every change of a state, a counter or an index happens with the repository
 * lock held (fcntl on .lock, which works across processes and over NFSv4), and only the
 * directory operations of a change: files are staged and synced before the lock is taken,
 * directories synced after it is released (the commit protocol of repo-layout/README.md).
 * Functions marked [locked] require the caller to hold it; the others take it themselves
 * when they need it, or read a snapshot, or change one name with one atomic create or
 * rename (the one-time challenges).
 *
 * The module is one header over files with one job each (repo_int.h holds what they
 * share, fileio.c the file primitives under them):
 *   repo.c            open, create, lock; record ids; state, path and serial names; find
 *   repo_record.c     records and their states: the record file, create, move, update, print
 *   repo_issue.c      issuing a certificate: stage, commit, publish
 *   repo_counter.c    the `crlnumber` counter
 *   repo_index.c      issued certificates: certs/, index.txt, the DN index
 *   repo_revoke.c     revocation and the list of revoked certificates for a CRL
 *   repo_challenge.c  one-time challenges
 *   repo_check.c      the consistency checker and its repairs
 *   repo_migrate.c    converting a repository of the older layout
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
#define REPO_LOCK_WAIT		30	/* seconds repo_lock() tries before it gives up */

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
	char		*differences;	/* a renewal: the RDNs and SANs it asks for that the
					   renewed certificate lacks, comma-separated
					   ("O=Other,DNS:www.example"; ',' inside one as \x2c) */
	time_t		 created;
	time_t		 updated;
	/* Blobs: the certificate always, the others by repo_record_load(..., with_blobs=1). */
	unsigned char	*csr_der;	size_t csr_len;
	unsigned char	*signer_der;	size_t signer_len;
	unsigned char	*cert_der;	size_t cert_len;
	unsigned char	*request_der;	size_t request_len;
	unsigned long long fid;		/* the file as loaded (its inode): repo_issue() */
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

/*
 * Cross-process lock over the whole repository. Not recursive. Waits at most
 * REPO_LOCK_WAIT seconds, never blocked in the kernel. 1 ok, 0 error (errno ETIMEDOUT:
 * another process held it all that time).
 */
int		 repo_lock(struct repo *);
void		 repo_unlock(struct repo *);

/*
 * The record id for a transaction: hex SHA-256 over REPO_ID_LABEL (NUL included), then
 * the kind "enroll" or, with RENEWAL_SERIAL, "renewal", the raw transactionID and for a
 * renewal the serial (hex) of the certificate that signed it, each field preceded by its
 * length as 4 bytes big-endian. No two transactions share an id, whatever bytes their
 * transactionIDs hold, and a renewal reusing an old transactionID (sscep) is a new record.
 */
#define REPO_ID_LABEL	"scep-record-id-v2"
void		 repo_id(char out[REPO_ID_LEN + 1], const unsigned char *txid, size_t len,
		    const char *renewal_serial);
/*
 * Which record holds the transaction (TXID, RENEWAL_SERIAL): its id into OUT and its state,
 * or RS_NONE with OUT set to repo_id(). Records made by versions before REPO_ID_LABEL are
 * named SHA-256(transactionID [|| 0x00 || serial]), which two transactions can share:
 * such a record is found only if its own transactionID and renewal_of are exactly these.
 * [locked or not: a snapshot]
 */
enum rstate	 repo_find_txn(struct repo *, const unsigned char *txid, size_t len,
		    const char *renewal_serial, char out[REPO_ID_LEN + 1]);
int		 repo_id_valid(const char *);	/* 64 lowercase hex */

/*
 * A certificate's serial number as the repository names it (upper-case hex, no leading
 * zeros, whole octets: certs/<SERIAL>.pem) into OUT, of REPO_SERIAL_MAX + 2 bytes. 0 if
 * it is negative or does not fit.
 */
int		 repo_serial_name(const ASN1_INTEGER *, char *out, size_t outlen);

/* Which state holds ID (RS_NONE if none). [locked or not: a snapshot] */
enum rstate	 repo_find(struct repo *, const char *id);
/*
 * Like repo_find() in one look at each state directory: without the lock it can miss a
 * record that moves during the look (repo_find() looks twice). For a caller that checks
 * a miss again under the lock (creating a record does).
 */
enum rstate	 repo_find_once(struct repo *, const char *id);

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
 * Create REC (its id, metadata and blobs) in state ST, durably: staged and synced, then,
 * under the lock (taken here: do not hold it), renamed into ST, and ST synced. Fails
 * (returns 0, errno EEXIST) if the id exists in any state. A record holding a certificate
 * is made by repo_issue(), never here.
 */
int		 repo_record_create(struct repo *, const struct record *, enum rstate st);

/* [locked] Move ID from state FROM to TO with rename(2). 0 if it is not in FROM. */
int		 repo_move(struct repo *, const char *id, enum rstate from, enum rstate to);

/*
 * [locked] Rewrite the record of ID (in whatever state it is) from REC; the blobs REC
 * does not hold are kept from the file.
 */
int		 repo_record_update(struct repo *, const struct record *);

/* ---- Issuing (repo_issue.c) -------------------------------------------------------- */

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
 * A last check run under the lock, right before a certificate is committed (the OpenCA
 * renewal rule, which must see every certificate committed before): 1 go on, 0 refuse,
 * -1 error.
 */
typedef int	 repo_gate_fn(struct repo *, const struct record *, void *arg);

#define REPO_REFUSED	(-1)	/* repo_issue(): the gate refused; nothing was written */
#define REPO_TAKEN	(-2)	/* certs/<SERIAL>.pem holds another certificate */

/*
 * Issue REC's certificate (REC->cert_der, described by CF) with the commit protocol of
 * repo-layout/README.md: stage (no lock), commit into approved/ (locked: the DN index
 * entry, the record), publish (certs/<SERIAL>.pem, then locked: the index.txt line, the
 * record into issued/), each step synced before the next. Do not hold the lock. FROM is
 * RS_NONE for a new record (errno EEXIST if its id is in any state) or RS_APPROVED for
 * REC as loaded from approved/ without a certificate (errno ESTALE if that file has
 * changed since: load it again). GATE (may be NULL) runs under the lock before the commit.
 * The record gets CF's serial. Returns 1 issued (the record in issued/, all durable),
 * REPO_REFUSED, REPO_TAKEN (committed: the record is in approved/ with a certificate
 * whose serial another certificate has; repo_issue_unwind() it and sign again), or 0
 * (errno set; the record may be committed: repo_issue_finish() publishes it).
 */
int		 repo_issue(struct repo *, const struct record *rec,
		    const struct repo_cert *cf, enum rstate from, repo_gate_fn *gate,
		    void *arg);
/*
 * Publish the certificate of a record committed in approved/ (an issue interrupted, or
 * under way in another process): 1 published (the record in issued/, all durable; also
 * when ID is in issued/ already), REPO_TAKEN as for repo_issue(), 0 error (errno ENOENT:
 * ID is not in approved/ or issued/; EINVAL: its record holds no certificate).
 */
int		 repo_issue_finish(struct repo *, const char *id);
/*
 * Withdraw the certificate of a record in approved/ whose serial is taken (REPO_TAKEN):
 * the record is rewritten without it and its DN index entry removed, so it can be signed
 * again. Takes the lock. Refused (errno EEXIST) when certs/<SERIAL>.pem is that very
 * certificate. 1 ok, 0 error.
 */
int		 repo_issue_unwind(struct repo *, const char *id);
/*
 * Make what an issue published durable: certs/, index.txt, issued/, approved/. For a
 * process that answers with a certificate another process may have published a moment
 * before. 1 ok, 0 error.
 */
int		 repo_sync_issued(struct repo *);

/* ---- Counters (repo_counter.c) ----------------------------------------------------- */

/*
 * [locked] The next CRL number: reads `crlnumber` (a missing file counts as "01"), writes
 * its successor atomically, returns the value as uppercase hex (even number of digits,
 * OpenSSL style) in out. Zero is a valid CRL number. 1 ok, 0 error.
 */
int		 repo_crlnumber_next(struct repo *, char *out, size_t outlen);

/* ---- Issued certificates and their indexes (repo_index.c) -------------------------- */

/* Read certs/<SERIAL>.pem as DER. SERIAL is validated (hex only). */
int		 repo_cert_by_serial(struct repo *, const char *serial,
		    unsigned char **der, size_t *len);

/*
 * The DN index key of a subject: lower-case hex of name_canon_digest() (names.h), a
 * SHA-256 over the canonical form X509_NAME_cmp() compares. Two subjects have the same
 * key when they are the same name, whatever string types, ASCII case or runs of blanks
 * spell it, so re-encoding a DN does not make it a new one. 1 ok, 0 error.
 */
int		 repo_dnkey(X509_NAME *, char out[REPO_DNKEY_MAX + 1]);
int		 repo_dnkey_valid(const char *);	/* 8..64 lower-case hex */

/*
 * DN index: bydn/<bucket>/<dnkey>.<SERIAL>, a hard link of the certificate for every
 * certificate with that subject that is not revoked, in one of 4096 buckets (the first
 * three digits of the key), so a lookup costs one read of a small directory whatever the
 * size of the repository. repo_issue() adds the entry when it commits (before the
 * certificate is published: a renewal counting under the lock sees every committed
 * certificate) and repo_revoke() removes it; repo_dn_add() (a link of certs/<SERIAL>.pem)
 * and repo_dn_remove() are idempotent. Entries of expired certificates stay until
 * repo_check(repair) prunes them, so a caller counting "valid certificates with this DN"
 * still checks each one's notAfter. 1 ok, 0 error (EINVAL for a malformed dnkey or
 * serial).
 */
int		 repo_dn_add(struct repo *, const char *dnkey, const char *serial);	/* [locked] */
int		 repo_dn_remove(struct repo *, const char *dnkey, const char *serial);	/* [locked] */
/*
 * The serials (normalized, ascending) listed under DNKEY; none is success (*n = 0). Free
 * the vector with strv_free() (fileio.h).
 */
int		 repo_dn_serials(struct repo *, const char *dnkey, char ***serials, size_t *n);
/*
 * The certificate of DN index entry DNKEY, SERIAL as DER (malloc'd): read through the
 * entry itself, so also a certificate committed and not yet in certs/. 0 with errno
 * ENOENT when there is no such entry, or when the record it names is in no state (a
 * commit killed between linking the entry and renaming its record: nothing was issued).
 */
int		 repo_dn_cert(struct repo *, const char *dnkey, const char *serial,
		    unsigned char **der, size_t *len);

/*
 * The id of the record that holds certificate SERIAL, from the "record=" line of
 * certs/<SERIAL>.pem. 1 ok, 0 error (ENOENT: no such certificate; EINVAL: no such line).
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
 * `openssl ca -revoke` form), and removes the DN index entry (its key computed from the
 * certificate). The certificate must be in certs/
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

/*
 * Convert a repository of the older layout (a record a directory of meta and .der files,
 * certs/<SERIAL>.id, bydn/<dnkey>/<SERIAL>): each record directory replaced by its record
 * file (reported as "migrate", repaired when converted), the .id files removed, then
 * repo_check(repair) for the rest (the certificates' record lines, the DN index). Safe to
 * run again after a crash or on a converted repository. Returns what repo_check()
 * returns, or the number of records left unconverted, or -1 if it could not run.
 */
int		 repo_migrate(struct repo *, repo_report_fn *report, void *arg);

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
