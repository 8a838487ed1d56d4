/*
 * scep-admin: what the command files share. One file per subject:
 *   main.c		global options, the command table, dispatch, reporting
 *   load.c		the configuration and the repository, as the repository's owner
 *   print.c		output formats: columns, JSON, times, certificates
 *   requests.c	list, show, approve, reject, issue
 *   csrinfo.c	what a stored request asks for (key, SANs, extensions), for list and show
 *   revocation.c	revoke, crl
 *   casetup.c	init, ra, import, rollover
 *   challenge.c	challenge, mobileconfig
 *   check.c		check, config-check
 *   audit.c		audit entries of administrator actions, the audit command
 *   backup.c	backup
 *   status.c	status
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

/*
 * csrinfo.c: the facts an approver needs from a stored CSR. csr_info_parse() fills CI
 * from one DER PKCS#10 request (1 ok, 0 unreadable); strings are escaped for display.
 * csr_info_print() writes show's "key: value" lines, csr_info_json() the members "sans",
 * "key_type", "key_bits" and "extensions" of a list --json object (null when CI is NULL).
 */
struct csr_info {
	char	  key_type[32];		/* OpenSSL's name: "RSA", "EC", "ED25519" */
	int	  key_bits;
	char	**sans;			/* "DNS:x", "email:y", "UPN:z", "IP:a", ... */
	size_t	  nsans;
	char	**exts;			/* requested extensions: short name or dotted OID */
	size_t	  nexts;
};
int		 csr_info_parse(const unsigned char *der, size_t len, struct csr_info *);
void		 csr_info_free(struct csr_info *);
void		 csr_info_print(const struct csr_info *, FILE *);
void		 csr_info_json(const struct csr_info *, FILE *);

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

/*
 * audit.c: admin_audit() appends one entry (the invoking user, EVENT, the record ID or
 * SERIAL, SUBJECT, DETAIL) to the repository's audit trail before the action is reported, and
 * starts ScepNotifyCommand for the events it is told of; 1 ok, 0 reported.
 * admin_audit_command() records the command line ARGV and its exit status RC for a command
 * that changes the repository; returns RC, or EXIT_FAIL if the entry could not be written.
 */
int		 admin_audit(const struct config *, const char *event, const char *id,
		    const char *serial, const char *subject, const char *detail);
int		 admin_audit_command(int argc, char **argv, const char *conf, int rc);
int		 cmd_audit(int, char **, const char *conf);

/* backup.c */
int		 cmd_backup(int, char **, const char *conf);

/* status.c */
int		 cmd_status(int, char **, const char *conf);

/* check.c */
int		 cmd_check(int, char **, const char *conf);
int		 cmd_migrate(int, char **, const char *conf);
int		 cmd_config_check(int, char **, const char *conf);

#endif
