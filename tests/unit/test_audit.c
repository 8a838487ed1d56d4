/*
 * Unit tests of the audit trail (src/audit.c): entries, escaping, NPROC processes appending
 * at once, and verification naming the line of a modified, removed or reordered entry.
 */
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "fileio.h"
#include "scep.h"
#include "unit.h"

#define NPROC		8	/* processes appending at once */
#define PER_PROC	25	/* entries each */

static char	root[256];
static char	logpath[300];

static void
load(char **buf, size_t *len)
{
	unsigned char	*b = NULL;

	*len = 0;
	if (!read_file(logpath, &b, len, 1 << 24, NULL, 0))
		b = NULL;
	*buf = (char *)b;
}

static void
store(const char *buf, size_t len)
{
	FILE	*f = fopen(logpath, "w");

	if (f == NULL)
		return;
	fwrite(buf, 1, len, f);
	fclose(f);
}

/* Start of line N (1-based) in BUF, or NULL. */
static char *
line_at(char *buf, int n)
{
	char	*p = buf;

	while (p != NULL && --n > 0)
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	return p;
}

/* verify() fails, and its sentence contains WANT. */
static int
verify_fails_with(const char *want)
{
	char	err[512], head[AUDIT_HASH_LEN + 1];
	size_t	n;

	if (audit_verify(root, &n, head, err, sizeof(err)))
		return 0;
	if (strstr(err, want) == NULL) {
		fprintf(stderr, "verify said: %s (wanted %s)\n", err, want);
		return 0;
	}
	return 1;
}

static void
test_chain(void)
{
	struct audit_event	 ev = { .event = "issued", .id = "ab12", .serial = "0A",
				    .subject = "/CN=x", .client = "192.0.2.1",
				    .detail = "tab\there\nnewline" };
	char			 err[512], head[AUDIT_HASH_LEN + 1], *buf = NULL, *l2, *l3;
	char			*copy;
	size_t			 n = 99, len, i, l2len;

	CHECK(audit_verify(root, &n, head, err, sizeof(err)) && n == 0);
	CHECK(strspn(head, "0") == AUDIT_HASH_LEN);
	audit_init("test");
	for (i = 0; i < 5; i++)
		CHECK(audit_append(root, &ev, err, sizeof(err)));
	CHECK(audit_verify(root, &n, head, err, sizeof(err)) && n == 5);
	load(&buf, &len);
	CHECK(buf != NULL && strncmp(buf, "seq=1\t", 6) == 0);
	CHECK(buf != NULL && strstr(buf, "\tdetail=tab\\x09here\\x0Anewline\t") != NULL);
	CHECK(buf != NULL && strstr(buf, "\tprog=test\tuser=") != NULL);
	CHECK(buf != NULL && strstr(buf, "\tevent=issued\tid=ab12\tserial=0A\tsubject=/CN=x\t"
	    "client=192.0.2.1\t") != NULL);
	if (buf == NULL)
		return;
	copy = malloc(len + 1);
	memcpy(copy, buf, len + 1);

	/* A modified entry: its own hash no longer matches. */
	l3 = line_at(buf, 3);
	l3[strlen("seq=3\ttime=2")] ^= 1;
	store(buf, len);
	CHECK(verify_fails_with("line 3 (seq 3): modified"));
	CHECK(!audit_verify(root, &n, head, err, sizeof(err)) && n == 2);

	/* A removed entry: seq and prev of the next one. */
	memcpy(buf, copy, len + 1);
	l2 = line_at(buf, 2);
	l3 = line_at(buf, 3);
	memmove(l2, l3, len - (size_t)(l3 - buf));
	store(buf, len - (size_t)(l3 - l2));
	CHECK(verify_fails_with("line 2: seq 3 where 2 was expected"));

	/* Two entries swapped. */
	memcpy(buf, copy, len + 1);
	l2 = line_at(buf, 2);
	l3 = line_at(buf, 3);
	l2len = (size_t)(l3 - l2);
	{
		char	*tmp = malloc(len);
		size_t	 l3len = (size_t)(line_at(buf, 4) - l3);

		memcpy(tmp, l3, l3len);
		memcpy(tmp + l3len, l2, l2len);
		memcpy(l2, tmp, l3len + l2len);
		free(tmp);
	}
	store(buf, len);
	CHECK(verify_fails_with("line 2: seq 3 where 2 was expected"));

	/* An entry rewritten with a hash that matches: the next entry's prev catches it. */
	memcpy(buf, copy, len + 1);
	store(buf, (size_t)(line_at(buf, 3) - buf));
	ev.detail = "forged";
	CHECK(audit_append(root, &ev, err, sizeof(err)));	/* a new seq 3 */
	{
		char	*now = NULL, *out;
		size_t	 nowlen, tail = len - (size_t)(line_at(copy, 4) - copy);

		load(&now, &nowlen);
		out = malloc(nowlen + tail);
		memcpy(out, now, nowlen);
		memcpy(out + nowlen, line_at(copy, 4), tail);
		store(out, nowlen + tail);
		free(out);
		free(now);
	}
	CHECK(verify_fails_with("line 4 (seq 4): prev does not match"));

	/* A torn last entry: verify names it, and appending refuses to build on it. */
	memcpy(buf, copy, len + 1);
	store(buf, len - 10);
	CHECK(verify_fails_with("line 5: incomplete entry"));
	CHECK(!audit_append(root, &ev, err, sizeof(err)) && strstr(err, "incomplete") != NULL);

	store(copy, len);
	CHECK(audit_verify(root, &n, head, err, sizeof(err)) && n == 5);
	free(copy);
	free(buf);
}

static void
test_concurrent(void)
{
	struct audit_event	 ev = { .event = "pending" };
	char			 err[512], head[AUDIT_HASH_LEN + 1];
	size_t			 n;
	int			 i, j, st, ok = 1;
	pid_t			 pid[NPROC];

	unlink(logpath);
	for (i = 0; i < NPROC; i++) {
		if ((pid[i] = fork()) == 0) {
			for (j = 0; j < PER_PROC; j++)
				if (!audit_append(root, &ev, err, sizeof(err)))
					_exit(1);
			_exit(0);
		}
	}
	for (i = 0; i < NPROC; i++)
		if (pid[i] < 0 || waitpid(pid[i], &st, 0) != pid[i] || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			ok = 0;
	CHECK(ok);
	CHECK_MSG(audit_verify(root, &n, head, err, sizeof(err)) &&
	    n == (size_t)NPROC * PER_PROC, "%zu entries: %s", n, err);
}

int
main(void)
{
	snprintf(root, sizeof(root), "/tmp/test_audit.XXXXXX");
	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(logpath, sizeof(logpath), "%s/%s", root, AUDIT_FILE);
	test_chain();
	test_concurrent();
	unit_rmtree(root, "KEEP_AUDIT");
	return unit_done("audit");
}
