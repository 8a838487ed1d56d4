/*
 * scep-admin backup DIR: a consistent copy of the repository while the server runs. The
 * tree is copied under the repository lock (no record, counter or index changes
 * meanwhile), every file and directory fsynced, then the copy is checked as `check` would
 * and its audit chain verified.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "config.h"
#include "fileio.h"
#include "repo.h"
#include "admin.h"

#define BACKUP_MAX_DEPTH	8	/* directory levels below the root (records: 2) */

struct copied {
	size_t		files;
	long long	bytes;
};

/* Copy the regular file FROM to TO (created, mode MODE), then fsync it. */
static int
copy_file(const char *from, const char *to, mode_t mode, struct copied *c)
{
	char	buf[65536];
	ssize_t	n;
	int	in = -1, out = -1, ok = 0;

	if ((in = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		admin_warn("backup: %s: %s", from, strerror(errno));
		goto out;
	}
	if ((out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777)) == -1) {
		admin_warn("backup: %s: %s", to, strerror(errno));
		goto out;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || !write_all(out, buf, (size_t)n)) {
			admin_warn("backup: copying %s: %s", from, strerror(errno));
			goto out;
		}
		c->bytes += n;
	}
	if (!fsync_fd(out) || close(out) == -1) {
		out = -1;
		admin_warn("backup: %s: %s", to, strerror(errno));
		goto out;
	}
	out = -1;
	c->files++;
	ok = 1;
out:
	if (in != -1)
		close(in);
	if (out != -1)
		close(out);
	return ok;
}

/* A name left by an interrupted atomic write: not part of the state. */
static int
transient(const char *name)
{
	return strncmp(name, ".tmp-", 5) == 0;
}

/* Copy directory FROM into the new directory TO, DEPTH levels below the root. */
static int
copy_tree(const char *from, const char *to, int depth, struct copied *c)
{
	DIR		*d = NULL;
	struct dirent	*e;
	struct stat	 st;
	char		 src[MAX_PATH_LEN], dst[MAX_PATH_LEN], err[512];
	int		 ok = 0;

	if (depth > BACKUP_MAX_DEPTH) {
		admin_warn("backup: %s: nested too deep", from);
		return 0;
	}
	if ((d = opendir(from)) == NULL) {
		admin_warn("backup: %s: %s", from, strerror(errno));
		return 0;
	}
	while ((errno = 0, e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    transient(e->d_name))
			continue;
		if (!path_join(src, sizeof(src), from, e->d_name, NULL, NULL) ||
		    !path_join(dst, sizeof(dst), to, e->d_name, NULL, NULL)) {
			admin_warn("backup: %s/%s: %s", from, e->d_name, strerror(errno));
			goto out;
		}
		if (lstat(src, &st) == -1) {
			admin_warn("backup: %s: %s", src, strerror(errno));
			goto out;
		}
		if (S_ISDIR(st.st_mode)) {
			if (mkdir(dst, st.st_mode & 07777) == -1) {
				admin_warn("backup: %s: %s", dst, strerror(errno));
				goto out;
			}
			/* tmp/ stages records being made: the copy gets it empty. */
			if ((depth > 0 || strcmp(e->d_name, "tmp") != 0) &&
			    !copy_tree(src, dst, depth + 1, c))
				goto out;
		} else if (S_ISREG(st.st_mode)) {
			if (!copy_file(src, dst, st.st_mode, c))
				goto out;
		} else
			admin_warn("backup: %s: neither a file nor a directory, left out", src);
	}
	if (errno != 0) {
		admin_warn("backup: %s: %s", from, strerror(errno));
		goto out;
	}
	if (!fsync_dir(to, err, sizeof(err))) {
		admin_warn("backup: %s", err);
		goto out;
	}
	ok = 1;
out:
	closedir(d);
	return ok;
}

/*
 * An audit entry being appended while the tree is copied (its writers lock audit.log, not
 * the repository) may end the copy half-written: cut the copy back to its last whole line.
 */
static int
trim_audit(const char *dir)
{
	struct stat	 st;
	char		 path[MAX_PATH_LEN], c;
	off_t		 end;
	int		 fd, ok = 0;

	if (!path_join(path, sizeof(path), dir, AUDIT_FILE, NULL, NULL))
		return 0;
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) == -1)
		return errno == ENOENT;
	if (fstat(fd, &st) == -1)
		goto out;
	for (end = st.st_size; end > 0; end--)
		if (pread(fd, &c, 1, end - 1) != 1 || c == '\n')
			break;
	ok = (end == st.st_size || ftruncate(fd, end) == 0) && fsync_fd(fd);
out:
	close(fd);
	return ok;
}

/* The copy passes the repository checker and its audit chain verifies. */
static int
verify_copy(const char *dir)
{
	struct repo			*r;
	struct repo_issue_report	 rep = { 0 };
	char				 err[1024], head[AUDIT_HASH_LEN + 1];
	size_t				 i, entries;
	int				 left, ok = 0;

	if ((r = repo_open(dir, err, sizeof(err))) == NULL) {
		admin_warn("backup: the copy does not open: %s", err);
		return 0;
	}
	if ((left = repo_check(r, 0, repo_issue_collect, &rep)) != 0) {
		for (i = 0; i < rep.n; i++)
			admin_warn("backup: the copy: %s: %s", rep.v[i].what,
			    rep.v[i].detail != NULL ? rep.v[i].detail : "");
		admin_warn("backup: the copy in %s does not pass check", dir);
		goto out;
	}
	if (!audit_verify(dir, &entries, head, err, sizeof(err))) {
		admin_warn("backup: the copy's audit trail: %s", err);
		goto out;
	}
	printf("check: clean\naudit: %zu entries, chain intact, head %s\n", entries, head);
	ok = 1;
out:
	repo_issue_report_free(&rep);
	repo_close(r);
	return ok;
}

int
cmd_backup(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = { { NULL, 0, NULL, 0 } };
	struct config	*cf = NULL;
	struct repo	*r = NULL;
	struct copied	 c = { 0, 0 };
	const char	*dir;
	char		 parent[MAX_PATH_LEN], err[512];
	int		 rc = EXIT_FAIL, locked = 0, copied;

	if (admin_getopt(argc, argv, "", lo) != -1)
		return EXIT_USAGE;
	if (argc - optind != 1)
		return admin_usage("backup: exactly one DIR");
	dir = argv[optind];
	if ((cf = load_config(conf)) == NULL || (r = open_repo(cf)) == NULL)
		goto out;
	/* A new directory, only for the owner: the copy holds the CA key (unless in a token). */
	if (mkdir(dir, 0700) == -1) {
		admin_warn("backup: %s: %s%s", dir, strerror(errno),
		    errno == EEXIST ? " (give a directory that does not exist yet)" : "");
		goto out;
	}
	if (!dir_of(dir, parent, sizeof(parent)) || !fsync_dir(parent, err, sizeof(err))) {
		admin_warn("backup: %s", err);
		goto out;
	}
	if (!repo_lock(r)) {
		admin_warn("backup: cannot lock the repository");
		goto out;
	}
	locked = 1;
	copied = copy_tree(cf->repository, dir, 0, &c);
	repo_unlock(r);
	locked = 0;
	if (!copied)
		goto out;
	if (!trim_audit(dir)) {
		admin_warn("backup: %s/%s: cannot trim: %s", dir, AUDIT_FILE, strerror(errno));
		goto out;
	}
	printf("backup: %s: %zu files, %lld bytes\n", dir, c.files, c.bytes);
	if (verify_copy(dir))
		rc = EXIT_OK;
out:
	if (locked)
		repo_unlock(r);
	repo_close(r);
	config_free(cf);
	return rc;
}
