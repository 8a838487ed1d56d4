/*
 * scep-admin: what the command files share. One file per subject:
 *   main.c		global options, the command table, dispatch, reporting
 *   load.c		the configuration and the repository, as the repository's owner
 *   print.c		output formats: columns, JSON, times, certificates
 *   requests.c	list, show, approve, reject, issue
 *   revocation.c	revoke, crl
 *   casetup.c	init, ra, import, rollover
 *   challenge.c	challenge, mobileconfig
 *   check.c		check, config-check
 * Exit status: 0 success, 1 failure, 2 usage error. Results on stdout, errors on stderr.
 */
#ifndef ADMIN_H
#define ADMIN_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <openssl/x509.h>

#include "scep.h"

struct ca;
struct config;
struct crl_info;
struct option;
struct repo;

#define EXIT_OK		0
#define EXIT_FAIL	1
#define EXIT_USAGE	2

#define PROG		"scep-admin"

/*
 * main.c: the one way scep-admin reports. admin_warn(): "scep-admin: MESSAGE" on stderr.
 * admin_usage(): the same for a usage error, then the running command's usage text (or
 * where to find it); returns EXIT_USAGE. admin_getopt(): getopt_long(3) over a command's
 * arguments (ARGV[0] is the command name); returns the option, -1 at the end, or '?'
 * after reporting a bad option with admin_usage() (the caller returns EXIT_USAGE).
 */
void		 admin_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int		 admin_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int		 admin_getopt(int argc, char **argv, const char *shortopts,
		    const struct option *);

/* load.c */
struct config	*load_config(const char *conf);
int		 init_owner(const char *root, const char *owner);
struct repo	*open_repo(const struct config *);

/* print.c */
void		 cert_fingerprint(X509 *, char *out, size_t outlen);
const char	*cert_serial(X509 *, char *buf, size_t len);
void		 iso_time(char *buf, size_t len, time_t);
void		 asn1_iso_time(char *buf, size_t len, const ASN1_TIME *);
void		 print_field(FILE *, const void *, size_t);
void		 json_bytes(FILE *, const void *, size_t);
void		 json_str(FILE *, const char *);

/* requests.c */
int		 cmd_list(int, char **, const char *conf);
int		 cmd_show(int, char **, const char *conf);
int		 cmd_approve(int, char **, const char *conf);
int		 cmd_reject(int, char **, const char *conf);
int		 cmd_issue(int, char **, const char *conf);

/* revocation.c */
int		 publish_crl(const struct config *, struct repo *, struct ca *,
		    const char *outfile, struct crl_info *);
void		 print_crl_info(const struct crl_info *, const char *outfile, int json);
int		 cmd_crl(int, char **, const char *conf);
int		 cmd_revoke(int, char **, const char *conf);

/* casetup.c */
int		 cmd_init(int, char **, const char *conf);
int		 cmd_ra(int, char **, const char *conf);
int		 cmd_import(int, char **, const char *conf);
int		 cmd_rollover(int, char **, const char *conf);

/* challenge.c */
int		 cmd_challenge(int, char **, const char *conf);
int		 cmd_mobileconfig(int, char **, const char *conf);
extern const char mobileconfig_usage[];	/* printed after its usage errors and by --help */

/* check.c */
int		 cmd_check(int, char **, const char *conf);
int		 cmd_migrate(int, char **, const char *conf);
int		 cmd_config_check(int, char **, const char *conf);

#endif
