/*
 * A very small unit-test harness: CHECK() counts, a failed check prints file:line and the
 * expression; unit_done() prints "N passed, N failed" and returns the exit status.
 */
#ifndef UNIT_H
#define UNIT_H

#include <sys/stat.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

static int unit_pass, unit_fail;

#define CHECK(expr) do {						\
	if (expr) unit_pass++;						\
	else { unit_fail++;						\
		fprintf(stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__, #expr); } \
} while (0)

#define CHECK_MSG(expr, ...) do {					\
	if (expr) unit_pass++;						\
	else { unit_fail++;						\
		fprintf(stderr, "%s:%d: FAIL: %s: ", __FILE__, __LINE__, #expr); \
		fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); }	\
} while (0)

static inline int
unit_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, unit_pass, unit_fail);
	fflush(stdout);		/* LeakSanitizer may end the process before exit() flushes */
	return unit_fail ? 1 : 0;
}

static inline int
unit_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove the tree at PATH, unless the environment sets KEEP (then say where it is). */
static inline void
unit_rmtree(const char *path, const char *keep)
{
	if (getenv(keep) != NULL)
		fprintf(stderr, "kept %s\n", path);
	else
		nftw(path, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
