/*
 * What the files of the repository module (src/repo*.c) share and nothing else sees: the
 * struct behind struct repo, the limits on what is read back, the record's file names, the
 * index.txt parser, and the helpers that build paths and names from validated strings.
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
#define MAX_META	(1024 * 1024)	/* a record's meta file */
#define MAX_BLOB	(1024 * 1024)	/* request.der, csr.der, signer.der, cert.der, certs/ PEM */
#define MAX_COUNTER	1024		/* the serial and crlnumber files */
#define MAX_SERIAL_HEX	REPO_SERIAL_MAX	/* hex digits of a serial (32 octets; RFC 5280: 20) */
#define MAX_INDEX	(512 * 1024 * 1024) /* index.txt: ~100 bytes a certificate */
#define MAX_SMALL	4096		/* certs/<SERIAL>.id, revoked/ markers, challenges */
#define STRAY_GRACE	300		/* a .tmp-* file younger than this may be in use */
#define LOAD_RETRIES	3		/* a record moving while repo_record_load() reads it */

#define DIR_MODE	0750
#define CA_DIR_MODE	0700
#define FILE_MODE	0640

struct repo {
	char	*root;
	int	 lockfd;	/* <root>/.lock, opened once: closing any fd on it drops the lock */
};

extern const char *const state_dirs[RS_COUNT];

/* Blob files of a record, in the order of struct record. */
#define REC_META	"meta"
#define REC_CSR		"csr.der"
#define REC_SIGNER	"signer.der"
#define REC_CERT	"cert.der"
#define REC_REQUEST	"request.der"

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

/* repo.c */
int	lower_hex(const char *s, size_t min, size_t max);
int	state_ok(enum rstate st);
int	rec_path(const struct repo *r, char *buf, size_t len, enum rstate st,
	    const char *id, const char *file);
int	serial_normalize(const char *in, char *out, size_t outlen);
int	serial_name_ok(const char *s);
int	serial_path(const struct repo *r, char *buf, size_t len, const char *dir,
	    const char *serial, const char *suffix);
int	cert_path(const struct repo *r, char *buf, size_t len, const char *serial);
int	serial_cmp(const char *a, const char *b);
int	serial_cmp_p(const void *a, const void *b);
int	ensure_dir(struct repo *r, const char *a, const char *b);

/* repo_record.c */
int	parse_ll(const char *s, long long min, long long max, long long *v);
int	blob_read(struct repo *r, enum rstate st, const char *id, const char *name,
	    unsigned char **buf, size_t *len);
struct record *record_read(struct repo *r, const char *id, enum rstate st, int with_blobs);
int	meta_write(struct repo *r, const struct record *rec, enum rstate st);

/* repo_counter.c */
int	counter_value(unsigned char *buf, size_t len, char cur[MAX_SERIAL_HEX + 2]);

/* repo_index.c */
int	index_time(char *buf, size_t len, time_t t);
int	index_subject_ok(const char *s);
void	index_free(struct index *ix);
int	index_load(struct repo *r, struct index *ix);
int	idfile_read(struct repo *r, const char *serial, char id[REPO_ID_LEN + 1],
	    char dnkey[REPO_DNKEY_MAX + 1]);
/*
 * certs/<SERIAL>.pem as an X509. 0 with errno ENOENT (absent), EINVAL (not a PEM
 * certificate: logged with OpenSSL's errors unless QUIET, which leaves them queued) or the
 * error of the read (logged).
 */
int	cert_read(struct repo *r, const char *serial, X509 **out, int quiet);

/* repo_revoke.c */
int	revfield_parse(const char *s, time_t *when, int *reason);
int	revfield_make(char *buf, size_t len, time_t when, int reason);
int	marker_read(struct repo *r, const char *sn, time_t *when, int *reason);

#endif
