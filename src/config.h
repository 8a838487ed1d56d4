/*
 * scep.conf: the INI file (iniparser) becomes a validated struct config once, at start-up.
 * Every error names the file and line. See scep.conf(5).
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>

#define DEFAULT_CONF_PATH	"/etc/scep/scep.conf"

struct config {
	char	*path;			/* the file it was read from */
	char	*repository;		/* ScepRepository: repository root (required) */
	char	*challenge;		/* ScepChallengePassword: static challenge or NULL */
	int	 auto_approve_enrollment; /* ScepAutoApproveEnrollment: YES/NO (default NO) */
	int	 cert_days;		/* ScepCertValidityDays: validity of issued certs (default 365) */
	int	 allow_legacy_crypto;	/* ScepAllowLegacyCrypto: single DES (and MD5) accepted (default YES:
					   micromdm scepclient always sends DES) */
	int	 log_level;		/* ScepLogLevel: ERROR, WARNING, INFO (default), DEBUG */
};

/*
 * Read and validate PATH. On error returns NULL and writes "PATH:LINE: message" (or
 * "PATH: message" when no line applies) into err.
 */
struct config	*config_load(const char *path, char *err, size_t errlen);
void		 config_free(struct config *);
/* The path to use: explicit argument, else $SCEP_CONF, else DEFAULT_CONF_PATH. */
const char	*config_path(const char *explicit_path);

#endif
