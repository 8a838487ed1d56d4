/*
 * scep-admin commands that hand out one-time challenges: challenge.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "config.h"
#include "repo.h"
#include "scep.h"
#include "admin.h"

#define CHALLENGE_BYTES	16	/* 128 bits of a one-time challenge */
#define MAX_CHALLENGES	1000	/* challenge --count */

int
cmd_challenge(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = {
		{ "ttl", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct config	*cf = NULL;
	struct repo	*r = NULL;
	unsigned char	 raw[CHALLENGE_BYTES], md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen;
	char		 secret[2 * CHALLENGE_BYTES + 1], hash[2 * EVP_MAX_MD_SIZE + 1], t[32];
	const char	*ttlarg = NULL;
	time_t		 expires;
	int		 c, json = 0, count = 1, ttl, i, rc = EXIT_FAIL;

	while ((c = subopt(argc, argv, lo)) != -1) {
		switch (c) {
		case 't':
			ttlarg = optarg;
			/* Shorter than ScepChallengeTTL allows: an explicit choice (tests). */
			if (!config_parse_duration(optarg, 1, MAX_CHALLENGE_TTL, &ttl))
				return usage_error("challenge: --ttl must be 1 second to 365 "
				    "days, as seconds or with a unit s, m, h or d, not %s", optarg);
			break;
		case 'n':
			if (!parse_decimal(optarg, 1, MAX_CHALLENGES, &count))
				return usage_error("challenge: --count must be 1..1000, not %s",
				    optarg);
			break;
		case 'j':
			json = 1;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return usage_error("challenge: unexpected argument %s", argv[optind]);
	if ((cf = load_config(conf)) == NULL)
		goto out;
	if (!cf->one_time_challenges) {
		warnmsg("challenge: one-time challenges are off (ScepOneTimeChallenges = NO in "
		    "%s)", cf->path);
		goto out;
	}
	if (ttlarg == NULL)
		ttl = cf->challenge_ttl;
	if ((r = open_repo(cf)) == NULL)
		goto out;
	expires = time(NULL) + ttl;
	iso_time(t, sizeof(t), expires);
	if (json)
		fputc('[', stdout);
	for (i = 0; i < count; i++) {
		/* The secret is printed once and only its hash is stored. */
		if (RAND_bytes(raw, sizeof(raw)) != 1) {
			warnmsg("challenge: no random bytes");
			break;
		}
		hex_encode(secret, raw, sizeof(raw));
		if (!EVP_Digest(secret, strlen(secret), md, &mdlen, EVP_sha256(), NULL)) {
			warnmsg("challenge: cannot hash");
			break;
		}
		hex_encode(hash, md, mdlen);
		if (!repo_challenge_add(r, hash, expires)) {
			warnmsg("challenge: cannot store: %s", strerror(errno));
			break;
		}
		if (json) {
			fputs(i ? ",\n" : "\n", stdout);
			fputs("{\"secret\":", stdout);
			json_str(stdout, secret);
			fputs(",\"expires\":", stdout);
			json_str(stdout, t);
			fputc('}', stdout);
		} else
			printf("%s\n", secret);
		OPENSSL_cleanse(secret, sizeof(secret));
		OPENSSL_cleanse(raw, sizeof(raw));
	}
	if (json)
		fputs(i ? "\n]\n" : "]\n", stdout);
	if (i == count)
		rc = EXIT_OK;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(raw, sizeof(raw));
	repo_close(r);
	config_free(cf);
	return rc;
}
