/*
 * challenge: minting one-time challenge passwords, as `scep-admin challenge` and
 * `scep-admin mobileconfig` hand them out. The secret is random and shown once; the
 * repository stores only its hash (challenge_hash(), the name policy_challenge() looks it
 * up by, then consumes).
 */
#ifndef CHALLENGE_H
#define CHALLENGE_H

#include <stddef.h>
#include <time.h>

struct repo;

#define CHALLENGE_BYTES		16			/* 128 random bits */
#define CHALLENGE_SECRET_LEN	(2 * CHALLENGE_BYTES)	/* lower-case hex digits */

/*
 * Mint a one-time challenge valid until EXPIRES: a random secret into SECRET (hex,
 * NUL-terminated), stored under its hash with repo_challenge_add(). 1 ok; 0 with one
 * sentence in ERR, nothing stored and SECRET cleared. The caller cleanses SECRET after use.
 */
int	 challenge_mint(struct repo *, time_t expires, char secret[CHALLENGE_SECRET_LEN + 1],
	    char *err, size_t errlen);

#endif
