/*
 * ScepChallengeCommand: an external program (an MDM's or an inventory's checker) decides
 * whether the challenge password of an initial request is valid. It is run in the
 * foreground with command_run() (argv, fresh environment, ScepChallengeTimeout), before
 * the repository lock is taken, with the request's facts:
 *   SCEP_CHALLENGE        the challenge password as sent (escaped as in the log)
 *   SCEP_SUBJECT          the requested subject, OpenSSL oneline form
 *   SCEP_TRANSACTION_ID   the transactionID (escaped)
 *   SCEP_MESSAGE_TYPE     PKCSReq or RenewalReq
 *   SCEP_RECORD_ID        the record the request will become
 *   SCEP_KEY_SHA256       hex SHA-256 of the CSR's SubjectPublicKeyInfo
 *   SCEP_CSR              the CSR, base64 of its DER on one line
 *   SCEP_CLIENT           the client's address
 *   SCEP_REPOSITORY, SCEP_CONF
 * Exit status 0: valid; 1: not valid (the static and one-time challenges are still
 * tried); anything else, a kill at the time limit or a failure to start: an error.
 */
#ifndef CHALLENGE_COMMAND_H
#define CHALLENGE_COMMAND_H

#include <stddef.h>

struct config;

struct challenge_facts {
	const char		*challenge;
	const char		*subject;
	const unsigned char	*txid;
	size_t			 txid_len;
	const char		*msgtype;
	const char		*id;
	const char		*key_fp;
	const unsigned char	*csr_der;
	size_t			 csr_len;
	const char		*client;
};

enum challenge_verdict {
	CHALCMD_ERROR = -1,	/* could not decide: failed to run, other status, killed */
	CHALCMD_INVALID = 0,	/* exit status 1 */
	CHALCMD_VALID = 1	/* exit status 0 */
};

/*
 * Ask ScepChallengeCommand (which must be set) about F. DETAIL receives what happened and
 * how long it took, for the audit trail and the log ("valid: exit 0 in 12 ms").
 */
enum challenge_verdict challenge_command_ask(const struct config *,
		    const struct challenge_facts *f, char *detail, size_t detlen);

#endif
