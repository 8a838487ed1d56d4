/*
 * challenge: mint one-time challenge passwords. See challenge.h.
 */
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "challenge.h"
#include "policy.h"
#include "repo.h"
#include "scep.h"

int
challenge_mint(struct repo *r, time_t expires, char secret[CHALLENGE_SECRET_LEN + 1],
    char *err, size_t errlen)
{
	unsigned char	raw[CHALLENGE_BYTES];
	char		hash[65];
	int		ok = 0;

	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		errf_crypto(err, errlen, "no random bytes");
		goto out;
	}
	hex_encode(secret, raw, sizeof(raw));
	if (!challenge_hash(secret, hash)) {
		errf_crypto(err, errlen, "cannot hash the challenge");
		goto out;
	}
	if (!repo_challenge_add(r, hash, expires)) {
		errf_sys(err, errlen, "cannot store the challenge");
		goto out;
	}
	ok = 1;
out:
	if (!ok)
		OPENSSL_cleanse(secret, CHALLENGE_SECRET_LEN + 1);
	OPENSSL_cleanse(raw, sizeof(raw));
	return ok;
}
