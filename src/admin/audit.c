/*
 * scep-admin and the audit trail (audit.h): the entries administrator actions write, and
 * the audit command that prints the trail and verifies its chain.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "config.h"
#include "notify.h"
#include "scep.h"
#include "admin.h"

int
admin_audit(const struct config *cf, const char *event, const char *id, const char *serial,
    const char *subject, const char *detail)
{
	struct audit_event	ev = { .event = event, .id = id, .serial = serial,
				    .subject = subject, .detail = detail };
	char			err[1024];

	if (!audit_append(cf->repository, &ev, err, sizeof(err))) {
		admin_warn("audit: %s", err);
		return 0;
	}
	/* The action is done and recorded: a notification that cannot start is only said. */
	if (!notify_event(cf, PROG, &ev, err, sizeof(err)))
		admin_warn("%s", err);
	return 1;
}

int
admin_audit_command(int argc, char **argv, const char *conf, int rc)
{
	struct config	*cf;
	struct stat	 st;
	char		 line[AUDIT_MAX_LINE / 2], err[1024];
	size_t		 off = 0;
	int		 i, n;

	/* A command that could not even load the configuration did nothing to audit. */
	if ((cf = config_load(config_path(conf), err, sizeof(err))) == NULL)
		return rc;
	if (stat(cf->repository, &st) == -1 || !S_ISDIR(st.st_mode)) {
		config_free(cf);
		return rc;
	}
	line[0] = '\0';
	for (i = 0; i < argc && off < sizeof(line); i++) {
		/* A PKCS#11 URI may carry its PIN: never write that down. */
		n = snprintf(line + off, sizeof(line) - off, "%s%s", i ? " " : "",
		    strstr(argv[i], "pin-") != NULL ? "[redacted]" : argv[i]);
		off = n < 0 ? sizeof(line) : off + (size_t)n;
	}
	if (off < sizeof(line))
		snprintf(line + off, sizeof(line) - off, " (exit %d)", rc);
	if (!admin_audit(cf, "command", NULL, NULL, NULL, line) && rc == EXIT_OK)
		rc = EXIT_FAIL;
	config_free(cf);
	return rc;
}

int
cmd_audit(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = {
		{ "verify", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct config	*cf = NULL;
	FILE		*f = NULL;
	char		 err[1024], head[AUDIT_HASH_LEN + 1], path[MAX_PATH_LEN], buf[8192];
	size_t		 entries, n;
	int		 c, verify = 0, rc = EXIT_FAIL;

	while ((c = admin_getopt(argc, argv, "", lo)) != -1) {
		if (c != 'v')
			return EXIT_USAGE;
		verify = 1;
	}
	if (optind != argc)
		return admin_usage("audit: unexpected argument %s", argv[optind]);
	if ((cf = load_config(conf)) == NULL)
		goto out;
	if (verify) {
		if (!audit_verify(cf->repository, &entries, head, err, sizeof(err))) {
			admin_warn("audit: %s (%zu good entries before it)", err, entries);
			goto out;
		}
		printf("audit: %zu entries, chain intact, head %s\n", entries, head);
		rc = EXIT_OK;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", cf->repository, AUDIT_FILE);
	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			rc = EXIT_OK;	/* nothing audited yet */
		else
			admin_warn("audit: %s: %s", path, strerror(errno));
		goto out;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	if (ferror(f))
		admin_warn("audit: %s: read error", path);
	else
		rc = EXIT_OK;
out:
	if (f != NULL)
		fclose(f);
	config_free(cf);
	return rc;
}
