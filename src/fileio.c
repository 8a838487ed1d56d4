/*
 * File and directory primitives under the repository: paths built from checked components,
 * whole files replaced atomically (temp file in the same directory, fsync, rename, fsync the
 * directory) and read back with a size cap, directories created, listed and removed.
 * Nothing here knows the repository's layout.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "repo.h"

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
int
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

/* The directory part of PATH ("." if none). */
int
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

/* write(2) all of BUF, through EINTR and short writes. */
int
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

int
fsync_fd(int fd)
{
	while (fsync(fd) == -1)
		if (errno != EINTR)
			return 0;
	return 1;
}

int
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
int
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

/* Remove a flat directory (a staging record) and everything in it. */
void
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

/* mkdir that accepts an existing directory; the mode is forced only on creation. */
int
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

void
repo_strv_free(char **v, size_t n)
{
	size_t	i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * The names in DIR (without "." and ".."), for which OK holds if OK is given, in readdir
 * order. 0 with errno set if DIR cannot be read; ENOENT (no such directory) is not logged.
 */
int
dir_list(const char *dir, int (*ok)(const char *), char ***out, size_t *np)
{
	DIR		 *d;
	struct dirent	 *de;
	char		**v = NULL, **nv;
	size_t		  n = 0, cap = 0;
	int		  saved;

	*out = NULL;
	*np = 0;
	if ((d = opendir(dir)) == NULL)
		goto err;
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0)
				goto err;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    (ok != NULL && !ok(de->d_name)))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL)
				goto err;
			v = nv;
		}
		if ((v[n] = strdup(de->d_name)) == NULL)
			goto err;
		n++;
	}
	(void)closedir(d);
	*out = v;
	*np = n;
	return 1;
err:
	saved = errno;
	if (saved != ENOENT)
		logx(LOG_LVL_ERR, "read %s: %s", dir, strerror(saved));
	if (d != NULL)
		(void)closedir(d);
	repo_strv_free(v, n);
	errno = saved;
	return 0;
}
