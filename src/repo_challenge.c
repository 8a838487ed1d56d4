/*
 * One-time challenge passwords: challenges/<hash> holds the expiry of a secret the
 * administrator handed out; consuming it is a rename(2) to challenges/used/, which exactly
 * one of any number of concurrent presenters wins.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "repo_int.h"

/* challenges/<hash> or challenges/used/<hash>; a hash has the shape of a record id. */
static int
chal_path(const struct repo *r, char *buf, size_t len, int used, const char *hash)
{
	if (!repo_id_valid(hash)) {
		if (len > 0)
			buf[0] = '\0';
		errno = EINVAL;
		return 0;
	}
	return used ? path_join(buf, len, r->root, "challenges", "used", hash) :
	    path_join(buf, len, r->root, "challenges", hash, NULL);
}

/* The expiry in a challenge file: decimal Unix seconds and a newline. */
static int
chal_expiry(const char *path, time_t *t)
{
	unsigned char	*buf = NULL;
	size_t		 len;
	long long	 v;
	int		 ok = 0;

	if (!get_file(path, &buf, &len, MAX_SMALL))
		return 0;
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (strlen((char *)buf) == len && parse_ll((char *)buf, LLONG_MIN, LLONG_MAX, &v) &&
	    (long long)(time_t)v == v) {
		*t = (time_t)v;
		ok = 1;
	} else {
		logx(LOG_LVL_ERR, "%s: not an expiry time", path);
		errno = EINVAL;
	}
	free(buf);
	return ok;
}

int
repo_challenge_add(struct repo *r, const char *hash, time_t expires)
{
	char		path[MAX_PATH_LEN], used[MAX_PATH_LEN], text[32];
	struct stat	sb;

	if (!chal_path(r, path, sizeof(path), 0, hash) ||
	    !chal_path(r, used, sizeof(used), 1, hash)) {
		logx(LOG_LVL_ERR, "challenge: not a hex SHA-256");
		return 0;
	}
	if (!ensure_dir(r, "challenges", NULL) || !ensure_dir(r, "challenges", "used"))
		return 0;
	if (lstat(used, &sb) == 0) {
		errno = EEXIST;		/* the same secret again, too soon */
		return 0;
	}
	(void)snprintf(text, sizeof(text), "%lld\n", (long long)expires);
	return put_file(path, text, strlen(text), 1);
}

/* fsync(2) directories A and B at once. */
static int
sync_pair(const char *a, const char *b)
{
	struct sync_req	q[2];
	int		ok;

	q[0].fd = dir_open(a);
	q[1].fd = dir_open(b);
	q[0].data = q[1].data = 0;
	if (q[0].fd == -1 || q[1].fd == -1) {
		logx(LOG_LVL_ERR, "open %s: %s", q[0].fd == -1 ? a : b, strerror(errno));
		ok = 0;
	} else
		ok = sync_logged(q, 2, a);
	if (q[0].fd != -1)
		(void)close(q[0].fd);
	if (q[1].fd != -1)
		(void)close(q[1].fd);
	return ok;
}

int
repo_challenge_consume(struct repo *r, const char *hash, time_t now)
{
	char		path[MAX_PATH_LEN], used[MAX_PATH_LEN], cdir[MAX_PATH_LEN];
	char		udir[MAX_PATH_LEN];
	struct timespec	ts[2];
	time_t		exp;

	if (!chal_path(r, path, sizeof(path), 0, hash) ||
	    !chal_path(r, used, sizeof(used), 1, hash) ||
	    !dir_of(path, cdir, sizeof(cdir)) || !dir_of(used, udir, sizeof(udir)))
		return 0;
	/* The decision: of several renames of one name, exactly one succeeds. */
	if (rename(path, used) == -1) {
		if (errno != ENOENT)
			logx(LOG_LVL_ERR, "rename %s %s: %s", path, used, strerror(errno));
		return 0;
	}
	/* Durable before anything it allows is: both directories, together. */
	if (!sync_pair(udir, cdir))
		return 0;	/* consumed, and refused: its use might not survive a crash */
	/* mtime = when it was used, for repo_challenge_purge(). */
	ts[0].tv_sec = ts[1].tv_sec = now;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (utimensat(AT_FDCWD, used, ts, 0) == -1)
		logx(LOG_LVL_WARN, "utimensat %s: %s", used, strerror(errno));
	if (!chal_expiry(used, &exp))
		return 0;	/* consumed, and refused: we cannot tell it is valid */
	if (now > exp) {
		if (unlink(used) == 0)
			(void)sync_dir(udir);
		return -1;
	}
	return 1;
}

int
repo_challenge_purge(struct repo *r, time_t now)
{
	char		  dir[MAX_PATH_LEN], path[MAX_PATH_LEN], **v = NULL;
	struct stat	  sb;
	size_t		  n = 0, i;
	time_t		  exp;
	int		  removed = 0, pass, err = 0;

	for (pass = 0; pass < 2; pass++) {
		if (!path_join(dir, sizeof(dir), r->root, "challenges", pass ? "used" : NULL,
		    NULL))
			return -1;
		if (!list_dir(dir, repo_id_valid, &v, &n)) {
			if (errno == ENOENT)
				continue;
			return -1;
		}
		for (i = 0; i < n; i++) {
			if (!chal_path(r, path, sizeof(path), pass, v[i]))
				continue;
			if (pass == 0) {
				if (!chal_expiry(path, &exp) || now <= exp)
					continue;
			} else if (lstat(path, &sb) == -1 ||
			    (long long)sb.st_mtime + REPO_CHALLENGE_KEEP >= (long long)now)
				continue;
			if (unlink(path) == 0)
				removed++;
			else if (errno != ENOENT) {
				logx(LOG_LVL_ERR, "unlink %s: %s", path, strerror(errno));
				err = 1;
			}
		}
		strv_free(v, n);
		v = NULL;
		if (removed > 0)
			(void)sync_dir(dir);
	}
	return err ? -1 : removed;
}
