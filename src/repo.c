/*
 * The CA repository: a directory tree that is the database (repo.h, repo-layout/README.md).
 * This file holds what the rest of the module builds on: opening, creating and locking the
 * tree and keeping its directories open, record ids, the names of states and serials, the
 * paths built from them, the repository's logged use of fileio.h, and the scan of a state
 * directory.
 *
 * A state is a directory, a transition is a rename(2), a record is one file staged whole in
 * tmp/ and renamed into its state, every file is replaced atomically (temp file, sync,
 * rename, sync the directory). Every path is built by path_join() from the configured root
 * and validated names, or is one validated name relative to a directory kept open; record
 * ids are checked by repo_id_valid() and serials by serial_normalize() before they come
 * near either.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/evp.h>

#include "repo_int.h"

const char *const state_dirs[RS_COUNT] = {
	[RS_PENDING] = "pending",
	[RS_APPROVED] = "approved",
	[RS_ISSUED] = "issued",
	[RS_REJECTED] = "rejected",
};

int
state_ok(enum rstate st)
{
	return st >= 0 && st < RS_COUNT;
}

const char *
rstate_name(enum rstate st)
{
	return state_ok(st) ? state_dirs[st] : "none";
}

enum rstate
rstate_from_name(const char *name)
{
	int	i;

	for (i = 0; name != NULL && i < RS_COUNT; i++)
		if (strcmp(name, state_dirs[i]) == 0)
			return (enum rstate)i;
	return RS_NONE;
}

/* <root>/<state>/<id> for a validated id. */
int
rec_path(const struct repo *r, char *buf, size_t len, enum rstate st, const char *id)
{
	if (!state_ok(st) || !repo_id_valid(id)) {
		if (len > 0)
			buf[0] = '\0';
		errno = EINVAL;
		return 0;
	}
	return path_join(buf, len, r->root, state_dirs[st], id, NULL);
}

/*
 * A serial as written in certs/ names, serial and index.txt: hex only (either case, at most
 * MAX_SERIAL_HEX digits), upper case, leading zeros stripped, then one zero added when the
 * count is odd -- what BN_bn2hex() gives, padded to whole octets. 0 if IN is not hex.
 */
int
serial_normalize(const char *in, char *out, size_t outlen)
{
	size_t	len, i, skip = 0, o = 0;

	if (in == NULL || (len = strlen(in)) == 0 || len > MAX_SERIAL_HEX) {
		errno = EINVAL;
		return 0;
	}
	for (i = 0; i < len; i++)
		if (hex_digit((unsigned char)in[i]) < 0) {
			errno = EINVAL;
			return 0;
		}
	while (skip < len - 1 && in[skip] == '0')
		skip++;
	if ((len - skip) + (len - skip) % 2 + 1 > outlen) {
		errno = ERANGE;
		return 0;
	}
	if ((len - skip) % 2)
		out[o++] = '0';
	for (i = skip; i < len; i++)
		out[o++] = (char)toupper((unsigned char)in[i]);
	out[o] = '\0';
	return 1;
}

int
repo_serial_name(const ASN1_INTEGER *ai, char *out, size_t outlen)
{
	BIGNUM	*bn = NULL;
	char	*hex = NULL;
	int	 rc = 0;

	if (outlen > 0)
		out[0] = '\0';
	if (ai != NULL && (bn = ASN1_INTEGER_to_BN(ai, NULL)) != NULL &&
	    !BN_is_negative(bn) && (hex = BN_bn2hex(bn)) != NULL)
		rc = serial_normalize(hex, out, outlen);
	BN_free(bn);
	OPENSSL_free(hex);
	return rc;
}

/* A name that is a serial exactly as serial_normalize() writes it. */
int
serial_name_ok(const char *s)
{
	char	sn[MAX_SERIAL_HEX + 2];

	return serial_normalize(s, sn, sizeof(sn)) && strcmp(sn, s) == 0;
}

/*
 * <root>/<DIR>/<SERIAL><SUFFIX> for SERIAL normalized first: certs/<SERIAL>.pem,
 * certs/<SERIAL>.id, revoked/<SERIAL>.
 */
int
serial_path(const struct repo *r, char *buf, size_t len, const char *dir,
    const char *serial, const char *suffix)
{
	char	name[MAX_SERIAL_HEX + 8];
	char	sn[MAX_SERIAL_HEX + 2];

	if (!serial_normalize(serial, sn, sizeof(sn))) {
		if (len > 0)
			buf[0] = '\0';
		return 0;
	}
	(void)snprintf(name, sizeof(name), "%s%s", sn, suffix);
	return path_join(buf, len, r->root, dir, name, NULL);
}

int
cert_path(const struct repo *r, char *buf, size_t len, const char *serial)
{
	return serial_path(r, buf, len, "certs", serial, ".pem");
}

/* Log ERR unless errno is QUIET (an answer rather than a failure); errno is kept. 0. */
static int
log_failure(const char *err, int quiet)
{
	int	saved = errno;

	if (saved != quiet || quiet == 0)
		logx(LOG_LVL_ERR, "%s", err);
	errno = saved;
	return 0;
}

int
put_file(const char *path, const void *buf, size_t len, int excl)
{
	char	err[MAX_PATH_LEN + 128];

	if (excl ? create_file(path, buf, len, FILE_MODE, err, sizeof(err)) :
	    write_file(path, buf, len, FILE_MODE, err, sizeof(err)))
		return 1;
	return log_failure(err, excl ? EEXIST : 0);
}

int
get_file(const char *path, unsigned char **buf, size_t *len, size_t max)
{
	char	err[MAX_PATH_LEN + 128];

	if (read_file(path, buf, len, max, err, sizeof(err)))
		return 1;
	return log_failure(err, ENOENT);
}

int
sync_dir(const char *dir)
{
	char	err[MAX_PATH_LEN + 128];

	if (fsync_dir(dir, err, sizeof(err)))
		return 1;
	return log_failure(err, 0);
}

int
list_dir(const char *dir, int (*ok)(const char *), char ***names, size_t *n)
{
	char	err[MAX_PATH_LEN + 128];

	if (dir_list(dir, ok, names, n, err, sizeof(err)))
		return 1;
	return log_failure(err, ENOENT);
}

int
sync_logged(const struct sync_req *req, size_t n, const char *what)
{
	if (sync_all(req, n))
		return 1;
	logx(LOG_LVL_ERR, "sync %s: %s", what, strerror(errno));
	return 0;
}

void
drop_dir(const char *dir)
{
	char	err[MAX_PATH_LEN + 128];
	int	saved = errno;

	if (!remove_flat_dir(dir, err, sizeof(err)))
		logx(LOG_LVL_WARN, "%s", err);
	errno = saved;
}

/* The directories repo_open() requires, in the order of enum rdir. */
static const char *const repo_dirs[RD_COUNT] = {
	[RD_PENDING] = "pending", [RD_APPROVED] = "approved", [RD_ISSUED] = "issued",
	[RD_REJECTED] = "rejected", [RD_CERTS] = "certs", [RD_TMP] = "tmp",
};

/* Made by repo_create(); older repositories get them on first use (ensure_dir()). */
static const struct {
	const char	*a, *b;
} later_dirs[] = {
	{ "bydn", NULL }, { "revoked", NULL }, { "challenges", NULL }, { "challenges", "used" }
};

struct repo *
repo_open(const char *root, char *err, size_t errlen)
{
	struct repo	*r = NULL, *ret = NULL;
	char		 path[MAX_PATH_LEN];
	size_t		 i;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		(void)errf_sys(err, errlen, "cannot open %s", root ? root : "(null)");
		goto out;
	}
	r->lockfd = -1;
	for (i = 0; i < RD_COUNT; i++)
		r->dfd[i] = -1;
	if (root == NULL || (r->root = strdup(root)) == NULL) {
		if (root == NULL)
			errno = EINVAL;
		(void)errf_sys(err, errlen, "cannot open %s", root ? root : "(null)");
		goto out;
	}
	if ((r->dfd[RD_ROOT] = dir_open(root)) == -1) {
		(void)errf_sys(err, errlen, "cannot open the repository %s", root);
		goto out;
	}
	for (i = 0; i < RD_COUNT; i++) {
		if (i == RD_ROOT || repo_dirs[i] == NULL)
			continue;
		if (!path_join(path, sizeof(path), root, repo_dirs[i], NULL, NULL) ||
		    (r->dfd[i] = dir_open(path)) == -1) {
			(void)errf_sys(err, errlen, "cannot open %s", path[0] ? path : root);
			goto out;
		}
	}
	if ((r->lockfd = openat(r->dfd[RD_ROOT], ".lock", O_RDWR | O_CREAT | O_CLOEXEC,
	    0640)) == -1) {
		(void)errf_sys(err, errlen, "cannot open %s/.lock", root);
		goto out;
	}
	ret = r;
	r = NULL;
out:
	repo_close(r);
	return ret;
}

int
repo_create(const char *root, char *err, size_t errlen)
{
	static const struct {
		const char	*name;
		const char	*content;
	} files[] = {
		{ "crlnumber", "01\n" },
		{ "index.txt", "" },
		{ "index.txt.attr", "unique_subject = no\n" },
		{ ".lock", "" },
	};
	char	path[MAX_PATH_LEN];
	size_t	i;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (root == NULL || root[0] == '\0') {
		errno = EINVAL;
		return errf_sys(err, errlen, "cannot create a repository without a path");
	}
	if (!make_dir(root, DIR_MODE, err, errlen))
		return 0;
	if (!path_join(path, sizeof(path), root, "ca", NULL, NULL))
		return errf_sys(err, errlen, "repository %s", root);
	if (!make_dir(path, CA_DIR_MODE, err, errlen))
		return 0;
	for (i = 0; i < sizeof(repo_dirs) / sizeof(repo_dirs[0]); i++) {
		if (repo_dirs[i] == NULL)
			continue;
		if (!path_join(path, sizeof(path), root, repo_dirs[i], NULL, NULL))
			return errf_sys(err, errlen, "repository %s", root);
		if (!make_dir(path, DIR_MODE, err, errlen))
			return 0;
	}
	for (i = 0; i < sizeof(later_dirs) / sizeof(later_dirs[0]); i++) {
		if (!path_join(path, sizeof(path), root, later_dirs[i].a, later_dirs[i].b,
		    NULL))
			return errf_sys(err, errlen, "repository %s", root);
		if (!make_dir(path, DIR_MODE, err, errlen))
			return 0;
	}
	/* Existing counters and indexes are never overwritten: create_file() refuses. */
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (!path_join(path, sizeof(path), root, files[i].name, NULL, NULL))
			return errf_sys(err, errlen, "repository %s", root);
		if (!create_file(path, files[i].content, strlen(files[i].content), FILE_MODE,
		    NULL, 0) && errno != EEXIST)
			return errf_sys(err, errlen, "cannot write %s", path);
	}
	return fsync_dir(root, err, errlen);
}

void
repo_close(struct repo *r)
{
	size_t	i;

	if (r == NULL)
		return;
	if (r->lockfd != -1)
		(void)close(r->lockfd);
	for (i = 0; i < RD_COUNT; i++)
		if (r->dfd[i] != -1)
			(void)close(r->dfd[i]);
	free(r->root);
	free(r);
}

const char *
repo_root(const struct repo *r)
{
	return r->root;
}

int
repo_dfd(struct repo *r, enum rdir d)
{
	char	path[MAX_PATH_LEN];

	if (d < 0 || d >= RD_COUNT)
		return -1;
	if (r->dfd[d] != -1)
		return r->dfd[d];
	if (d != RD_BYDN || !path_join(path, sizeof(path), r->root, "bydn", NULL, NULL))
		return -1;
	/* Made on first use in a repository older than bydn/. */
	if ((r->dfd[d] = dir_open(path)) == -1 && errno == ENOENT &&
	    ensure_dir(r, "bydn", NULL))
		r->dfd[d] = dir_open(path);
	if (r->dfd[d] == -1)
		logx(LOG_LVL_ERR, "open %s: %s", path, strerror(errno));
	return r->dfd[d];
}

/*
 * The lock is taken with F_SETLK, retried with a growing pause, never with F_SETLKW: no
 * process ever sleeps inside the kernel (or a FUSE client) waiting for it, where being
 * killed can hang a network file system's mount (GlusterFS), and a wait has an end.
 */
int
repo_lock(struct repo *r)
{
	struct flock	fl;
	struct timespec	t0, now, pause;
	unsigned long	jitter;
	long		us = LOCK_PAUSE_MIN_US, ms;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 0;
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (fcntl(r->lockfd, F_SETLK, &fl) == 0)
			return 1;
		if (errno != EACCES && errno != EAGAIN && errno != EINTR) {
			logx(LOG_LVL_ERR, "lock %s/.lock: %s", r->root, strerror(errno));
			return 0;
		}
		(void)clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (long)(now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= REPO_LOCK_WAIT * 1000L) {
			logx(LOG_LVL_ERR, "lock %s/.lock: still held by another process after "
			    "%d s; giving up", r->root, REPO_LOCK_WAIT);
			errno = ETIMEDOUT;
			return 0;
		}
		/* Half the pause fixed, half varied, so that waiters do not retry together. */
		jitter = ((unsigned long)now.tv_nsec / 1000 + (unsigned long)getpid()) %
		    (unsigned long)(us / 2 + 1);
		pause.tv_sec = 0;
		pause.tv_nsec = (us / 2 + (long)jitter) * 1000;
		(void)nanosleep(&pause, NULL);
		if ((us *= 2) > LOCK_PAUSE_MAX_US)
			us = LOCK_PAUSE_MAX_US;
	}
}

void
repo_unlock(struct repo *r)
{
	struct flock	fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(r->lockfd, F_SETLK, &fl) == -1)
		logx(LOG_LVL_ERR, "unlock %s/.lock: %s", r->root, strerror(errno));
}

/* A 4-byte big-endian length, then the bytes: no two field lists encode alike. */
static int
digest_field(EVP_MD_CTX *ctx, const void *p, size_t len)
{
	unsigned char	be[4];

	if (len > UINT32_MAX)
		return 0;
	be[0] = (unsigned char)(len >> 24);
	be[1] = (unsigned char)(len >> 16);
	be[2] = (unsigned char)(len >> 8);
	be[3] = (unsigned char)len;
	return EVP_DigestUpdate(ctx, be, sizeof(be)) && (len == 0 ||
	    EVP_DigestUpdate(ctx, p, len));
}

/*
 * SHA-256 of REPO_ID_LABEL (with its NUL), the kind ("enroll" or "renewal") and the
 * fields, each length-prefixed; LEGACY gives the id of older versions instead (see
 * repo_find_txn()). On failure OUT is "", which repo_id_valid() rejects.
 */
static void
make_id(char out[REPO_ID_LEN + 1], const unsigned char *txid, size_t len,
    const char *serial, int legacy)
{
	static const unsigned char	 zero = 0;
	EVP_MD_CTX			*ctx = NULL;
	const char			*kind = serial != NULL ? "renewal" : "enroll";
	unsigned char			 md[EVP_MAX_MD_SIZE];
	unsigned int			 mdlen = 0;
	int				 ok;

	out[0] = '\0';
	if ((ctx = EVP_MD_CTX_new()) == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		goto bad;
	if (legacy)
		ok = (len == 0 || EVP_DigestUpdate(ctx, txid, len)) && (serial == NULL ||
		    (EVP_DigestUpdate(ctx, &zero, 1) &&
		    EVP_DigestUpdate(ctx, serial, strlen(serial))));
	else
		ok = EVP_DigestUpdate(ctx, REPO_ID_LABEL, sizeof(REPO_ID_LABEL)) &&
		    digest_field(ctx, kind, strlen(kind)) &&
		    digest_field(ctx, txid, len) &&
		    (serial == NULL || digest_field(ctx, serial, strlen(serial)));
	if (!ok || !EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen * 2 != REPO_ID_LEN)
		goto bad;
	hex_encode(out, md, mdlen);
	goto out;
bad:
	log_crypto(LOG_LVL_ERR, "record id: SHA-256");
out:
	EVP_MD_CTX_free(ctx);
}

void
repo_id(char out[REPO_ID_LEN + 1], const unsigned char *txid, size_t len,
    const char *renewal_serial)
{
	make_id(out, txid, len, renewal_serial, 0);
}

enum rstate
repo_find_txn(struct repo *r, const unsigned char *txid, size_t len,
    const char *renewal_serial, char out[REPO_ID_LEN + 1])
{
	struct record	*rec;
	char		 old[REPO_ID_LEN + 1];
	enum rstate	 st;
	int		 same;

	repo_id(out, txid, len, renewal_serial);
	if ((st = repo_find(r, out)) != RS_NONE)
		return st;
	make_id(old, txid, len, renewal_serial, 1);
	if (repo_find(r, old) == RS_NONE || (rec = repo_record_load(r, old, 0)) == NULL)
		return RS_NONE;
	same = rec->txid != NULL && rec->txid_len == len &&
	    (len == 0 || memcmp(rec->txid, txid, len) == 0) &&
	    (renewal_serial == NULL ? rec->renewal_of == NULL :
	    rec->renewal_of != NULL && strcmp(rec->renewal_of, renewal_serial) == 0);
	st = rec->state;
	record_free(rec);
	if (!same)
		return RS_NONE;
	memcpy(out, old, sizeof(old));
	return st;
}

int
repo_id_valid(const char *id)
{
	return lower_hex(id, REPO_ID_LEN, REPO_ID_LEN);
}

/* S is MIN..MAX lower-case hex digits, as hex_encode() writes them, and nothing else. */
int
lower_hex(const char *s, size_t min, size_t max)
{
	size_t	i;

	if (s == NULL)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || hex_digit((unsigned char)s[i]) < 0 || isupper((unsigned char)s[i]))
			return 0;
	return i >= min;
}

enum rstate
find_once(struct repo *r, const char *id)
{
	struct stat	sb;
	int		i;

	for (i = 0; i < RS_COUNT; i++)
		if (fstatat(r->dfd[i], id, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode))
			return (enum rstate)i;
	return RS_NONE;
}

/*
 * Two passes: without the lock a record may move from a directory not yet looked at to one
 * already looked at (rejected -> pending); rename(2) being atomic, the second pass sees it.
 */
enum rstate
repo_find_once(struct repo *r, const char *id)
{
	return repo_id_valid(id) ? find_once(r, id) : RS_NONE;
}

enum rstate
repo_find(struct repo *r, const char *id)
{
	enum rstate	st;

	if (!repo_id_valid(id))
		return RS_NONE;
	if ((st = find_once(r, id)) == RS_NONE)
		st = find_once(r, id);
	return st;
}

/* Normalized serials in numeric order: shorter first, then by digits. */
int
serial_cmp(const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b);

	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

int
serial_cmp_p(const void *a, const void *b)
{
	return serial_cmp(*(char *const *)a, *(char *const *)b);
}

/* <root>/A[/B] as a directory, created (parent fsynced) if missing: bydn/, revoked/, ... */
int
ensure_dir(struct repo *r, const char *a, const char *b)
{
	char	path[MAX_PATH_LEN], err[MAX_PATH_LEN + 128];

	if (!path_join(path, sizeof(path), r->root, a, b, NULL))
		return 0;
	if (make_dir(path, DIR_MODE, err, sizeof(err)))
		return 1;
	return log_failure(err, 0);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The names are collected first and sorted, so FN may move records out of ST. Returns -1
 * (errno set) if the directory cannot be read.
 */
int
repo_foreach(struct repo *r, enum rstate st, int (*fn)(const char *id, void *arg),
    void *arg)
{
	char		  path[MAX_PATH_LEN], err[MAX_PATH_LEN + 128];
	char		**ids = NULL;
	size_t		  n = 0, i;
	int		  rc = 0, saved;

	if (!state_ok(st) ||
	    !path_join(path, sizeof(path), r->root, state_dirs[st], NULL, NULL)) {
		errno = EINVAL;
		return -1;
	}
	if (!dir_list(path, repo_id_valid, &ids, &n, err, sizeof(err))) {
		(void)log_failure(err, 0);
		return -1;
	}
	if (n > 0)
		qsort(ids, n, sizeof(*ids), cmp_names);
	for (i = 0; i < n; i++)
		if ((rc = fn(ids[i], arg)) != 0)
			break;
	saved = errno;
	strv_free(ids, n);
	errno = saved;
	return rc;
}
