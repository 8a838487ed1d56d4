/*
 * What the files of the repository module (src/repo*.c) share and nothing else sees: the
 * struct behind struct repo, the limits on what is read back, the record's file names,
 * and the helpers that build paths and names from validated strings.
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

/* repo.c */
int	state_ok(enum rstate st);
int	rec_path(const struct repo *r, char *buf, size_t len, enum rstate st,
	    const char *id, const char *file);
int	serial_normalize(const char *in, char *out, size_t outlen);

/* repo_record.c */
int	parse_ll(const char *s, long long min, long long max, long long *v);
int	blob_read(struct repo *r, enum rstate st, const char *id, const char *name,
	    unsigned char **buf, size_t *len);
struct record *record_read(struct repo *r, const char *id, enum rstate st, int with_blobs);
int	meta_write(struct repo *r, const struct record *rec, enum rstate st);

#endif
