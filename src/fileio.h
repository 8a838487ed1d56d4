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

#endif
