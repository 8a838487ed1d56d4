/*
 * Files and directories for the repository and the CA files (fileio.h): atomic whole-file
 * writes, capped reads, directories made, listed and removed. Nothing here prints: errors
 * go to errno and, where the caller passes a buffer, into one sentence (errf_sys()).
 */
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "scep.h"

/* A single path component we are willing to put in a path. */
static int
name_ok(const char *s)
{
	return s[0] != '\0' && strchr(s, '/') == NULL &&
	    strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

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
fsync_dir(const char *dir, char *err, size_t errlen)
{
	int	fd, saved;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return errf_sys(err, errlen, "cannot open %s", dir);
	if (!fsync_fd(fd)) {
		saved = errno;
		(void)close(fd);
		errno = saved;
		return errf_sys(err, errlen, "cannot fsync %s", dir);
	}
	(void)close(fd);
	return 1;
}

/*
 * The temp file is renamed over PATH, or, if NOREPLACE, linked to PATH, which fails with
 * EEXIST when PATH exists (a rename would replace it).
 */
static int
write_atomic(const char *path, const void *buf, size_t len, int mode, int noreplace,
    char *err, size_t errlen)
{
	char	dir[MAX_PATH_LEN], tmp[MAX_PATH_LEN];
	int	fd = -1, saved;

	tmp[0] = '\0';
	if (path == NULL || (buf == NULL && len > 0)) {
		errno = EINVAL;
		return errf_sys(err, errlen, "cannot write %s", path ? path : "(null)");
	}
	if (!dir_of(path, dir, sizeof(dir)) ||
	    !path_join(tmp, sizeof(tmp), dir, ".tmp-XXXXXX", NULL, NULL))
		goto fail;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		tmp[0] = '\0';
		goto fail;
	}
	if (fchmod(fd, (mode_t)mode) == -1 || !write_all(fd, buf, len) || !fsync_fd(fd))
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (noreplace) {
		if (link(tmp, path) == -1)
			goto fail;
		(void)unlink(tmp);
	} else if (rename(tmp, path) == -1)
		goto fail;
	tmp[0] = '\0';
	return fsync_dir(dir, err, errlen);
fail:
	saved = errno;
	if (fd != -1)
		(void)close(fd);
	if (tmp[0] != '\0')
		(void)unlink(tmp);
	errno = saved;
	return errf_sys(err, errlen, "cannot write %s", path);
}

int
write_file(const char *path, const void *buf, size_t len, int mode, char *err,
    size_t errlen)
{
	return write_atomic(path, buf, len, mode, 0, err, errlen);
}

int
create_file(const char *path, const void *buf, size_t len, int mode, char *err,
    size_t errlen)
{
	return write_atomic(path, buf, len, mode, 1, err, errlen);
}

int
read_fd(int fd, unsigned char **bufp, size_t *lenp, size_t max)
{
	unsigned char	*buf = NULL, *nbuf;
	struct stat	 sb;
	size_t		 len = 0, cap, ncap;
	ssize_t		 n;
	int		 saved;

	if (max > SIZE_MAX / 4)
		max = SIZE_MAX / 4;
	if (fstat(fd, &sb) == -1)
		return 0;
	if (!S_ISREG(sb.st_mode)) {
		errno = EINVAL;
		return 0;
	}
	if (sb.st_size < 0 || (unsigned long long)sb.st_size > max) {
		errno = EFBIG;
		return 0;
	}
	cap = (size_t)sb.st_size + 1;
	if ((buf = malloc(cap)) == NULL)
		return 0;
	for (;;) {
		if (len == cap - 1) {
			/* Full: the file grew since fstat, or we are at EOF. */
			if (len > max) {
				errno = EFBIG;
				goto fail;
			}
			ncap = cap * 2 > max + 2 ? max + 2 : cap * 2;
			if ((nbuf = realloc(buf, ncap)) == NULL)
				goto fail;
			buf = nbuf;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		errno = EFBIG;
		goto fail;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 1;
fail:
	saved = errno;
	free(buf);
	errno = saved;
	return 0;
}

int
read_file(const char *path, unsigned char **bufp, size_t *lenp, size_t max, char *err,
    size_t errlen)
{
	int	fd = -1, rc = 0, saved;

	if (bufp == NULL || lenp == NULL || path == NULL) {
		errno = EINVAL;
		goto out;
	}
	*bufp = NULL;
	*lenp = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		goto out;
	rc = read_fd(fd, bufp, lenp, max);
out:
	saved = errno;
	if (fd != -1)
		(void)close(fd);
	errno = saved;
	if (!rc)
		(void)errf_sys(err, errlen, "cannot read %s", path ? path : "(null)");
	return rc;
}

int
read_file_at(int dfd, const char *name, unsigned char **bufp, size_t *lenp, size_t max)
{
	int	fd, rc, saved;

	*bufp = NULL;
	*lenp = 0;
	if ((fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return 0;
	rc = read_fd(fd, bufp, lenp, max);
	saved = errno;
	(void)close(fd);
	errno = saved;
	return rc;
}

/* The first failure is the one reported; the removal goes on past it. */
int
remove_flat_dir(const char *dir, char *err, size_t errlen)
{
	DIR		*d;
	struct dirent	*de;
	int		 ok = 1;

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (unlinkat(dirfd(d), de->d_name, 0) == -1 && errno != ENOENT && ok)
				ok = errf_sys(err, errlen, "cannot remove %s/%s", dir,
				    de->d_name);
		}
		(void)closedir(d);
	}
	if (rmdir(dir) == -1 && errno != ENOENT && ok)
		ok = errf_sys(err, errlen, "cannot remove %s", dir);
	return ok;
}

/* The mode is set with chmod(2) after mkdir(2), so the umask does not narrow it. */
int
make_dir(const char *path, mode_t mode, char *err, size_t errlen)
{
	char		parent[MAX_PATH_LEN];
	struct stat	sb;

	if (mkdir(path, mode) == 0) {
		if (chmod(path, mode) == -1)
			return errf_sys(err, errlen, "cannot chmod %s", path);
		if (!dir_of(path, parent, sizeof(parent)))
			return errf_sys(err, errlen, "cannot fsync the parent of %s", path);
		return fsync_dir(parent, err, errlen);
	}
	if (errno == EEXIST) {
		if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			return 1;
		if (errno == EEXIST)
			errno = ENOTDIR;
	}
	return errf_sys(err, errlen, "cannot create directory %s", path);
}

void
strv_free(char **v, size_t n)
{
	size_t	i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int
dir_list(const char *dir, int (*ok)(const char *), char ***out, size_t *np, char *err,
    size_t errlen)
{
	DIR		 *d;
	struct dirent	 *de;
	char		**v = NULL, **nv;
	size_t		  n = 0, cap = 0;
	int		  saved;

	*out = NULL;
	*np = 0;
	if ((d = opendir(dir)) == NULL)
		goto fail;
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0)
				goto fail;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    (ok != NULL && !ok(de->d_name)))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL)
				goto fail;
			v = nv;
		}
		if ((v[n] = strdup(de->d_name)) == NULL)
			goto fail;
		n++;
	}
	(void)closedir(d);
	*out = v;
	*np = n;
	return 1;
fail:
	saved = errno;
	if (d != NULL)
		(void)closedir(d);
	strv_free(v, n);
	errno = saved;
	return errf_sys(err, errlen, "cannot read directory %s", dir);
}

int
dir_open(const char *path)
{
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int
temp_write_at(int dfd, const char *prefix, char *name, size_t namelen, const void *buf,
    size_t len, int mode)
{
	unsigned char	rnd[8];
	char		hex[sizeof(rnd) * 2 + 1];
	int		fd = -1, try, saved;

	for (try = 0; try < 8; try++) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return -1;
		hex_encode(hex, rnd, sizeof(rnd));
		if ((size_t)snprintf(name, namelen, "%s%s", prefix, hex) >= namelen) {
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
		if (fd != -1 || errno != EEXIST)
			break;
	}
	if (fd == -1)
		return -1;
	/* The mode is set with fchmod(2), so the umask does not narrow it. */
	if (fchmod(fd, (mode_t)mode) == -1 || !write_all(fd, buf, len)) {
		saved = errno;
		(void)close(fd);
		(void)unlinkat(dfd, name, 0);
		errno = saved;
		return -1;
	}
	return fd;
}

struct sync_job {
	const struct sync_req	*req;
	int			 err;		/* errno of the failure, or 0 */
};

static int
sync_one(const struct sync_req *q)
{
	for (;;) {
		if ((q->data ? fdatasync(q->fd) : fsync(q->fd)) == 0)
			return 0;
		if (errno != EINTR)
			return errno;
	}
}

static void *
sync_thread(void *arg)
{
	struct sync_job	*j = arg;

	j->err = sync_one(j->req);
	return NULL;
}

/* Threads with small stacks: they only make one system call. */
#define SYNC_STACK	(64 * 1024)
#define SYNC_MAX	8

int
sync_all(const struct sync_req *req, size_t n)
{
	struct sync_job	job[SYNC_MAX];
	pthread_t	tid[SYNC_MAX];
	pthread_attr_t	attr;
	int		started[SYNC_MAX], err = 0, e, attr_ok;
	size_t		i;

	if (n > SYNC_MAX) {
		/* Never asked for; the rest one after the other rather than fail. */
		for (i = SYNC_MAX; i < n; i++)
			if ((e = sync_one(&req[i])) != 0 && err == 0)
				err = e;
		n = SYNC_MAX;
	}
	if ((attr_ok = pthread_attr_init(&attr) == 0))
		(void)pthread_attr_setstacksize(&attr, SYNC_STACK);
	for (i = 0; i < n; i++) {
		job[i].req = &req[i];
		job[i].err = 0;
		started[i] = i + 1 < n && pthread_create(&tid[i], attr_ok ? &attr : NULL,
		    sync_thread, &job[i]) == 0;
	}
	/* The last one, and any a thread could not be started for, in this thread. */
	for (i = 0; i < n; i++)
		if (!started[i])
			job[i].err = sync_one(&req[i]);
	for (i = 0; i < n; i++)
		if (started[i])
			(void)pthread_join(tid[i], NULL);
	if (attr_ok)
		(void)pthread_attr_destroy(&attr);
	for (i = 0; i < n && err == 0; i++)
		err = job[i].err;
	if (err != 0) {
		errno = err;
		return 0;
	}
	return 1;
}
