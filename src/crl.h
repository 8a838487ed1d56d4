/*
 * crl: publishing the CA's CRL (RFC 5280 §5). The one place that turns the repository's
 * revocations into <repository>/crl.pem, the file GetCRL serves. Used by `scep-admin crl`,
 * `revoke` and `rollover switch`; the server only reads what it publishes.
 */
#ifndef CRL_H
#define CRL_H

#include <stddef.h>
#include <time.h>

#include "scep.h"

struct ca;
struct repo;

#define CRL_FILE		"crl.pem"	/* under the repository root */
#define CRL_NUMBER_MAX		127		/* hex digits of a cRLNumber */

/* What crl_publish() wrote. */
struct crl_info {
	char	 path[MAX_PATH_LEN];		/* <repository>/crl.pem */
	char	 number[CRL_NUMBER_MAX + 1];	/* cRLNumber, upper-case hex */
	size_t	 entries;			/* revoked certificates listed */
	time_t	 next_update;
};

/* <repository>/crl.pem into BUF. 1 ok, 0 the path does not fit. */
int	 crl_path(const struct repo *, char *buf, size_t buflen);

/*
 * [locked] Make the CRL from every revocation in the repository (repo_revoked_list), with
 * the next CRL number (repo_crlnumber_next), signed by CA for DAYS (ca_make_crl), and write
 * it as PEM, atomically and mode 0644, to <repository>/crl.pem and, when OUTFILE is not
 * NULL, to OUTFILE as well. 1 ok with INFO filled; 0 with one sentence in ERR.
 */
int	 crl_publish(struct repo *, struct ca *, int days, const char *outfile,
	    struct crl_info *info, char *err, size_t errlen);

#endif
