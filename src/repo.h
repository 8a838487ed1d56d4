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
 *
 * <id> is 64 lowercase hex characters built only by repo_id(); a client string never
 * becomes a path component. A record is a directory holding:
 *   meta        "key=value" lines (values escaped with log_escape rules), see struct record
 *   request.der the pkiMessage as received
 *   csr.der     the PKCS#10 request (DER)
 *   signer.der  the certificate that signed the request (DER)
 *   cert.der    the issued certificate (DER), in issued/ only
 * Repository code does no CMS and never sees the CA key.
 *
 * Concurrency: every mutation (record creation, state change, serial allocation, index
 * append, meta rewrite) happens with the repository lock held (fcntl F_SETLKW on .lock, which
 * works across processes and over NFSv4). Functions marked [locked] require the caller to
 * hold it; the others take it themselves. Files are written to a temp name in the same
 * directory, fsynced, renamed, and the directory fsynced.
 */
#ifndef REPO_H
#define REPO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "scep.h"

enum rstate { RS_NONE = -1, RS_PENDING = 0, RS_APPROVED, RS_ISSUED, RS_REJECTED, RS_COUNT };

struct repo;	/* opaque: root path and lock fd */

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

const char	*rstate_name(enum rstate);		/* "pending", ... */
enum rstate	 rstate_from_name(const char *);	/* RS_NONE if unknown */

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

/* Which state holds ID (RS_NONE if none). [locked or not: a snapshot] */
enum rstate	 repo_find(struct repo *, const char *id);

/* Load a record; blobs too if with_blobs. NULL if absent or unreadable. */
struct record	*repo_record_load(struct repo *, const char *id, int with_blobs);
void		 record_free(struct record *);
/* Human-readable dump ("key: value" lines), used by scep-admin show and the logs. */
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

/*
 * [locked] Allocate the next serial: reads `serial`, writes serial+1 atomically, returns
 * the allocated value as uppercase hex (even number of digits, OpenSSL style) in out.
 */
int		 repo_serial_next(struct repo *, char *out, size_t outlen);

/*
 * [locked] Store an issued certificate: certs/<SERIAL>.pem, cert.der in the record of ID,
 * the serial in its meta, and the index.txt line ("V", expiry, serial, subject).
 * Does not move the record; the caller then moves approved -> issued.
 */
int		 repo_store_cert(struct repo *, const char *id, const char *serial,
		    const unsigned char *der, size_t derlen, time_t not_after,
		    const char *subject_oneline);

/* Read certs/<SERIAL>.pem as DER. SERIAL is validated (hex only). */
int		 repo_cert_by_serial(struct repo *, const char *serial,
		    unsigned char **der, size_t *len);

/*
 * Iterate the ids in state ST (names of the wrong shape are skipped), calling fn for each
 * until it returns non-zero. Returns 0, or what fn returned.
 */
int		 repo_foreach(struct repo *, enum rstate st,
		    int (*fn)(const char *id, void *arg), void *arg);

/* Atomically write a whole file in the repository (temp, fsync, rename, fsync dir). */
int		 repo_write_file(const char *path, const void *buf, size_t len, int mode);
int		 repo_read_file(const char *path, unsigned char **buf, size_t *len, size_t max);

#endif
