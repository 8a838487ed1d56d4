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
#include <string.h>

#include "config.h"
#include "scep.h"
#include "admin.h"

static const char *usage_text =
    "usage: " PROG " [-c FILE] COMMAND [ARGS]\n"
    "commands:\n"
    "  init --subject DN [--key-bits N] [--days N] [--ra-subject DN] [--owner USER[:GROUP]]\n"
    "                                                create the repository and the CA\n"
    "  ra --subject DN [--key-bits N] [--days N]     add an RA to the CA\n"
    "  import --cert FILE --key FILE [--chain FILE] [--ra]\n"
    "                                                install an existing CA (or RA)\n"
    "  rollover prepare [--subject DN] [--key-bits N] [--days N]\n"
    "  rollover prepare --cert FILE --key FILE [--chain FILE]\n"
    "                                                make or import the next CA\n"
    "  rollover switch                               make the next CA current\n"
    "  rollover status                               current, next and old CA\n"
    "  list [--state STATE] [--json]                 list records\n"
    "  show ID                                       show one record (id prefix ok)\n"
    "  approve ID...                                 pending -> approved\n"
    "  reject ID... [--reason TEXT]                  pending or approved -> rejected\n"
    "  issue [ID...]                                 approved -> issued (all if no ID)\n"
    "  revoke SERIAL [--reason R] [--json]           revoke a certificate, remake the CRL\n"
    "  crl [--out FILE] [--json]                     make the CRL (repository crl.pem)\n"
    "  challenge [--ttl T] [--count N] [--json]      create one-time challenge passwords\n"
    "  mobileconfig --url URL [OPTION...]            write an Apple SCEP enrollment profile\n"
    "  check [--repair] [--json]                     check (and repair) the repository\n"
    "  config-check                                  validate the configuration\n"
    "  help                                          this text\n"
    "FILE defaults to $SCEP_CONF, else " DEFAULT_CONF_PATH ".\n";

void
warnmsg(const char *fmt, ...)
{
	va_list	ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
usage_error(const char *fmt, const char *arg)
{
	fputs(PROG ": ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\nusage: " PROG " [-c FILE] COMMAND [ARGS]; `" PROG " help` lists the "
	    "commands\n", stderr);
	return EXIT_USAGE;
}

/*
 * getopt_long over a subcommand's arguments (argv[0] is the command). Returns the option,
 * -1 at the end, '?' after reporting a bad option (the caller exits EXIT_USAGE).
 */
int
subopt(int argc, char **argv, const struct option *lo)
{
	char	what[300];
	int	c;

	opterr = 0;
	if ((c = getopt_long(argc, argv, "", lo, NULL)) == '?') {
		snprintf(what, sizeof(what), "%s: unknown option or missing argument: %%s",
		    argv[0]);
		usage_error(what, argv[optind - 1]);
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

static const struct {
	const char	*name;
	int		(*fn)(int, char **, const char *);
} cmds[] = {
	{ "init", cmd_init },
	{ "ra", cmd_ra },
	{ "import", cmd_import },
	{ "rollover", cmd_rollover },
	{ "list", cmd_list },
	{ "show", cmd_show },
	{ "approve", cmd_approve },
	{ "reject", cmd_reject },
	{ "issue", cmd_issue },
	{ "revoke", cmd_revoke },
	{ "crl", cmd_crl },
	{ "challenge", cmd_challenge },
	{ "mobileconfig", mobileconfig_command },
	{ "check", cmd_check },
	{ "config-check", cmd_config_check },
	{ "help", cmd_help },
};

int
main(int argc, char *argv[])
{
	const char	*conf = NULL;
	size_t		 i;
	int		 c, rc;

	log_init(PROG, 0, LOG_LVL_WARN);
	opterr = 0;
	while ((c = getopt(argc, argv, "+c:h")) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		default:
			return usage_error(optopt == 'c' ? "option -%s needs a FILE" :
			    "unknown option -%s", (char[]){ (char)optopt, '\0' });
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return usage_error("%s", "no command");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[0], cmds[i].name) == 0)
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0]))
		return usage_error("unknown command %s", argv[0]);

	optind = 0;	/* GNU getopt: reinitialise for the subcommand's arguments */
	rc = cmds[i].fn(argc, argv, conf);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		warnmsg("write error on stdout: %s", strerror(errno));
		rc = EXIT_FAIL;
	}
	return rc;
}
