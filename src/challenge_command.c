/*
 * ScepChallengeCommand (challenge_command.h): an external program's verdict on a challenge.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "challenge_command.h"
#include "command.h"
#include "config.h"
#include "scep.h"

enum challenge_verdict
challenge_command_ask(const struct config *cf, const struct challenge_facts *f, char *detail,
    size_t detlen)
{
	struct command_env	 env;
	enum challenge_verdict	 v = CHALCMD_ERROR;
	char			 tx[MAX_TXID * 4 + 1], err[512];
	unsigned char		*b64 = NULL;
	long			 ms = 0;
	int			 status, ok;

	command_env_init(&env);
	log_escape(tx, sizeof(tx), f->txid, f->txid_len);
	if (f->csr_der != NULL && (b64 = malloc(4 * ((f->csr_len + 2) / 3) + 1)) != NULL)
		EVP_EncodeBlock(b64, f->csr_der, (int)f->csr_len);
	ok = b64 != NULL &&
	    command_env_add(&env, "SCEP_CHALLENGE", f->challenge) &&
	    command_env_add(&env, "SCEP_SUBJECT", f->subject) &&
	    command_env_add(&env, "SCEP_TRANSACTION_ID", tx) &&
	    command_env_add(&env, "SCEP_MESSAGE_TYPE", f->msgtype) &&
	    command_env_add(&env, "SCEP_RECORD_ID", f->id) &&
	    command_env_add(&env, "SCEP_KEY_SHA256", f->key_fp) &&
	    command_env_add(&env, "SCEP_CSR", (char *)b64) &&
	    command_env_add(&env, "SCEP_CLIENT", f->client) &&
	    command_env_add(&env, "SCEP_REPOSITORY", cf->repository) &&
	    command_env_add(&env, "SCEP_CONF", cf->path);
	if (!ok)
		snprintf(detail, detlen, "error: out of memory");
	else if (!command_run(cf->challenge_command, &env, cf->challenge_timeout, &status,
	    &ms, err, sizeof(err)))
		snprintf(detail, detlen, "error: %s", err);
	else if (status == -1)
		snprintf(detail, detlen, "error: killed after %ld ms (ScepChallengeTimeout %d s)",
		    ms, cf->challenge_timeout);
	else if (status == 0 || status == 1) {
		v = status == 0 ? CHALCMD_VALID : CHALCMD_INVALID;
		snprintf(detail, detlen, "%s: exit %d in %ld ms", status == 0 ? "valid" :
		    "not valid", status, ms);
	} else
		snprintf(detail, detlen, "error: exit %d in %ld ms", status, ms);
	command_env_free(&env);
	free(b64);
	return v;
}
