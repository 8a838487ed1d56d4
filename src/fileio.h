/*
 * File and directory primitives: paths built from checked components, whole files written
 * atomically and read with a size cap, directories created, listed and removed. Used by the
 * repository module; nothing here knows the repository's layout.
 */
#ifndef FILEIO_H
#define FILEIO_H

#include <sys/types.h>

#include <stddef.h>

int	path_join(char *buf, size_t len, const char *root, const char *a, const char *b,
	    const char *c);
int	dir_of(const char *path, char *out, size_t outlen);
int	write_all(int fd, const void *buf, size_t len);
int	fsync_fd(int fd);
int	fsync_dir(const char *dir);
int	write_atomic(const char *path, const void *buf, size_t len, int mode,
	    int noreplace);
void	remove_flat_dir(const char *path);
int	mkdir_mode(const char *path, mode_t mode);
int	dir_list(const char *dir, int (*ok)(const char *), char ***out, size_t *np);

#endif
