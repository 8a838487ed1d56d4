/*
 * Unit tests of one-time challenge minting (src/challenge.c): the secret's shape, the
 * stored hash (consumed once), expiry, distinct secrets, and a store that fails (nothing
 * handed out). Everything happens under a mkdtemp() directory.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "challenge.h"
#include "policy.h"
#include "repo.h"
#include "scep.h"
#include "unit.h"

static char	 base[] = "/tmp/test_challenge.XXXXXX";

static void
test_mint(void)
{
	struct repo	*r;
	struct stat	 sb;
	char		 root[512], path[MAX_PATH_LEN], err[1024], hash[65];
	FILE		*f;
	char		 s1[CHALLENGE_SECRET_LEN + 1], s2[CHALLENGE_SECRET_LEN + 1];
	time_t		 now = time(NULL);

	snprintf(root, sizeof(root), "%s/repo", base);
	CHECK_MSG(repo_create(root, err, sizeof(err)), "%s", err);
	CHECK_MSG((r = repo_open(root, err, sizeof(err))) != NULL, "%s", err);
	if (r == NULL)
		return;

	CHECK_MSG(challenge_mint(r, now + 60, s1, err, sizeof(err)), "%s", err);
	CHECK(strlen(s1) == CHALLENGE_SECRET_LEN &&
	    strspn(s1, "0123456789abcdef") == CHALLENGE_SECRET_LEN);
	CHECK(challenge_hash(s1, hash));
	snprintf(path, sizeof(path), "%s/challenges/%s", root, hash);
	CHECK_MSG(stat(path, &sb) == 0, "%s not stored", path);
	CHECK(repo_challenge_consume(r, hash, now) == 1);
	CHECK(repo_challenge_consume(r, hash, now) == 0);

	CHECK(challenge_mint(r, now + 60, s2, err, sizeof(err)));
	CHECK(strcmp(s1, s2) != 0);

	/* Past its expiry: known, consumed, but not valid. */
	CHECK(challenge_mint(r, now - 10, s1, err, sizeof(err)));
	CHECK(challenge_hash(s1, hash));
	CHECK(repo_challenge_consume(r, hash, now) == -1);

	/* Nowhere to store it (challenges/ is a file): no secret is handed out. */
	snprintf(path, sizeof(path), "%s/challenges", root);
	CHECK(nftw(path, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0);
	CHECK((f = fopen(path, "w")) != NULL && fclose(f) == 0);
	err[0] = '\0';
	CHECK(!challenge_mint(r, now + 60, s1, err, sizeof(err)));
	CHECK_MSG(strncmp(err, "cannot store the challenge: ", 28) == 0, "%s", err);
	CHECK(s1[0] == '\0');
	repo_close(r);
}

int
main(void)
{
	log_init("test_challenge", 0, LOG_LVL_ERR);
	fprintf(stderr, "test_challenge: an ERROR line below comes from a negative test\n");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_mint();
	unit_rmtree(base, "TEST_CHALLENGE_KEEP");
	return unit_done("challenge");
}
