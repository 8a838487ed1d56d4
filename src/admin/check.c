/*
 * scep-admin commands that check: check (the repository), migrate (a repository of the
 * older layout, converted and checked), config-check (scep.conf and the CA with its keys).
 */
#include <getopt.h>
#include <stdio.h>

#include "ca.h"
#include "config.h"
#include "repo.h"
#include "admin.h"

/* The issues a check found, one line each or as JSON, and how many are left. */
static void
print_issues(const struct repo_issue_report *rep, int left, int json)
{
	size_t	i;

	if (json) {
		fputs("{\"issues\":[", stdout);
		for (i = 0; i < rep->n; i++) {
			fputs(i ? ",\n" : "\n", stdout);
			fputs("{\"what\":", stdout);
			json_str(stdout, rep->v[i].what);
			fputs(",\"detail\":", stdout);
			json_str(stdout, rep->v[i].detail);
			printf(",\"repaired\":%s}", rep->v[i].repaired ? "true" : "false");
		}
		printf("%s],\"unrepaired\":%d}\n", rep->n ? "\n" : "", left);
		return;
	}
	for (i = 0; i < rep->n; i++) {
		printf("%s: ", rep->v[i].what);
		fputs(rep->v[i].detail != NULL ? rep->v[i].detail : "", stdout);
		fputs(rep->v[i].repaired ? " [repaired]\n" : "\n", stdout);
	}
}

/*
 * Open the repository of CONF and run repo_migrate() (MIGRATE) or repo_check(REPAIR),
 * then print what it found. The exit status: EXIT_OK when nothing is left.
 */
static int
check_run(const char *cmd, const char *conf, int migrate, int repair, int json)
{
	struct config			*cf = NULL;
	struct repo			*r = NULL;
	struct repo_issue_report	 rep = { 0 };
	int				 left, rc = EXIT_FAIL;

	if ((cf = load_config(conf)) == NULL || (r = open_repo(cf)) == NULL)
		goto out;
	left = migrate ? repo_migrate(r, repo_issue_collect, &rep) :
	    repo_check(r, repair, repo_issue_collect, &rep);
	if (left < 0) {
		admin_warn("%s: the check could not run", cmd);
		goto out;
	}
	print_issues(&rep, left, json);
	rc = left == 0 ? EXIT_OK : EXIT_FAIL;
out:
	repo_issue_report_free(&rep);
	repo_close(r);
	config_free(cf);
	return rc;
}

int
cmd_check(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = {
		{ "repair", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	int	c, json = 0, repair = 0;

	while ((c = admin_getopt(argc, argv, "", lo)) != -1) {
		switch (c) {
		case 'r':
			repair = 1;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return admin_usage("check: unexpected argument %s", argv[optind]);
	return check_run("check", conf, 0, repair, json);
}

/* ----------------------------------------------------------------- migrate */

int
cmd_migrate(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	int	c, json = 0;

	while ((c = admin_getopt(argc, argv, "", lo)) != -1) {
		if (c != 'j')
			return EXIT_USAGE;
		json = 1;
	}
	if (optind != argc)
		return admin_usage("migrate: unexpected argument %s", argv[optind]);
	return check_run("migrate", conf, 1, 1, json);
}

/* ----------------------------------------------------------- config-check */

int
cmd_config_check(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = {
		{ "syntax", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	struct config	*cf;
	struct repo	*r = NULL;
	struct ca	*ca = NULL;
	char		 err[1024];
	int		 c, syntax = 0, rc = EXIT_FAIL;

	while ((c = admin_getopt(argc, argv, "", lo)) != -1) {
		if (c != 's')
			return EXIT_USAGE;
		syntax = 1;
	}
	if (optind != argc)
		return admin_usage("config-check: unexpected argument %s", argv[optind]);
	if ((cf = load_config(conf)) == NULL)
		return EXIT_FAIL;
	if (syntax)
		goto ok;
	/* What the server opens at start: the repository, then the CA with its keys. */
	if ((r = repo_open(cf->repository, err, sizeof(err))) == NULL) {
		admin_warn("config-check: %s: the repository does not open: %s", cf->path, err);
		goto out;
	}
	if (!ca_exists(cf->repository)) {
		admin_warn("config-check: %s: %s has no CA (scep-admin init or import)",
		    cf->path, cf->repository);
		goto out;
	}
	/* Keys opened as the server opens them: a wrong PIN shows here. */
	if ((ca = ca_load(cf->repository, &cf->keysrc, err, sizeof(err))) == NULL) {
		admin_warn("config-check: %s: the CA does not load: %s", cf->path, err);
		goto out;
	}
ok:
	printf("%s: OK\n", cf->path);
	if (ca != NULL)
		printf("ca: loads\n");
	rc = EXIT_OK;
out:
	ca_free(ca);
	repo_close(r);
	config_free(cf);
	return rc;
}
