/*
 * Unit tests of one-time challenges (src/repo_challenge.c), with NRACE processes presenting
 * the same challenge at once.
 */
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "repofix.h"
#include "unit.h"

#define NRACE		8	/* processes presenting one challenge */
#define RACE_ROUNDS	20

static void
hash_of(const char *secret, char out[65])
{
	unsigned char	md[32];
	int		i;

	EVP_Digest(secret, strlen(secret), md, NULL, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void
test_challenges(void)
{
	char		 root[512], h[65], h2[65], h3[65], name[128];
	struct repo	*r;
	time_t		 now = T2024;

	if ((r = new_repo("chal", root, sizeof(root))) == NULL) {
		CHECK(0);
		return;
	}
	hash_of("one-time secret", h);
	CHECK(repo_challenge_add(r, h, now + 3600));
	snprintf(name, sizeof(name), "challenges/%s", h);
	CHECK(file_is(root, name, "1704070800\n"));
	errno = 0;
	CHECK(!repo_challenge_add(r, h, now + 7200) && errno == EEXIST);
	CHECK(file_is(root, name, "1704070800\n"));
	CHECK(repo_challenge_consume(r, h, now + 10) == 1);
	CHECK(!exists(root, name));
	errno = 0;
	CHECK(repo_challenge_consume(r, h, now + 11) == 0 && errno == ENOENT);
	/* The same secret cannot come back while its use is remembered. */
	errno = 0;
	CHECK(!repo_challenge_add(r, h, now + 7200) && errno == EEXIST);

	/* Expired: refused, and gone. */
	hash_of("expired secret", h2);
	CHECK(repo_challenge_add(r, h2, now + 60));
	CHECK(repo_challenge_consume(r, h2, now + 60) == 1);	/* valid up to its expiry */
	hash_of("expired secret 2", h2);
	CHECK(repo_challenge_add(r, h2, now + 60));
	CHECK(repo_challenge_consume(r, h2, now + 61) == -1);
	snprintf(name, sizeof(name), "challenges/used/%s", h2);
	CHECK(!exists(root, name));
	CHECK(repo_challenge_consume(r, h2, now + 62) == 0);

	/* Malformed hashes never reach a path. */
	CHECK(!repo_challenge_add(r, "../../etc/passwd", now));
	CHECK(!repo_challenge_add(r, "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", now));
	CHECK(repo_challenge_consume(r, "..", now) == 0 && errno == EINVAL);
	CHECK(repo_challenge_consume(r, NULL, now) == 0);

	/* A corrupted challenge is consumed and refused. */
	hash_of("corrupt", h3);
	snprintf(name, sizeof(name), "challenges/%s", h3);
	CHECK(put(root, name, "soon\n"));
	CHECK(repo_challenge_consume(r, h3, now) == 0);

	/* Purge: expired pending ones now, used ones after a day. */
	hash_of("pending, expires", h2);
	CHECK(repo_challenge_add(r, h2, now + 100));
	hash_of("pending, valid", h3);
	CHECK(repo_challenge_add(r, h3, now + 10 * 86400));
	CHECK(repo_challenge_purge(r, now + 50) == 0);
	CHECK(repo_challenge_purge(r, now + 101) == 1);	/* "pending, expires" */
	snprintf(name, sizeof(name), "challenges/%s", h2);
	CHECK(!exists(root, name));
	/* used/: "one-time secret" (used at now+10), "expired secret" (now+60), "corrupt". */
	CHECK(repo_challenge_purge(r, now + REPO_CHALLENGE_KEEP) == 0);
	CHECK(repo_challenge_purge(r, now + 10 + REPO_CHALLENGE_KEEP) == 1);	/* corrupt */
	CHECK(repo_challenge_purge(r, now + 61 + REPO_CHALLENGE_KEEP) == 2);
	snprintf(name, sizeof(name), "challenges/%s", h3);
	CHECK(exists(root, name));
	/* Forgotten: the first secret may be handed out again. */
	CHECK(repo_challenge_add(r, h, now + 200000));
	CHECK(repo_challenge_consume(r, h, now + 100000) == 1);
	CHECK(repo_check(r, 0, NULL, NULL) == 0);
	repo_close(r);
}

/* NRACE processes released at once present the same challenge; exactly one may win. */
static void
test_challenge_race(void)
{
	char		 root[512], err[256], h[65], secret[32];
	struct repo	*r;
	pid_t		 pids[NRACE];
	int		 round, c, status, wins, losses, bad = 0, fds[2];

	if ((r = new_repo("race", root, sizeof(root))) == NULL) {
		CHECK(0);
		return;
	}
	for (round = 0; round < RACE_ROUNDS; round++) {
		snprintf(secret, sizeof(secret), "race-%d", round);
		hash_of(secret, h);
		CHECK(repo_challenge_add(r, h, time(NULL) + 600));
		if (pipe(fds) == -1) {
			CHECK(0);
			break;
		}
		fflush(stdout);
		fflush(stderr);
		for (c = 0; c < NRACE; c++) {
			if ((pids[c] = fork()) == 0) {
				struct repo	*cr;
				char		 b;
				int		 rc;

				close(fds[1]);
				cr = repo_open(root, err, sizeof(err));
				(void)read(fds[0], &b, 1);	/* EOF: everyone goes */
				rc = cr ? repo_challenge_consume(cr, h, time(NULL)) : -2;
				repo_close(cr);
				_exit(rc == 1 ? 0 : rc == 0 ? 1 : 2);
			}
			CHECK(pids[c] > 0);
		}
		close(fds[0]);
		close(fds[1]);
		wins = losses = 0;
		for (c = 0; c < NRACE; c++) {
			if (pids[c] <= 0 || waitpid(pids[c], &status, 0) != pids[c] ||
			    !WIFEXITED(status)) {
				bad++;
				continue;
			}
			if (WEXITSTATUS(status) == 0)
				wins++;
			else if (WEXITSTATUS(status) == 1)
				losses++;
			else
				bad++;
		}
		CHECK_MSG(wins == 1 && losses == NRACE - 1, "round %d: %d wins, %d losses",
		    round, wins, losses);
	}
	CHECK(bad == 0);
	repo_close(r);
}

int
main(void)
{
	if (!repofix_begin("test_repo_challenge"))
		return 1;
	test_challenges();
	test_challenge_race();
	repofix_end();
	return unit_done("repo_challenge");
}
