/*
 * scep-admin: the administrator's CLI over the repository, the CA and scep.conf.
 * A thin main: parse options, call the modules, report. See scep-admin(8).
 *
 * Exit status: 0 success, 1 failure, 2 usage error. Results on stdout, errors on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "config.h"
#include "scep.h"
#include "admin.h"

struct command {
	const char	*name;
	int		(*fn)(int, char **, const char *conf);
	const char	*usage;		/* after a usage error; NULL: "see help" */
	int		 changes;	/* audited: may change the repository (see changes()) */
};

#ifndef SCEP_VERSION
#define SCEP_VERSION	"unknown"
#endif

static const char *usage_text =
    "usage: " PROG " [-c FILE] COMMAND [ARGS]\n"
    "       " PROG " --help | --version\n"
    "commands:\n"
    "  init --subject DN [--key-bits N] [--days N] [--key URI] [--ra-subject DN [--ra-key URI]]\n"
    "       [--owner USER[:GROUP]]                    create the repository, the CA, its CRL\n"
    "  ra --subject DN [--key-bits N] [--days N] [--key URI]\n"
    "                                                add an RA to the CA\n"
    "  import --cert FILE --key FILE|URI [--chain FILE] [--ra]\n"
    "                                                install an existing CA (or RA)\n"
    "  rollover prepare [--subject DN] [--key-bits N] [--days N] [--key URI]\n"
    "  rollover prepare --cert FILE --key FILE|URI [--chain FILE]\n"
    "                   [--ra-key URI]               make or import the next CA\n"
    "  rollover switch                               make the next CA current\n"
    "  rollover status                               current, next and old CA\n"
    "  list [--state STATE] [--json]                 list records\n"
    "  show ID                                       show one record\n"
    "  approve ID...                                 pending -> approved\n"
    "  reject ID... [--reason TEXT]                  pending or approved -> rejected\n"
    "  issue [ID...]                                 approved -> issued (all if no ID)\n"
    "  revoke SERIAL [--reason R] [--json]           revoke a certificate, remake the CRL\n"
    "  crl [--out FILE] [--json]                     make the CRL (repository crl.pem)\n"
    "  challenge [--ttl T] [--count N] [--json]      create one-time challenge passwords\n"
    "  mobileconfig --url URL [OPTION...]            write an Apple SCEP enrollment profile\n"
    "  check [--repair] [--json]                     check (and repair) the repository\n"
    "  migrate [--json]                              convert a repository of the older layout\n"
    "  config-check [--syntax]                       validate the configuration, open the\n"
    "                                                repository and the CA (--syntax: the file only)\n"
    "  audit [--verify]                              print the audit trail, verify its chain\n"
    "  backup DIR                                    copy the repository into the new DIR\n"
    "  status [--json]                               CA and CRL expiry, counts, last issue\n"
    "  help                                          this text\n"
    "ID: a record id, or a unique prefix of it (8 hex digits or more).\n"
    "FILE defaults to $SCEP_CONF, else " DEFAULT_CONF_PATH ". URI: a pkcs11: URI\n"
    "(token=LABEL;object=LABEL) where the key is made in, or read from, a PKCS#11 token.\n";

/* The command being run (NULL before dispatch): admin_usage() prints its usage text. */
static const struct command	*running;

static void
vreport(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static void
vreport(const char *fmt, va_list ap)
{
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
admin_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
}

int
admin_usage(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	if (running != NULL && running->usage != NULL)
		fputs(running->usage, stderr);
	else
		fputs("usage: " PROG " [-c FILE] COMMAND [ARGS]; `" PROG " help` lists the "
		    "commands\n", stderr);
	return EXIT_USAGE;
}

int
admin_getopt(int argc, char **argv, const char *shortopts, const struct option *lo)
{
	int	c;

	opterr = 0;
	if ((c = getopt_long(argc, argv, shortopts, lo, NULL)) == '?') {
		/* COMMAND --help: the command's usage (or all of them), a success. */
		if (strcmp(argv[optind - 1], "--help") == 0) {
			fputs(running != NULL && running->usage != NULL ? running->usage :
			    usage_text, stdout);
			exit(fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL);
		}
		admin_usage("%s: unknown option or missing argument: %s", argv[0],
		    argv[optind - 1]);
	}
	return c;
}

static int
cmd_help(int argc, char **argv, const char *conf)
{
	(void)argc;
	(void)argv;
	(void)conf;
	fputs(usage_text, stdout);
	return EXIT_OK;
}

static const struct command cmds[] = {
	{ "init", cmd_init, NULL, 1 },
	{ "ra", cmd_ra, NULL, 1 },
	{ "import", cmd_import, NULL, 1 },
	{ "rollover", cmd_rollover, NULL, 1 },
	{ "list", cmd_list, NULL, 0 },
	{ "show", cmd_show, NULL, 0 },
	{ "approve", cmd_approve, NULL, 1 },
	{ "reject", cmd_reject, NULL, 1 },
	{ "issue", cmd_issue, NULL, 1 },
	{ "revoke", cmd_revoke, NULL, 1 },
	{ "crl", cmd_crl, NULL, 1 },
	{ "challenge", cmd_challenge, NULL, 1 },
	{ "mobileconfig", cmd_mobileconfig, mobileconfig_usage, 0 },
	{ "check", cmd_check, NULL, 1 },
	{ "migrate", cmd_migrate, NULL, 1 },
	{ "config-check", cmd_config_check, NULL, 0 },
	{ "audit", cmd_audit, NULL, 0 },
	{ "backup", cmd_backup, NULL, 1 },
	{ "status", cmd_status, NULL, 0 },
	{ "help", cmd_help, NULL, 0 },
};

/*
 * Whether this run is audited: those that may change the repository (`rollover status`
 * and `check` without --repair only read), and backup, which copies the CA key.
 */
static int
changes(const struct command *c, int argc, char **argv)
{
	int	i;

	if (!c->changes)
		return 0;
	if (strcmp(c->name, "rollover") == 0)
		return argc < 2 || strcmp(argv[1], "status") != 0;
	if (strcmp(c->name, "check") == 0) {
		for (i = 1; i < argc; i++)
			if (strcmp(argv[i], "--repair") == 0)
				return 1;
		return 0;
	}
	return 1;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config",	required_argument, NULL, 'c' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ "version",	no_argument,	   NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*conf = NULL;
	size_t		 i;
	int		 c, rc;

	log_init(PROG, 0, LOG_LVL_WARN);
	audit_init(PROG);	/* the invoking user, before any switch to the owner */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+c:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		case 'V':
			printf("%s %s\n", PROG, SCEP_VERSION);
			return EXIT_OK;
		default:
			if (optopt == 'c')
				return admin_usage("option -c needs a FILE");
			if (optopt != 0)
				return admin_usage("unknown option -%c", optopt);
			return admin_usage("unknown option %s", argv[optind - 1]);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return admin_usage("no command");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[0], cmds[i].name) == 0)
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0]))
		return admin_usage("unknown command %s", argv[0]);

	optind = 0;	/* GNU getopt: reinitialise for the subcommand's arguments */
	running = &cmds[i];
	rc = running->fn(argc, argv, conf);
	if (rc != EXIT_USAGE && changes(running, argc, argv))
		rc = admin_audit_command(argc, argv, conf, rc);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		admin_warn("write error on stdout: %s", strerror(errno));
		rc = EXIT_FAIL;
	}
	return rc;
}
