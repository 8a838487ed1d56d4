/*
 * crl: publishing the CA's CRL (RFC 5280 §5). The one place that turns the repository's
 * revocations into <repository>/crl.pem, the file GetCRL serves, and, when scep.conf sets
 * ScepPublishDir, into the files a web server hands out over plain HTTP (the URLs of
 * ScepCRLURL and ScepCAIssuersURL). Used by `scep-admin init`, `import`, `crl`, `revoke`
 * and `rollover switch`; the server only reads what it publishes.
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

/* The files of ScepPublishDir (mode 0644), with the media types a web server gives them. */
#define PUB_CRL_DER		"ca.crl"	/* the CRL, DER: application/pkix-crl */
#define PUB_CRL_PEM		"ca-crl.pem"	/* the CRL, PEM: application/x-pem-file */
#define PUB_CA_DER		"ca.crt"	/* the CA certificate, DER: application/pkix-cert */
#define PUB_CA_PEM		"ca.pem"	/* the CA certificate, PEM: application/x-pem-file */

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
 * NULL, to OUTFILE as well; when PUBDIR is not NULL, the CRL and the current CA certificate
 * also go to PUBDIR (PUB_* above), each file atomically, the CA certificate first.
 * 1 ok with INFO filled; 0 with one sentence in ERR.
 */
int	 crl_publish(struct repo *, struct ca *, int days, const char *outfile,
	    const char *pubdir, struct crl_info *info, char *err, size_t errlen);

#endif
