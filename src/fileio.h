/*
 * Files and directories, written so that a crash leaves the old content or the new one,
 * never a mix: a whole file is written to a temp file in the same directory, fsynced,
 * renamed (or linked) over its name, and the directory fsynced. Nothing here knows the
 * repository's layout, and nothing here prints.
 *
 * Errors: a function that can fail returns 1, or 0 with errno saying why. Those taking
 * ERR, ERRLEN also write one sentence naming the path there (errf_sys(); ERR may be NULL),
 * and keep errno, so a caller may still test for ENOENT or EEXIST.
 */
#ifndef FILEIO_H
#define FILEIO_H

#include <sys/types.h>

#include <stddef.h>

/*
 * ROOT, then the components A, B, C up to the first NULL, joined with '/' into BUF. Each
 * component must be one plain name (not empty, no '/', not "." or ".."): this is the one
 * place a path is built from names. On failure BUF is "" and errno is EINVAL (a bad
 * component) or ENAMETOOLONG.
 */
int	path_join(char *buf, size_t len, const char *root, const char *a, const char *b,
	    const char *c);
/* The directory part of PATH ("." if none, "/" for a file in the root). */
int	dir_of(const char *path, char *out, size_t outlen);

/* write(2) all of BUF, through EINTR and short writes. */
int	write_all(int fd, const void *buf, size_t len);
/* fsync(2) through EINTR. */
int	fsync_fd(int fd);
/* fsync(2) the directory DIR, making the names created or removed in it durable. */
int	fsync_dir(const char *dir, char *err, size_t errlen);

/*
 * Replace PATH with BUF (LEN bytes, file mode MODE) atomically: a ".tmp-XXXXXX" file in
 * the same directory is written, fsynced, closed and renamed over PATH, and the directory
 * fsynced. The temp file never survives a failure.
 */
int	write_file(const char *path, const void *buf, size_t len, int mode, char *err,
	    size_t errlen);
/* Like write_file(), but PATH must not exist: fails with errno EEXIST if it does. */
int	create_file(const char *path, const void *buf, size_t len, int mode, char *err,
	    size_t errlen);
/*
 * Read the whole regular file PATH of at most MAX bytes (errno EFBIG if larger, EINVAL if
 * not a regular file). *BUF is malloc'd, NUL-terminated one byte past *LEN, so a text file
 * can be parsed in place.
 */
int	read_file(const char *path, unsigned char **buf, size_t *len, size_t max,
	    char *err, size_t errlen);

/*
 * Make directory PATH with MODE, then fsync its parent; an existing directory is success
 * and keeps its mode (errno ENOTDIR if PATH exists and is something else).
 */
int	make_dir(const char *path, mode_t mode, char *err, size_t errlen);
/*
 * The names in DIR other than "." and "..", those for which OK holds if OK is given, in
 * readdir(3) order, as a malloc'd vector of *N malloc'd strings: free with strv_free().
 */
int	dir_list(const char *dir, int (*ok)(const char *), char ***names, size_t *n,
	    char *err, size_t errlen);
void	strv_free(char **, size_t);
/* Remove DIR and the files in it (no subdirectories). Absent is success. */
int	remove_flat_dir(const char *dir, char *err, size_t errlen);

/*
 * Directories kept open. A program that works in a few directories opens each once and
 * names files relative to it (openat(2), renameat(2), linkat(2), fstatat(2)): a path is
 * then resolved one component deep instead of from the root, which on a network file
 * system saves a round trip per component, and fsync(2) of the directory needs no open.
 */
/* PATH opened as a directory (O_DIRECTORY, close-on-exec); -1 with errno on error. */
int	dir_open(const char *path);
/*
 * A new file in the directory DFD, named PREFIX and 16 random hex digits (created with
 * O_EXCL: never a file someone else made), mode MODE, holding BUF. The name goes to NAME
 * (at least strlen(PREFIX) + 17 bytes). Returns the descriptor, open for the caller to
 * sync, or -1 with errno (the file is gone again).
 */
int	temp_write_at(int dfd, const char *prefix, char *name, size_t namelen,
	    const void *buf, size_t len, int mode);
/* The rest of the regular file open on FD, at most MAX bytes, like read_file(). */
int	read_fd(int fd, unsigned char **buf, size_t *len, size_t max);
/*
 * Read the whole regular file NAME in DFD, at most MAX bytes, like read_file(); errno
 * ENOENT when it is absent.
 */
int	read_file_at(int dfd, const char *name, unsigned char **buf, size_t *len, size_t max);

/* A descriptor to make durable: fsync(2), or fdatasync(2) when DATA. */
struct sync_req {
	int	fd;
	int	data;
};
/*
 * Make every descriptor of REQ durable, all at once: each but the last is synced by a
 * thread of its own, so the file system serves them together and the whole takes about
 * the time of one sync instead of N. Every sync is waited for. 1 if all succeeded, else
 * 0 with the errno of the first that failed.
 */
int	sync_all(const struct sync_req *req, size_t n);

#endif
