/*
 * What the files of the repository module (src/repo*.c) share and nothing else sees: the
 * struct behind struct repo and its open directories, the limits on what is read back, the
 * record file format, the index.txt parser, and the helpers that build names from
 * validated strings.
 */
#ifndef REPO_INT_H
#define REPO_INT_H

#include <sys/types.h>

#include <stddef.h>
#include <time.h>

#include "fileio.h"
#include "repo.h"

/*
 * Limits on what we read back. Every one of these files is written by this module, so a
 * larger one is corruption or tampering, not a client being creative.
 */
#define MAX_RECORD	(2 * 1024 * 1024) /* a record file: meta and base64 blobs */
#define MAX_BLOB	(1024 * 1024)	/* a blob of a record, decoded; a certs/ file */
#define MAX_COUNTER	1024		/* the crlnumber file */
#define MAX_SERIAL_HEX	REPO_SERIAL_MAX	/* hex digits of a serial (32 octets; RFC 5280: 20) */
#define MAX_INDEX	(512 * 1024 * 1024) /* index.txt: ~100 bytes a certificate */
#define MAX_SMALL	4096		/* revoked/ markers, challenges */
#define STRAY_GRACE	300		/* a staged or .tmp-* file younger than this may be in use */
#define LOAD_RETRIES	3		/* a record moving while repo_record_load() reads it */
#define LOCK_PAUSE_MIN_US 50		/* repo_lock(): first pause between two tries */
#define LOCK_PAUSE_MAX_US 5000		/* ... doubling up to this */

#define DIR_MODE	0750
#define CA_DIR_MODE	0700
#define FILE_MODE	0640

/* The directories struct repo keeps open (bydn/ is opened on first use). */
enum rdir {
	RD_PENDING = RS_PENDING, RD_APPROVED = RS_APPROVED, RD_ISSUED = RS_ISSUED,
	RD_REJECTED = RS_REJECTED, RD_ROOT, RD_CERTS, RD_TMP, RD_BYDN, RD_COUNT
};

struct repo {
	char	*root;
	int	 lockfd;	/* <root>/.lock, opened once: closing any fd on it drops the lock */
	int	 dfd[RD_COUNT];	/* the directories, -1 until opened */
};

extern const char *const state_dirs[RS_COUNT];

/*
 * Staged files live in tmp/ under these prefixes until they are renamed or linked into
 * place; anything left there by a crash is removed by repo_check() once STRAY_GRACE old.
 */
#define STAGE_RECORD	"rec-"
#define STAGE_CERT	"crt-"
#define STAGE_NAME_MAX	32

/*
 * The DN index: bydn/<first DN_BUCKET hex digits of the key>/<dnkey>.<SERIAL>, each entry
 * a hard link of the certificate's certs/<SERIAL>.pem.
 */
#define DN_BUCKET	3

#define IDX_NF	6	/* status, expiry, revocation, serial, file name, subject */

struct ientry {
	const char	*raw;			/* the line in index.txt, without '\n' */
	size_t		 rawlen;
	char		*f[IDX_NF];		/* fields, in index.split; set only if ok */
	char		 sn[MAX_SERIAL_HEX + 2];	/* normalized serial if ok */
	int		 ok;			/* 6 fields, status V/R/E, hex serial */
};

struct index {
	unsigned char	*text;		/* index.txt as read, NUL-terminated */
	char		*split;		/* a copy cut into fields */
	size_t		 len;
	struct ientry	*e;
	size_t		 n;
};

/*
 * fileio.h as the repository uses it: files get FILE_MODE and a failure is logged here, in
 * one line naming the path and the cause, since the repository's functions report through
 * errno and the log; errno is kept. Not logged, being answers rather than failures: ENOENT
 * from get_file() and list_dir(), EEXIST from put_file() with EXCL (create_file()).
 * drop_dir() removes a flat directory, logging a failure as a warning.
 */
int	put_file(const char *path, const void *buf, size_t len, int excl);
int	get_file(const char *path, unsigned char **buf, size_t *len, size_t max);
int	sync_dir(const char *dir);
int	list_dir(const char *dir, int (*ok)(const char *), char ***names, size_t *n);
void	drop_dir(const char *dir);
/* sync_all() of N requests, a failure logged with WHAT. */
int	sync_logged(const struct sync_req *req, size_t n, const char *what);

/* repo.c */
int	lower_hex(const char *s, size_t min, size_t max);
int	state_ok(enum rstate st);
int	rec_path(const struct repo *r, char *buf, size_t len, enum rstate st,
	    const char *id);
int	serial_normalize(const char *in, char *out, size_t outlen);
int	serial_name_ok(const char *s);
int	serial_path(const struct repo *r, char *buf, size_t len, const char *dir,
	    const char *serial, const char *suffix);
int	cert_path(const struct repo *r, char *buf, size_t len, const char *serial);
int	serial_cmp(const char *a, const char *b);
int	serial_cmp_p(const void *a, const void *b);
int	ensure_dir(struct repo *r, const char *a, const char *b);
/* The open directory D (opening bydn/, made if missing, on first use); -1 on error. */
int	repo_dfd(struct repo *r, enum rdir d);
/* Which state holds ID, one pass over the state directories (for lock holders). */
enum rstate find_once(struct repo *r, const char *id);

/* repo_record.c */
int	parse_ll(const char *s, long long min, long long max, long long *v);
/*
 * The text of a record file for REC, with the given times: "key=value" lines, then the
 * blobs REC holds as "cert=", "csr=", "signer=", "request=" lines of base64.
 */
int	record_text(const struct record *rec, time_t created, time_t updated, char **out,
	    size_t *outlen);
/* The record ID as it is in state ST. NULL and errno ENOENT if it is not there. */
struct record *record_read(struct repo *r, const char *id, enum rstate st, int with_blobs);
/* Parse the text of record file ID; blobs decoded if WITH_BLOBS (the cert always). */
struct record *record_parse(const char *id, const char *buf, size_t len, int with_blobs);
/* [locked] Write REC (its blobs as given) over its file in state ST: stage, sync, rename. */
int	record_rewrite(struct repo *r, const struct record *rec, enum rstate st, int dirsync);
/*
 * Stage TEXT as a new file in tmp/ (prefix PREFIX) and sync its data: NAME gets the name.
 * 1 ok, 0 error (logged, nothing left behind).
 */
int	stage_file(struct repo *r, const char *prefix, const void *text, size_t len,
	    char name[STAGE_NAME_MAX]);
void	unstage(struct repo *r, const char *name);

/* repo_counter.c */
int	counter_value(unsigned char *buf, size_t len, char cur[MAX_SERIAL_HEX + 2]);

/* repo_index.c */
int	index_time(char *buf, size_t len, time_t t);
int	index_subject_ok(const char *s);
void	index_free(struct index *ix);
int	index_load(struct repo *r, struct index *ix);
/* The index.txt line of a certificate, malloc'd. */
char	*index_line(const struct repo_cert *cf);
/* 1 if index.txt has a line for the normalized serial SN, 0 if not, -1 on error. */
int	index_has_serial(struct repo *r, const char *sn);
/*
 * [locked] Append LINE to index.txt (cut back if the write fails half-way). The
 * descriptor is left in *FD for the caller to fdatasync(2) after the lock is released.
 */
int	index_append(struct repo *r, const char *line, int *fd);
/* The text of certs/<SERIAL>.pem: "record=<ID>" and the certificate in PEM. */
int	cert_text(const char *id, const unsigned char *der, size_t derlen, char **out,
	    size_t *outlen);
/*
 * certs/<SERIAL>.pem as an X509. 0 with errno ENOENT (absent), EINVAL (not a PEM
 * certificate: logged with OpenSSL's errors unless QUIET, which leaves them queued) or the
 * error of the read (logged).
 */
int	cert_read(struct repo *r, const char *serial, X509 **out, int quiet);
/*
 * The parts of a certs/ file: the record id of its "record=" line ("" if there is none)
 * and the certificate as DER. 0 if TEXT is not such a file.
 */
int	cert_text_parse(const unsigned char *text, size_t len, char id[REPO_ID_LEN + 1],
	    unsigned char **der, size_t *derlen);
/*
 * The facts of a DER certificate as repo_cert_facts() gives them, read with a DER walk
 * that does not decode the public key (the checker reads every certificate). 1 ok, 0 if
 * DER is not one certificate.
 */
int	cert_facts_der(const unsigned char *der, size_t len, struct repo_cert *cf);
/* bydn/<bucket> of DNKEY, as a name under bydn/ (DN_BUCKET + 1 bytes). */
void	dn_bucket(const char *dnkey, char out[DN_BUCKET + 1]);
/* The entry name "<dnkey>.<SN>" of a DN index entry. */
int	dn_entry_name(const char *dnkey, const char *sn, char *out, size_t outlen);
/*
 * [locked, or on a name nobody else uses] Link the file NAME of directory FROMFD into the
 * DN index under DNKEY and SN. *NEWBUCKET is set when the bucket directory was made (its
 * parent bydn/ then needs a sync too). The bucket's descriptor is left in *BFD (or -1).
 */
int	dn_link(struct repo *r, int fromfd, const char *name, const char *dnkey,
	    const char *sn, int *bfd, int *newbucket);

/* Sync the bucket BFD, and bydn/ when the bucket is NEWBUCKET; BFD is closed. */
int	dn_sync(struct repo *r, int bfd, int newbucket);

/* repo_revoke.c */
int	revfield_parse(const char *s, time_t *when, int *reason);
int	revfield_make(char *buf, size_t len, time_t when, int reason);
int	marker_read(struct repo *r, const char *sn, time_t *when, int *reason);

#endif
