/*
 * The CA repository: a directory tree that is the database (repo.h, repo-layout/README.md).
 *
 * A state is a directory, a transition is a rename(2), a record is created whole in tmp/ and
 * renamed into its state, every file is replaced atomically (temp file in the same
 * directory, fsync, rename, fsync the directory). Every path is built by path_join() from
 * the configured root and validated names; record ids are checked by repo_id_valid() and
 * serials by serial_normalize() before they come near it.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "repo.h"

/*
 * Limits on what we read back. Every one of these files is written by this module, so a
 * larger one is corruption or tampering, not a client being creative.
 */
#define MAX_META	(1024 * 1024)	/* a record's meta file */
#define MAX_BLOB	(1024 * 1024)	/* request.der, csr.der, signer.der, cert.der, certs/ PEM */
#define MAX_COUNTER	1024		/* the serial file */
#define MAX_SERIAL_HEX	64		/* hex digits of a serial (32 octets; RFC 5280 says 20) */
#define LOAD_RETRIES	3		/* a record moving while repo_record_load() reads it */

#define DIR_MODE	0750
#define CA_DIR_MODE	0700
#define FILE_MODE	0640

struct repo {
	char	*root;
	int	 lockfd;	/* <root>/.lock, opened once: closing any fd on it drops the lock */
};

static const char *const state_dirs[RS_COUNT] = {
	[RS_PENDING] = "pending",
	[RS_APPROVED] = "approved",
	[RS_ISSUED] = "issued",
	[RS_REJECTED] = "rejected",
};

/* Blob files of a record, in the order of struct record. */
#define REC_META	"meta"
#define REC_CSR		"csr.der"
#define REC_SIGNER	"signer.der"
#define REC_CERT	"cert.der"
#define REC_REQUEST	"request.der"

static int
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

/* A single path component we are willing to put in a path. */
static int
name_ok(const char *s)
{
	return s[0] != '\0' && strchr(s, '/') == NULL &&
	    strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/*
 * The one function that builds paths: ROOT, then the components A, B, C up to the first
 * NULL, each of which must be a plain name. On failure buf is "" and errno is set.
 */
static int
path_join(char *buf, size_t len, const char *root, const char *a, const char *b,
    const char *c)
{
	const char	*parts[3] = { a, b, c };
	size_t		 used;
	int		 i, n;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	if (root == NULL || root[0] == '\0') {
		errno = EINVAL;
		return 0;
	}
	n = snprintf(buf, len, "%s", root);
	if (n < 0 || (size_t)n >= len)
		goto toolong;
	used = (size_t)n;
	for (i = 0; i < 3 && parts[i] != NULL; i++) {
		if (!name_ok(parts[i])) {
			buf[0] = '\0';
			errno = EINVAL;
			return 0;
		}
		n = snprintf(buf + used, len - used, "/%s", parts[i]);
		if (n < 0 || (size_t)n >= len - used)
			goto toolong;
		used += (size_t)n;
	}
	return 1;
toolong:
	buf[0] = '\0';
	errno = ENAMETOOLONG;
	return 0;
}

/* <root>/<state>/<id>[/<file>] for a validated id. */
static int
rec_path(const struct repo *r, char *buf, size_t len, enum rstate st, const char *id,
    const char *file)
{
	if (!state_ok(st) || !repo_id_valid(id)) {
		if (len > 0)
			buf[0] = '\0';
		errno = EINVAL;
		return 0;
	}
	return path_join(buf, len, r->root, state_dirs[st], id, file);
}

/* The directory part of PATH ("." if none). */
static int
dir_of(const char *path, char *out, size_t outlen)
{
	const char	*slash = strrchr(path, '/');
	size_t		 n;

	if (slash == NULL) {
		n = 1;
		path = ".";
	} else
		n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= outlen) {
		errno = ENAMETOOLONG;
		return 0;
	}
	memcpy(out, path, n);
	out[n] = '\0';
	return 1;
}

static void
hex_encode(char *out, const unsigned char *in, size_t len)
{
	static const char	hex[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

static int
hex_val(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A serial as written in certs/ names, serial and index.txt: hex only (either case, at most
 * MAX_SERIAL_HEX digits), upper case, leading zeros stripped, then one zero added when the
 * count is odd -- what BN_bn2hex() gives, padded to whole octets. 0 if IN is not hex.
 */
static int
serial_normalize(const char *in, char *out, size_t outlen)
{
	size_t	len, i, skip = 0, o = 0;

	if (in == NULL || (len = strlen(in)) == 0 || len > MAX_SERIAL_HEX) {
		errno = EINVAL;
		return 0;
	}
	for (i = 0; i < len; i++)
		if (hex_val((unsigned char)in[i]) < 0) {
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
		out[o++] = (in[i] >= 'a' && in[i] <= 'f') ? (char)(in[i] - 'a' + 'A') : in[i];
	out[o] = '\0';
	return 1;
}

/* certs/<SERIAL>.pem for a normalized serial. */
static int
cert_path(const struct repo *r, char *buf, size_t len, const char *serial)
{
	char	name[MAX_SERIAL_HEX + 8];
	char	sn[MAX_SERIAL_HEX + 2];

	if (!serial_normalize(serial, sn, sizeof(sn))) {
		if (len > 0)
			buf[0] = '\0';
		return 0;
	}
	(void)snprintf(name, sizeof(name), "%s.pem", sn);
	return path_join(buf, len, r->root, "certs", name, NULL);
}

/* write(2) all of BUF, through EINTR and short writes. */
static int
write_all(int fd, const void *buf, size_t len)
{
	const unsigned char	*p = buf;
	ssize_t			 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		if (n == 0) {
			errno = EIO;
			return 0;
		}
		p += n;
		len -= (size_t)n;
	}
	return 1;
}

static int
fsync_fd(int fd)
{
	while (fsync(fd) == -1)
		if (errno != EINTR)
			return 0;
	return 1;
}

static int
fsync_dir(const char *dir)
{
	int	fd, rc = 0, saved;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		goto out;
	rc = fsync_fd(fd);
out:
	saved = errno;
	if (!rc)
		logx(LOG_LVL_ERR, "fsync %s: %s", dir, strerror(saved));
	if (fd != -1)
		(void)close(fd);
	errno = saved;
	return rc;
}

/*
 * Write PATH atomically: a ".tmp-XXXXXX" file in the same directory, written, fsynced,
 * closed, then renamed over PATH (or, if NOREPLACE, linked to PATH, which fails with EEXIST
 * when it exists), and the directory fsynced. The temp file never survives a failure.
 */
static int
write_atomic(const char *path, const void *buf, size_t len, int mode, int noreplace)
{
	char	dir[MAX_PATH_LEN], tmp[MAX_PATH_LEN];
	int	fd = -1, rc = 0, saved;

	tmp[0] = '\0';
	if (!dir_of(path, dir, sizeof(dir)) ||
	    !path_join(tmp, sizeof(tmp), dir, ".tmp-XXXXXX", NULL, NULL))
		goto out;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		tmp[0] = '\0';
		goto out;
	}
	if (fchmod(fd, (mode_t)mode) == -1 || !write_all(fd, buf, len) || !fsync_fd(fd))
		goto out;
	if (close(fd) == -1) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (noreplace) {
		if (link(tmp, path) == -1)
			goto out;
		(void)unlink(tmp);
	} else if (rename(tmp, path) == -1)
		goto out;
	tmp[0] = '\0';
	if (!fsync_dir(dir))
		goto out;
	rc = 1;
out:
	saved = errno;
	if (!rc && !(noreplace && saved == EEXIST))
		logx(LOG_LVL_ERR, "write %s: %s", path, strerror(saved));
	if (fd != -1)
		(void)close(fd);
	if (tmp[0] != '\0')
		(void)unlink(tmp);
	errno = saved;
	return rc;
}

int
repo_write_file(const char *path, const void *buf, size_t len, int mode)
{
	if (path == NULL || (buf == NULL && len > 0)) {
		errno = EINVAL;
		return 0;
	}
	return write_atomic(path, buf, len, mode, 0);
}

/*
 * Read a whole regular file of at most MAX bytes (EFBIG otherwise). The buffer is malloc'd,
 * one byte longer than *len and NUL-terminated, so text files can be parsed in place.
 * ENOENT is not logged: a missing file is often an answer, not an error.
 */
int
repo_read_file(const char *path, unsigned char **bufp, size_t *lenp, size_t max)
{
	unsigned char	*buf = NULL, *nbuf;
	struct stat	 sb;
	size_t		 len = 0, cap, ncap;
	ssize_t		 n;
	int		 fd = -1, rc = 0, saved;

	if (bufp == NULL || lenp == NULL || path == NULL) {
		errno = EINVAL;
		goto out;
	}
	*bufp = NULL;
	*lenp = 0;
	if (max > SIZE_MAX / 4)
		max = SIZE_MAX / 4;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1 || fstat(fd, &sb) == -1)
		goto out;
	if (!S_ISREG(sb.st_mode)) {
		errno = EINVAL;
		goto out;
	}
	if (sb.st_size < 0 || (unsigned long long)sb.st_size > max) {
		errno = EFBIG;
		goto out;
	}
	cap = (size_t)sb.st_size + 1;
	if ((buf = malloc(cap)) == NULL)
		goto out;
	for (;;) {
		if (len == cap - 1) {
			/* Full: the file grew since fstat, or we are at EOF. */
			if (len > max) {
				errno = EFBIG;
				goto out;
			}
			ncap = cap * 2 > max + 2 ? max + 2 : cap * 2;
			if ((nbuf = realloc(buf, ncap)) == NULL)
				goto out;
			buf = nbuf;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		errno = EFBIG;
		goto out;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	buf = NULL;
	rc = 1;
out:
	saved = errno;
	if (!rc && saved != ENOENT)
		logx(LOG_LVL_ERR, "read %s: %s", path ? path : "(null)", strerror(saved));
	if (fd != -1)
		(void)close(fd);
	free(buf);
	errno = saved;
	return rc;
}

/* Create DIR/NAME (private staging directory, so no rename needed), write, fsync. */
static int
write_new(const char *dir, const char *name, const void *buf, size_t len)
{
	char	path[MAX_PATH_LEN];
	int	fd = -1, rc = 0, saved;

	if (buf == NULL)
		return 1;	/* absent blob */
	if (!path_join(path, sizeof(path), dir, name, NULL, NULL))
		goto out;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, FILE_MODE)) == -1)
		goto out;
	if (fchmod(fd, FILE_MODE) == -1 || !write_all(fd, buf, len) || !fsync_fd(fd))
		goto out;
	rc = close(fd) == 0;
	fd = -1;
out:
	saved = errno;
	if (!rc)
		logx(LOG_LVL_ERR, "write %s/%s: %s", dir, name, strerror(saved));
	if (fd != -1)
		(void)close(fd);
	errno = saved;
	return rc;
}

/* Remove a flat directory (a staging record) and everything in it. */
static void
remove_flat_dir(const char *path)
{
	DIR		*d;
	struct dirent	*de;
	int		 saved = errno;

	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (unlinkat(dirfd(d), de->d_name, 0) == -1)
				logx(LOG_LVL_WARN, "unlink %s/%s: %s", path, de->d_name,
				    strerror(errno));
		}
		(void)closedir(d);
	}
	if (rmdir(path) == -1 && errno != ENOENT)
		logx(LOG_LVL_WARN, "rmdir %s: %s", path, strerror(errno));
	errno = saved;
}

/* Report an error to the caller's buffer, or to the log when there is none. */
static void
set_err(char *err, size_t errlen, const char *what, const char *path, int e)
{
	if (err != NULL && errlen > 0)
		(void)snprintf(err, errlen, "%s %s: %s", what, path, strerror(e));
	else
		logx(LOG_LVL_ERR, "%s %s: %s", what, path, strerror(e));
}

static const char *const repo_dirs[] = {
	"pending", "approved", "issued", "rejected", "certs", "tmp"
};

struct repo *
repo_open(const char *root, char *err, size_t errlen)
{
	struct repo	*r = NULL, *ret = NULL;
	struct stat	 sb;
	char		 path[MAX_PATH_LEN];
	size_t		 i;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	for (i = 0; i < sizeof(repo_dirs) / sizeof(repo_dirs[0]); i++) {
		if (!path_join(path, sizeof(path), root, repo_dirs[i], NULL, NULL)) {
			set_err(err, errlen, "repository", root ? root : "(null)", errno);
			goto out;
		}
		if (stat(path, &sb) == -1) {
			set_err(err, errlen, "stat", path, errno);
			goto out;
		}
		if (!S_ISDIR(sb.st_mode)) {
			set_err(err, errlen, "repository directory", path, ENOTDIR);
			goto out;
		}
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		set_err(err, errlen, "open", root, errno);
		goto out;
	}
	r->lockfd = -1;
	if ((r->root = strdup(root)) == NULL) {
		set_err(err, errlen, "open", root, errno);
		goto out;
	}
	if (!path_join(path, sizeof(path), root, ".lock", NULL, NULL) ||
	    (r->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) == -1) {
		set_err(err, errlen, "open", path, errno);
		goto out;
	}
	ret = r;
	r = NULL;
out:
	repo_close(r);
	return ret;
}

/* mkdir that accepts an existing directory; the mode is forced only on creation. */
static int
mkdir_mode(const char *path, mode_t mode)
{
	struct stat	sb;

	if (mkdir(path, mode) == 0)
		return chmod(path, mode) == 0;
	if (errno != EEXIST)
		return 0;
	if (stat(path, &sb) == -1)
		return 0;
	if (!S_ISDIR(sb.st_mode)) {
		errno = ENOTDIR;
		return 0;
	}
	return 1;
}

int
repo_create(const char *root, char *err, size_t errlen)
{
	static const struct {
		const char	*name;
		const char	*content;
	} files[] = {
		{ "serial", "01\n" },
		{ "crlnumber", "01\n" },
		{ "index.txt", "" },
		{ "index.txt.attr", "unique_subject = no\n" },
		{ ".lock", "" },
	};
	char	path[MAX_PATH_LEN];
	size_t	i;
	int	rc = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (root == NULL || root[0] == '\0') {
		set_err(err, errlen, "create", "(null)", EINVAL);
		goto out;
	}
	if (!mkdir_mode(root, DIR_MODE)) {
		set_err(err, errlen, "mkdir", root, errno);
		goto out;
	}
	if (!path_join(path, sizeof(path), root, "ca", NULL, NULL) ||
	    !mkdir_mode(path, CA_DIR_MODE)) {
		set_err(err, errlen, "mkdir", path[0] ? path : root, errno);
		goto out;
	}
	for (i = 0; i < sizeof(repo_dirs) / sizeof(repo_dirs[0]); i++)
		if (!path_join(path, sizeof(path), root, repo_dirs[i], NULL, NULL) ||
		    !mkdir_mode(path, DIR_MODE)) {
			set_err(err, errlen, "mkdir", path[0] ? path : root, errno);
			goto out;
		}
	/* Existing counters and indexes are never overwritten: link(2) refuses. */
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (!path_join(path, sizeof(path), root, files[i].name, NULL, NULL)) {
			set_err(err, errlen, "create", root, errno);
			goto out;
		}
		if (!write_atomic(path, files[i].content, strlen(files[i].content),
		    FILE_MODE, 1) && errno != EEXIST) {
			set_err(err, errlen, "create", path, errno);
			goto out;
		}
	}
	if (!fsync_dir(root)) {
		set_err(err, errlen, "fsync", root, errno);
		goto out;
	}
	rc = 1;
out:
	return rc;
}

void
repo_close(struct repo *r)
{
	if (r == NULL)
		return;
	if (r->lockfd != -1)
		(void)close(r->lockfd);
	free(r->root);
	free(r);
}

const char *
repo_root(const struct repo *r)
{
	return r->root;
}

int
repo_lock(struct repo *r)
{
	struct flock	fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 0;
	while (fcntl(r->lockfd, F_SETLKW, &fl) == -1) {
		if (errno == EINTR)
			continue;
		logx(LOG_LVL_ERR, "lock %s/.lock: %s", r->root, strerror(errno));
		return 0;
	}
	return 1;
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

/* On failure OUT is "", which repo_id_valid() rejects. */
void
repo_id(char out[REPO_ID_LEN + 1], const unsigned char *txid, size_t len,
    const char *renewal_serial)
{
	static const unsigned char	 zero = 0;
	EVP_MD_CTX			*ctx = NULL;
	unsigned char			 md[EVP_MAX_MD_SIZE];
	unsigned int			 mdlen = 0;

	out[0] = '\0';
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    (len > 0 && !EVP_DigestUpdate(ctx, txid, len)) ||
	    (renewal_serial != NULL &&
	    (!EVP_DigestUpdate(ctx, &zero, 1) ||
	    !EVP_DigestUpdate(ctx, renewal_serial, strlen(renewal_serial)))) ||
	    !EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen * 2 != REPO_ID_LEN) {
		log_crypto(LOG_LVL_ERR, "record id: SHA-256");
		goto out;
	}
	hex_encode(out, md, mdlen);
out:
	EVP_MD_CTX_free(ctx);
}

int
repo_id_valid(const char *id)
{
	size_t	i;

	if (id == NULL)
		return 0;
	for (i = 0; i < REPO_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return id[REPO_ID_LEN] == '\0';
}

static enum rstate
find_once(struct repo *r, const char *id)
{
	char		path[MAX_PATH_LEN];
	struct stat	sb;
	int		i;

	for (i = 0; i < RS_COUNT; i++)
		if (rec_path(r, path, sizeof(path), (enum rstate)i, id, NULL) &&
		    lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			return (enum rstate)i;
	return RS_NONE;
}

/*
 * Two passes: without the lock a record may move from a directory not yet looked at to one
 * already looked at (rejected -> pending); rename(2) being atomic, the second pass sees it.
 */
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

void
record_free(struct record *rec)
{
	if (rec == NULL)
		return;
	free(rec->txid);
	free(rec->subject);
	free(rec->key_fp);
	free(rec->signer_fp);
	free(rec->digest);
	free(rec->cipher);
	free(rec->client);
	free(rec->challenge);
	free(rec->role);
	free(rec->ra);
	free(rec->serial);
	free(rec->reason);
	free(rec->renewal_of);
	free(rec->csr_der);
	free(rec->signer_der);
	free(rec->cert_der);
	free(rec->request_der);
	free(rec);
}

/* The string fields of struct record and their meta keys. */
static const struct {
	const char	*key;
	size_t		 off;
} meta_strs[] = {
	{ "subject",	offsetof(struct record, subject) },
	{ "key_fp",	offsetof(struct record, key_fp) },
	{ "signer_fp",	offsetof(struct record, signer_fp) },
	{ "digest",	offsetof(struct record, digest) },
	{ "cipher",	offsetof(struct record, cipher) },
	{ "client",	offsetof(struct record, client) },
	{ "challenge",	offsetof(struct record, challenge) },
	{ "role",	offsetof(struct record, role) },
	{ "ra",		offsetof(struct record, ra) },
	{ "serial",	offsetof(struct record, serial) },
	{ "reason",	offsetof(struct record, reason) },
	{ "renewal_of",	offsetof(struct record, renewal_of) },
};
#define N_META_STRS	(sizeof(meta_strs) / sizeof(meta_strs[0]))

static char **
rec_str(struct record *rec, size_t i)
{
	return (char **)(void *)((char *)rec + meta_strs[i].off);
}

static char *const *
rec_cstr(const struct record *rec, size_t i)
{
	return (char *const *)(const void *)((const char *)rec + meta_strs[i].off);
}

/* "key=value\n" with VAL escaped; nothing when VAL is NULL. */
static int
meta_put(FILE *f, const char *key, const void *val, size_t len)
{
	char	*esc = NULL;
	int	 rc = 0;

	if (val == NULL)
		return 1;
	if (len > (SIZE_MAX - 1) / 4) {
		errno = EOVERFLOW;
		goto out;
	}
	if ((esc = malloc(len * 4 + 1)) == NULL)
		goto out;
	log_escape(esc, len * 4 + 1, val, len);
	rc = fprintf(f, "%s=%s\n", key, esc) >= 0;
out:
	free(esc);
	return rc;
}

/* The meta file text for REC, with the given timestamps. */
static int
meta_build(const struct record *rec, time_t created, time_t updated, char **out,
    size_t *outlen)
{
	FILE	*f = NULL;
	char	*buf = NULL, *hex = NULL;
	size_t	 len = 0, i;
	int	 rc = 0, ok;

	*out = NULL;
	*outlen = 0;
	if ((f = open_memstream(&buf, &len)) == NULL)
		goto out;
	ok = meta_put(f, "id", rec->id, strlen(rec->id));
	if (ok && rec->txid != NULL) {
		if (rec->txid_len > (SIZE_MAX - 1) / 2 ||
		    (hex = malloc(rec->txid_len * 2 + 1)) == NULL)
			ok = 0;
		else {
			hex_encode(hex, rec->txid, rec->txid_len);
			ok = meta_put(f, "transaction_id", rec->txid, rec->txid_len) &&
			    meta_put(f, "transaction_id_hex", hex, strlen(hex));
		}
	}
	ok = ok && fprintf(f, "message_type=%d\n", rec->msgtype) >= 0;
	for (i = 0; ok && i < N_META_STRS; i++) {
		const char	*s = *rec_cstr(rec, i);

		ok = meta_put(f, meta_strs[i].key, s, s ? strlen(s) : 0);
	}
	ok = ok && fprintf(f, "created=%lld\nupdated=%lld\n", (long long)created,
	    (long long)updated) >= 0;
	if (ferror(f))
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	f = NULL;
	if (!ok) {
		logx(LOG_LVL_ERR, "record %s: cannot build meta", rec->id);
		goto out;
	}
	if (len > MAX_META) {
		logx(LOG_LVL_ERR, "record %s: meta is %zu bytes, over %d", rec->id, len,
		    MAX_META);
		errno = EFBIG;
		goto out;
	}
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 1;
out:
	if (f != NULL)
		(void)fclose(f);
	free(buf);
	free(hex);
	return rc;
}

/*
 * Undo log_escape(): "\xHH" (either case) is a byte, every other byte stands for itself;
 * any other backslash is an error. The result is malloc'd and NUL-terminated.
 */
static int
unescape(const char *s, size_t len, unsigned char **out, size_t *outlen)
{
	unsigned char	*buf = NULL;
	size_t		 i, o = 0;
	int		 hi, lo;

	if ((buf = malloc(len + 1)) == NULL)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] != '\\') {
			buf[o++] = (unsigned char)s[i];
			continue;
		}
		if (i + 3 >= len || s[i + 1] != 'x' ||
		    (hi = hex_val((unsigned char)s[i + 2])) < 0 ||
		    (lo = hex_val((unsigned char)s[i + 3])) < 0) {
			free(buf);
			errno = EINVAL;
			return 0;
		}
		buf[o++] = (unsigned char)(hi << 4 | lo);
		i += 3;
	}
	buf[o] = '\0';
	*out = buf;
	*outlen = o;
	return 1;
}

static int
hex_decode(const char *s, size_t len, unsigned char **out, size_t *outlen)
{
	unsigned char	*buf = NULL;
	size_t		 i;
	int		 hi, lo;

	if (len % 2 != 0 || (buf = malloc(len / 2 + 1)) == NULL)
		goto bad;
	for (i = 0; i < len; i += 2) {
		if ((hi = hex_val((unsigned char)s[i])) < 0 ||
		    (lo = hex_val((unsigned char)s[i + 1])) < 0)
			goto bad;
		buf[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	*out = buf;
	*outlen = len / 2;
	return 1;
bad:
	free(buf);
	errno = EINVAL;
	return 0;
}

static int
parse_ll(const char *s, long long min, long long max, long long *v)
{
	char	*end;

	if (s[0] == '\0' || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
		return 0;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0' && *v >= min && *v <= max;
}

/*
 * Parse the meta text of record ID. Blank lines and lines starting with '#' are skipped,
 * unknown keys ignored, a malformed line or escape fails the whole record.
 */
static struct record *
meta_parse(const char *id, const char *buf, size_t len)
{
	struct record	*rec = NULL, *ret = NULL;
	unsigned char	*val = NULL, *hex = NULL;
	const char	*line, *eol, *eq;
	size_t		 vlen, hexlen = 0, klen, i;
	long long	 ll;
	int		 lineno = 0, have_id = 0, have_txid = 0;

	if (memchr(buf, '\0', len) != NULL) {
		logx(LOG_LVL_ERR, "record %s: NUL byte in meta", id);
		goto out;
	}
	if ((rec = calloc(1, sizeof(*rec))) == NULL)
		goto out;
	rec->state = RS_NONE;
	for (line = buf; line < buf + len; line = eol + 1) {
		lineno++;
		if ((eol = memchr(line, '\n', (size_t)(buf + len - line))) == NULL)
			eol = buf + len;
		if (line == eol || line[0] == '#')
			continue;
		if ((eq = memchr(line, '=', (size_t)(eol - line))) == NULL)
			goto bad;
		klen = (size_t)(eq - line);
		free(val);
		val = NULL;
		if (!unescape(eq + 1, (size_t)(eol - eq - 1), &val, &vlen))
			goto bad;

#define KEY(k)	(klen == strlen(k) && memcmp(line, (k), klen) == 0)
		if (KEY("id")) {
			if (strcmp((char *)val, id) != 0) {
				logx(LOG_LVL_ERR, "record %s: meta says id %.64s", id,
				    (char *)val);
				errno = EINVAL;
				goto out;
			}
			have_id = 1;
		} else if (KEY("transaction_id")) {
			free(rec->txid);
			rec->txid = val;
			rec->txid_len = vlen;
			val = NULL;
			have_txid = 1;
		} else if (KEY("transaction_id_hex")) {
			free(hex);
			hex = NULL;
			if (!hex_decode((char *)val, vlen, &hex, &hexlen))
				goto bad;
		} else if (KEY("message_type")) {
			if (!parse_ll((char *)val, INT_MIN, INT_MAX, &ll))
				goto bad;
			rec->msgtype = (int)ll;
		} else if (KEY("created") || KEY("updated")) {
			if (!parse_ll((char *)val, LLONG_MIN, LLONG_MAX, &ll) ||
			    (long long)(time_t)ll != ll)
				goto bad;
			if (KEY("created"))
				rec->created = (time_t)ll;
			else
				rec->updated = (time_t)ll;
		} else {
			for (i = 0; i < N_META_STRS; i++)
				if (KEY(meta_strs[i].key))
					break;
			if (i == N_META_STRS)
				continue;	/* unknown key: a newer writer */
			if (strlen((char *)val) != vlen)
				goto bad;	/* NUL inside a string field */
			free(*rec_str(rec, i));
			*rec_str(rec, i) = (char *)val;
			val = NULL;
		}
#undef KEY
	}
	if (!have_id) {
		logx(LOG_LVL_ERR, "record %s: meta has no id", id);
		errno = EINVAL;
		goto out;
	}
	if (hex != NULL) {
		if (!have_txid) {
			rec->txid = hex;
			rec->txid_len = hexlen;
			hex = NULL;
		} else if (hexlen != rec->txid_len || memcmp(hex, rec->txid, hexlen) != 0) {
			logx(LOG_LVL_ERR, "record %s: transaction_id and "
			    "transaction_id_hex differ", id);
			errno = EINVAL;
			goto out;
		}
	}
	memcpy(rec->id, id, REPO_ID_LEN + 1);
	ret = rec;
	rec = NULL;
	goto out;
bad:
	logx(LOG_LVL_ERR, "record %s: meta line %d is malformed", id, lineno);
	errno = EINVAL;
out:
	free(val);
	free(hex);
	record_free(rec);
	return ret;
}

/* Read one blob of a record; a missing file leaves it NULL. */
static int
blob_read(struct repo *r, enum rstate st, const char *id, const char *name,
    unsigned char **buf, size_t *len)
{
	char	path[MAX_PATH_LEN];

	if (!rec_path(r, path, sizeof(path), st, id, name))
		return 0;
	if (repo_read_file(path, buf, len, MAX_BLOB))
		return 1;
	if (errno != ENOENT)
		return 0;
	*buf = NULL;
	*len = 0;
	return 1;
}

/* The record ID as it is in state ST. NULL and errno ENOENT if it is not there. */
static struct record *
record_read(struct repo *r, const char *id, enum rstate st, int with_blobs)
{
	struct record	*rec = NULL, *ret = NULL;
	unsigned char	*buf = NULL;
	char		 path[MAX_PATH_LEN];
	size_t		 len;

	if (!rec_path(r, path, sizeof(path), st, id, REC_META) ||
	    !repo_read_file(path, &buf, &len, MAX_META))
		goto out;
	if ((rec = meta_parse(id, (char *)buf, len)) == NULL)
		goto out;
	rec->state = st;
	if (with_blobs &&
	    (!blob_read(r, st, id, REC_CSR, &rec->csr_der, &rec->csr_len) ||
	    !blob_read(r, st, id, REC_SIGNER, &rec->signer_der, &rec->signer_len) ||
	    !blob_read(r, st, id, REC_CERT, &rec->cert_der, &rec->cert_len) ||
	    !blob_read(r, st, id, REC_REQUEST, &rec->request_der, &rec->request_len)))
		goto out;
	ret = rec;
	rec = NULL;
out:
	free(buf);
	record_free(rec);
	return ret;
}

/*
 * Without the lock a record can move while it is read: read it where it is, then check it
 * is still there, and start again if it moved.
 */
struct record *
repo_record_load(struct repo *r, const char *id, int with_blobs)
{
	struct record	*rec = NULL, *ret = NULL;
	enum rstate	 st;
	int		 try;

	for (try = 0; try < LOAD_RETRIES; try++) {
		record_free(rec);
		rec = NULL;
		if ((st = repo_find(r, id)) == RS_NONE) {
			errno = ENOENT;
			goto out;
		}
		if ((rec = record_read(r, id, st, with_blobs)) == NULL) {
			if (errno == ENOENT)
				continue;
			goto out;
		}
		if (repo_find(r, id) == st) {
			ret = rec;
			rec = NULL;
			goto out;
		}
	}
	logx(LOG_LVL_WARN, "record %s keeps moving, giving up", id);
	errno = EAGAIN;
out:
	record_free(rec);
	return ret;
}

static const char *
msgtype_name(int t)
{
	switch (t) {
	case MT_CERTREP:	return "CertRep";
	case MT_RENEWALREQ:	return "RenewalReq";
	case MT_UPDATEREQ:	return "UpdateReq";
	case MT_PKCSREQ:	return "PKCSReq";
	case MT_CERTPOLL:	return "CertPoll";
	case MT_GETCERT:	return "GetCert";
	case MT_GETCRL:		return "GetCRL";
	default:		return "unknown";
	}
}

static void
print_kv(FILE *f, const char *key, const void *val, size_t len)
{
	char	*esc;

	if (val == NULL || len > (SIZE_MAX - 1) / 4 || (esc = malloc(len * 4 + 1)) == NULL)
		return;
	log_escape(esc, len * 4 + 1, val, len);
	fprintf(f, "%s: %s\n", key, esc);
	free(esc);
}

static void
print_time(FILE *f, const char *key, time_t t)
{
	struct tm	tm;
	char		buf[32];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		fprintf(f, "%s: %lld\n", key, (long long)t);
	else
		fprintf(f, "%s: %s\n", key, buf);
}

/*
 * "key: value" lines, values escaped like log lines. Unset fields are left out; blob lines
 * ("csr: N bytes") appear only when the blobs were loaded.
 */
void
record_print(const struct record *rec, FILE *f)
{
	char	*hex = NULL;
	size_t	 i;

	if (rec == NULL || f == NULL)
		return;
	fprintf(f, "id: %s\n", repo_id_valid(rec->id) ? rec->id : "-");
	fprintf(f, "state: %s\n", rstate_name(rec->state));
	if (rec->txid != NULL) {
		print_kv(f, "transaction_id", rec->txid, rec->txid_len);
		if (rec->txid_len <= (SIZE_MAX - 1) / 2 &&
		    (hex = malloc(rec->txid_len * 2 + 1)) != NULL) {
			hex_encode(hex, rec->txid, rec->txid_len);
			fprintf(f, "transaction_id_hex: %s\n", hex);
		}
	}
	fprintf(f, "message_type: %d (%s)\n", rec->msgtype, msgtype_name(rec->msgtype));
	for (i = 0; i < N_META_STRS; i++) {
		const char	*s = *rec_cstr(rec, i);

		if (s != NULL)
			print_kv(f, meta_strs[i].key, s, strlen(s));
	}
	print_time(f, "created", rec->created);
	print_time(f, "updated", rec->updated);
	if (rec->request_der != NULL)
		fprintf(f, "request: %zu bytes\n", rec->request_len);
	if (rec->csr_der != NULL)
		fprintf(f, "csr: %zu bytes\n", rec->csr_len);
	if (rec->signer_der != NULL)
		fprintf(f, "signer: %zu bytes\n", rec->signer_len);
	if (rec->cert_der != NULL)
		fprintf(f, "cert: %zu bytes\n", rec->cert_len);
	free(hex);
}

/*
 * Build the record in tmp/, fully synced, then rename it into its state: a record is either
 * whole or absent, whatever crashes when.
 */
int
repo_record_create(struct repo *r, const struct record *rec, enum rstate st)
{
	char	 stage[MAX_PATH_LEN], dst[MAX_PATH_LEN], sdir[MAX_PATH_LEN];
	char	*meta = NULL;
	size_t	 metalen = 0;
	time_t	 created, updated;
	int	 rc = 0, saved;

	stage[0] = '\0';
	if (rec == NULL || !state_ok(st) || !repo_id_valid(rec->id)) {
		logx(LOG_LVL_ERR, "record create: invalid record or state");
		errno = EINVAL;
		goto out;
	}
	created = rec->created != 0 ? rec->created : time(NULL);
	updated = rec->updated != 0 ? rec->updated : created;
	if (!meta_build(rec, created, updated, &meta, &metalen))
		goto out;
	if (!rec_path(r, dst, sizeof(dst), st, rec->id, NULL) ||
	    !path_join(sdir, sizeof(sdir), r->root, state_dirs[st], NULL, NULL) ||
	    !path_join(stage, sizeof(stage), r->root, "tmp", "rec-XXXXXX", NULL))
		goto out;
	if (mkdtemp(stage) == NULL) {
		logx(LOG_LVL_ERR, "mkdtemp %s: %s", stage, strerror(errno));
		stage[0] = '\0';
		goto out;
	}
	if (chmod(stage, DIR_MODE) == -1 ||
	    !write_new(stage, REC_META, meta, metalen) ||
	    !write_new(stage, REC_REQUEST, rec->request_der, rec->request_len) ||
	    !write_new(stage, REC_CSR, rec->csr_der, rec->csr_len) ||
	    !write_new(stage, REC_SIGNER, rec->signer_der, rec->signer_len) ||
	    !write_new(stage, REC_CERT, rec->cert_der, rec->cert_len) ||
	    !fsync_dir(stage))
		goto out;
	if (repo_find(r, rec->id) != RS_NONE) {
		errno = EEXIST;
		goto out;
	}
	if (rename(stage, dst) == -1) {
		if (errno == ENOTEMPTY)
			errno = EEXIST;
		logx(LOG_LVL_ERR, "rename %s %s: %s", stage, dst, strerror(errno));
		goto out;
	}
	stage[0] = '\0';
	if (!fsync_dir(sdir))
		goto out;
	rc = 1;
out:
	saved = errno;
	if (stage[0] != '\0')
		remove_flat_dir(stage);
	free(meta);
	errno = saved;
	return rc;
}

int
repo_move(struct repo *r, const char *id, enum rstate from, enum rstate to)
{
	char		src[MAX_PATH_LEN], dst[MAX_PATH_LEN];
	char		fdir[MAX_PATH_LEN], tdir[MAX_PATH_LEN];
	struct stat	sb;

	if (from == to || !rec_path(r, src, sizeof(src), from, id, NULL) ||
	    !rec_path(r, dst, sizeof(dst), to, id, NULL) ||
	    !path_join(fdir, sizeof(fdir), r->root, state_dirs[from], NULL, NULL) ||
	    !path_join(tdir, sizeof(tdir), r->root, state_dirs[to], NULL, NULL)) {
		errno = EINVAL;
		return 0;
	}
	/* rename(2) would replace an empty directory: refuse any existing target. */
	if (lstat(dst, &sb) == 0) {
		logx(LOG_LVL_ERR, "move %s: already in %s", id, state_dirs[to]);
		errno = EEXIST;
		return 0;
	}
	if (rename(src, dst) == -1) {
		if (errno != ENOENT)
			logx(LOG_LVL_ERR, "rename %s %s: %s", src, dst, strerror(errno));
		return 0;
	}
	return fsync_dir(tdir) && fsync_dir(fdir);
}

/* Rewrite the meta of REC in state ST; updated is now, created kept (now if unset). */
static int
meta_write(struct repo *r, const struct record *rec, enum rstate st)
{
	char	 path[MAX_PATH_LEN];
	char	*meta = NULL;
	size_t	 metalen;
	time_t	 now = time(NULL);
	int	 rc = 0;

	if (!rec_path(r, path, sizeof(path), st, rec->id, REC_META) ||
	    !meta_build(rec, rec->created != 0 ? rec->created : now, now, &meta, &metalen))
		goto out;
	rc = write_atomic(path, meta, metalen, FILE_MODE, 0);
out:
	free(meta);
	return rc;
}

int
repo_record_update(struct repo *r, const struct record *rec)
{
	enum rstate	st;

	if (rec == NULL || !repo_id_valid(rec->id)) {
		errno = EINVAL;
		return 0;
	}
	if ((st = repo_find(r, rec->id)) == RS_NONE) {
		logx(LOG_LVL_ERR, "record %s: not found for update", rec->id);
		errno = ENOENT;
		return 0;
	}
	return meta_write(r, rec, st);
}

/*
 * The serial file holds the next serial (OpenSSL `ca` format: hex, whole octets, newline).
 * It is read, returned normalized, and replaced by its successor.
 */
int
repo_serial_next(struct repo *r, char *out, size_t outlen)
{
	char		 path[MAX_PATH_LEN], cur[MAX_SERIAL_HEX + 2], next[MAX_SERIAL_HEX + 2];
	char		 line[MAX_SERIAL_HEX + 4];
	unsigned char	*buf = NULL;
	char		*hex = NULL;
	BIGNUM		*bn = NULL;
	size_t		 len;
	int		 rc = 0, saved;

	if (!path_join(path, sizeof(path), r->root, "serial", NULL, NULL) ||
	    !repo_read_file(path, &buf, &len, MAX_COUNTER))
		goto out;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
	    buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		buf[--len] = '\0';
	if (strlen((char *)buf) != len || !serial_normalize((char *)buf, cur, sizeof(cur))) {
		logx(LOG_LVL_ERR, "%s: not a hex serial", path);
		errno = EINVAL;
		goto out;
	}
	if (strcmp(cur, "00") == 0) {
		/* RFC 5280 §4.1.2.2: serial numbers are positive. */
		logx(LOG_LVL_ERR, "%s: serial is zero", path);
		errno = EINVAL;
		goto out;
	}
	if (strlen(cur) + 1 > outlen) {
		errno = ERANGE;
		goto out;
	}
	if (BN_hex2bn(&bn, cur) != (int)strlen(cur) || !BN_add_word(bn, 1) ||
	    (hex = BN_bn2hex(bn)) == NULL) {
		log_crypto(LOG_LVL_ERR, "%s: serial arithmetic", path);
		errno = ENOMEM;
		goto out;
	}
	if (!serial_normalize(hex, next, sizeof(next))) {
		logx(LOG_LVL_ERR, "%s: serial overflows %d digits", path, MAX_SERIAL_HEX);
		goto out;
	}
	(void)snprintf(line, sizeof(line), "%s\n", next);
	if (!write_atomic(path, line, strlen(line), FILE_MODE, 0))
		goto out;
	memcpy(out, cur, strlen(cur) + 1);
	rc = 1;
out:
	saved = errno;
	free(buf);
	OPENSSL_free(hex);
	BN_free(bn);
	errno = saved;
	return rc;
}

/*
 * index.txt expiry: UTCTime YYMMDDHHMMSSZ for 1950..2049, GeneralizedTime otherwise
 * (RFC 5280 §4.1.2.5), as `openssl ca` writes it.
 */
static int
index_time(char *buf, size_t len, time_t t)
{
	struct tm	tm;
	int		year, n;

	if (gmtime_r(&t, &tm) == NULL)
		return 0;
	year = tm.tm_year + 1900;
	n = snprintf(buf, len, "%0*d%02d%02d%02d%02d%02dZ",
	    (year >= 1950 && year < 2050) ? 2 : 4,
	    (year >= 1950 && year < 2050) ? year % 100 : year,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return n > 0 && (size_t)n < len && year >= 0 && year <= 9999;
}

/* Append one line to index.txt; a failed write is cut back so no half line remains. */
static int
index_append(struct repo *r, const char *line)
{
	char		path[MAX_PATH_LEN];
	struct stat	sb;
	int		fd = -1, rc = 0, saved, have_size = 0;

	if (!path_join(path, sizeof(path), r->root, "index.txt", NULL, NULL))
		goto out;
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, FILE_MODE)) == -1 ||
	    fstat(fd, &sb) == -1)
		goto out;
	have_size = 1;
	if (!write_all(fd, line, strlen(line)) || !fsync_fd(fd))
		goto out;
	rc = close(fd) == 0;
	fd = -1;
out:
	saved = errno;
	if (!rc) {
		logx(LOG_LVL_ERR, "append %s: %s", path, strerror(saved));
		if (fd != -1 && have_size && ftruncate(fd, sb.st_size) == -1)
			logx(LOG_LVL_ERR, "truncate %s: %s", path, strerror(errno));
	}
	if (fd != -1)
		(void)close(fd);
	errno = saved;
	return rc;
}

/* A subject for index.txt: control and non-ASCII bytes become \xHH, as oneline does. */
static char *
index_subject(const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			*out;
	size_t			 len = strlen(s), o = 0, i;

	if (len > (SIZE_MAX - 1) / 4 || (out = malloc(len * 4 + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		unsigned char	c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0x0f];
		} else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

int
repo_store_cert(struct repo *r, const char *id, const char *serial,
    const unsigned char *der, size_t derlen, time_t not_after, const char *subject_oneline)
{
	char			 sn[MAX_SERIAL_HEX + 2], path[MAX_PATH_LEN], when[32];
	const unsigned char	*p = der;
	unsigned char		*old = NULL;
	size_t			 oldlen = 0;
	X509			*x = NULL;
	BIO			*bio = NULL;
	char			*pem = NULL, *oneline = NULL, *subj = NULL, *line = NULL;
	struct record		*rec = NULL;
	struct tm		 tm;
	enum rstate		 st;
	long			 pemlen;
	size_t			 linelen;
	int			 rc = 0, saved;

	if (!repo_id_valid(id) || !serial_normalize(serial, sn, sizeof(sn)) ||
	    der == NULL || derlen == 0 || derlen > LONG_MAX) {
		logx(LOG_LVL_ERR, "store cert: invalid id, serial or certificate");
		errno = EINVAL;
		goto out;
	}
	if ((x = d2i_X509(NULL, &p, (long)derlen)) == NULL || p != der + derlen) {
		log_crypto(LOG_LVL_ERR, "store cert %s: not one DER certificate", sn);
		errno = EINVAL;
		goto out;
	}
	if (not_after == 0) {
		if (!ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm)) {
			log_crypto(LOG_LVL_ERR, "store cert %s: notAfter", sn);
			errno = EINVAL;
			goto out;
		}
		not_after = timegm(&tm);
	}
	if (!index_time(when, sizeof(when), not_after)) {
		errno = EINVAL;
		goto out;
	}
	if (subject_oneline == NULL) {
		if ((oneline = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0)) == NULL) {
			log_crypto(LOG_LVL_ERR, "store cert %s: subject", sn);
			errno = ENOMEM;
			goto out;
		}
		subject_oneline = oneline;
	}
	if ((subj = index_subject(subject_oneline)) == NULL)
		goto out;

	if ((st = repo_find(r, id)) == RS_NONE) {
		logx(LOG_LVL_ERR, "store cert %s: record %s not found", sn, id);
		errno = ENOENT;
		goto out;
	}

	/* certs/<SERIAL>.pem: never replaced by a different certificate. */
	if ((bio = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_X509(bio, x) ||
	    (pemlen = BIO_get_mem_data(bio, &pem)) <= 0) {
		log_crypto(LOG_LVL_ERR, "store cert %s: PEM", sn);
		errno = ENOMEM;
		goto out;
	}
	if (!cert_path(r, path, sizeof(path), sn))
		goto out;
	if (!write_atomic(path, pem, (size_t)pemlen, FILE_MODE, 1)) {
		if (errno != EEXIST)
			goto out;
		if (!repo_read_file(path, &old, &oldlen, MAX_BLOB))
			goto out;
		if (oldlen != (size_t)pemlen || memcmp(old, pem, oldlen) != 0) {
			logx(LOG_LVL_ERR, "%s exists with another certificate", path);
			errno = EEXIST;
			goto out;
		}
	}

	if (!rec_path(r, path, sizeof(path), st, id, REC_CERT) ||
	    !write_atomic(path, der, derlen, FILE_MODE, 0))
		goto out;
	if ((rec = record_read(r, id, st, 0)) == NULL)
		goto out;
	free(rec->serial);
	if ((rec->serial = strdup(sn)) == NULL || !meta_write(r, rec, st))
		goto out;

	/* V, expiry, no revocation date, serial, file name, subject (`openssl ca`). */
	linelen = strlen(when) + strlen(sn) + strlen(subj) + 32;
	if ((line = malloc(linelen)) == NULL)
		goto out;
	(void)snprintf(line, linelen, "V\t%s\t\t%s\tunknown\t%s\n", when, sn, subj);
	if (!index_append(r, line))
		goto out;
	rc = 1;
out:
	saved = errno;
	X509_free(x);
	BIO_free(bio);
	OPENSSL_free(oneline);
	free(subj);
	free(old);
	free(line);
	record_free(rec);
	errno = saved;
	return rc;
}

/* The DER is malloc'd (free it with free()). 0 with errno ENOENT if there is no such cert. */
int
repo_cert_by_serial(struct repo *r, const char *serial, unsigned char **der, size_t *len)
{
	char		 path[MAX_PATH_LEN];
	unsigned char	*pem = NULL, *out = NULL, *p;
	size_t		 pemlen;
	BIO		*bio = NULL;
	X509		*x = NULL;
	int		 n, rc = 0, saved;

	*der = NULL;
	*len = 0;
	if (!cert_path(r, path, sizeof(path), serial) ||
	    !repo_read_file(path, &pem, &pemlen, MAX_BLOB))
		goto out;
	if ((bio = BIO_new_mem_buf(pem, (int)pemlen)) == NULL ||
	    (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL ||
	    (n = i2d_X509(x, NULL)) <= 0) {
		log_crypto(LOG_LVL_ERR, "%s: not a PEM certificate", path);
		errno = EINVAL;
		goto out;
	}
	if ((out = malloc((size_t)n)) == NULL)
		goto out;
	p = out;
	if (i2d_X509(x, &p) != n) {
		log_crypto(LOG_LVL_ERR, "%s: DER encoding", path);
		errno = EINVAL;
		goto out;
	}
	*der = out;
	*len = (size_t)n;
	out = NULL;
	rc = 1;
out:
	saved = errno;
	free(pem);
	free(out);
	BIO_free(bio);
	X509_free(x);
	errno = saved;
	return rc;
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
	char		  path[MAX_PATH_LEN];
	DIR		 *d = NULL;
	struct dirent	 *de;
	char		**ids = NULL, **nids;
	size_t		  n = 0, cap = 0, i;
	int		  rc = -1, saved;

	if (!state_ok(st) ||
	    !path_join(path, sizeof(path), r->root, state_dirs[st], NULL, NULL)) {
		errno = EINVAL;
		goto out;
	}
	if ((d = opendir(path)) == NULL)
		goto err;
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0)
				goto err;
			break;
		}
		if (!repo_id_valid(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nids = reallocarray(ids, cap, sizeof(*ids))) == NULL)
				goto err;
			ids = nids;
		}
		if ((ids[n] = strdup(de->d_name)) == NULL)
			goto err;
		n++;
	}
	(void)closedir(d);
	d = NULL;
	if (n > 0)
		qsort(ids, n, sizeof(*ids), cmp_names);
	rc = 0;
	for (i = 0; i < n; i++)
		if ((rc = fn(ids[i], arg)) != 0)
			break;
	goto out;
err:
	logx(LOG_LVL_ERR, "read %s: %s", path, strerror(errno));
out:
	saved = errno;
	if (d != NULL)
		(void)closedir(d);
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	errno = saved;
	return rc;
}
