/*
 * scep.conf reader: good files (top level, [scep] section, defaults), every bad value and
 * unknown key reported with the right "FILE:LINE: ", $SCEP_CONF fallback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "scep.h"
#include "unit.h"

static char	dir[] = "/tmp/test_config.XXXXXX";
static char	path[256];

static void
write_conf(const char *text)
{
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

/* Load TEXT; returns the config (or NULL with err filled). */
static struct config *
load(const char *text, char *err, size_t errlen)
{
	write_conf(text);
	return config_load(path, err, errlen);
}

/* TEXT must fail at LINE (0: no line) with a message containing WHAT. */
static void
expect_error(const char *text, int line, const char *what)
{
	struct config	*cf;
	char		 err[512], prefix[300];

	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", path);
	cf = load(text, err, sizeof(err));
	CHECK_MSG(cf == NULL, "accepted: %s", text);
	CHECK_MSG(strncmp(err, prefix, strlen(prefix)) == 0, "want prefix \"%s\", got \"%s\"",
	    prefix, err);
	CHECK_MSG(strstr(err, what) != NULL, "want \"%s\" in \"%s\"", what, err);
	config_free(cf);
}

static void
test_good_top_level(void)
{
	struct config	*cf;
	char		 err[512] = "";

	cf = load("# a comment\n"
	    "; another comment\n"
	    "\n"
	    "ScepRepository = /var/lib/scep\n"
	    "ScepChallengePassword = \"s3cret;#x\"\n"
	    "ScepAutoApproveEnrollment = YES\n"
	    "ScepCertValidityDays = 730\n"
	    "ScepAllowLegacyCrypto = NO\n"
	    "ScepLogLevel = DEBUG\n", err, sizeof(err));
	CHECK_MSG(cf != NULL, "%s", err);
	if (cf == NULL)
		return;
	CHECK(strcmp(cf->path, path) == 0);
	CHECK(strcmp(cf->repository, "/var/lib/scep") == 0);
	CHECK(cf->challenge != NULL && strcmp(cf->challenge, "s3cret;#x") == 0);
	CHECK(cf->auto_approve_enrollment == 1);
	CHECK(cf->cert_days == 730);
	CHECK(cf->allow_legacy_crypto == 0);
	CHECK(cf->log_level == LOG_LVL_DEBUG);
	config_free(cf);
}

static void
test_good_section(void)
{
	struct config	*cf;
	char		 err[512] = "";

	/* Key case does not matter; the section name neither; CRLF and inline comments. */
	cf = load("[ SCEP ]\r\n"
	    "sceprepository=/srv/ca   ; where the CA lives\r\n"
	    "SCEPAUTOAPPROVEENROLLMENT = true\r\n"
	    "ScepLogLevel = warning\r\n"
	    "ScepCertValidityDays = 36500\r\n", err, sizeof(err));
	CHECK_MSG(cf != NULL, "%s", err);
	if (cf == NULL)
		return;
	CHECK(strcmp(cf->repository, "/srv/ca") == 0);
	CHECK(cf->challenge == NULL);
	CHECK(cf->auto_approve_enrollment == 1);
	CHECK(cf->log_level == LOG_LVL_WARN);
	CHECK(cf->cert_days == 36500);
	CHECK(cf->allow_legacy_crypto == 1);
	config_free(cf);

	/* Mixed: some at the top level, the rest in [scep]. */
	cf = load("ScepRepository = /srv/ca\n"
	    "[scep]\n"
	    "ScepChallengePassword = pw\n", err, sizeof(err));
	CHECK_MSG(cf != NULL, "%s", err);
	if (cf != NULL)
		CHECK(strcmp(cf->challenge, "pw") == 0);
	config_free(cf);
}

static void
test_defaults(void)
{
	struct config	*cf;
	char		 err[512] = "";

	cf = load("ScepRepository = /r\n", err, sizeof(err));
	CHECK_MSG(cf != NULL, "%s", err);
	if (cf == NULL)
		return;
	CHECK(cf->challenge == NULL);
	CHECK(cf->auto_approve_enrollment == 0);
	CHECK(cf->cert_days == 365);
	CHECK(cf->allow_legacy_crypto == 1);
	CHECK(cf->log_level == LOG_LVL_INFO);
	config_free(cf);
}

static void
test_booleans(void)
{
	static const char *const yes[] = { "YES", "yes", "Yes", "TRUE", "true", "1" };
	static const char *const no[] = { "NO", "no", "nO", "FALSE", "false", "0" };
	struct config	*cf;
	char		 text[256], err[512];
	size_t		 i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(text, sizeof(text), "ScepRepository=/r\nScepAllowLegacyCrypto=%s\n"
		    "ScepAutoApproveEnrollment=%s\n", no[i], yes[i]);
		cf = load(text, err, sizeof(err));
		CHECK_MSG(cf != NULL && cf->auto_approve_enrollment == 1 &&
		    cf->allow_legacy_crypto == 0, "%s / %s: %s", yes[i], no[i], err);
		config_free(cf);
	}
}

static void
test_log_levels(void)
{
	static const struct { const char *s; int v; } lv[] = {
		{ "ERROR", LOG_LVL_ERR }, { "WARNING", LOG_LVL_WARN },
		{ "Info", LOG_LVL_INFO }, { "debug", LOG_LVL_DEBUG } };
	struct config	*cf;
	char		 text[256], err[512];
	size_t		 i;

	for (i = 0; i < sizeof(lv) / sizeof(lv[0]); i++) {
		snprintf(text, sizeof(text), "ScepRepository=/r\nScepLogLevel=%s\n", lv[i].s);
		cf = load(text, err, sizeof(err));
		CHECK_MSG(cf != NULL && cf->log_level == lv[i].v, "%s: %s", lv[i].s, err);
		config_free(cf);
	}
}

static void
test_bad_values(void)
{
	char	 longpw[400];

	expect_error("ScepChallengePassword = x\n", 0, "ScepRepository is required");
	expect_error("\n\nScepRepository = relative/path\n", 3, "absolute path");
	expect_error("ScepRepository =\n", 1, "empty value");
	expect_error("ScepRepository = /r\n#\nScepAutoApproveEnrollment = maybe\n", 3,
	    "must be YES or NO");
	expect_error("ScepRepository = /r\nScepAllowLegacyCrypto = Y\n", 2, "YES or NO");
	expect_error("ScepRepository = /r\nScepAllowLegacyCrypto = on\n", 2, "YES or NO");
	expect_error("ScepRepository = /r\nScepCertValidityDays = 0\n", 2, "from 1 to 36500");
	expect_error("ScepRepository = /r\nScepCertValidityDays = 36501\n", 2, "36500");
	expect_error("ScepRepository = /r\nScepCertValidityDays = -5\n", 2, "whole number");
	expect_error("ScepRepository = /r\nScepCertValidityDays = 12x\n", 2, "whole number");
	expect_error("ScepRepository = /r\nScepCertValidityDays = 0x10\n", 2, "whole number");
	expect_error("ScepRepository = /r\nScepCertValidityDays = 99999999999999999999\n", 2,
	    "whole number");
	expect_error("ScepRepository = /r\n[scep]\n\nScepLogLevel = verbose\n", 4,
	    "ERROR, WARNING, INFO or DEBUG");
	expect_error("ScepRepository = /r\nScepChallengePassword = \n", 2, "empty value");
	memset(longpw, 'a', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	{
		char text[600];

		snprintf(text, sizeof(text), "ScepRepository=/r\nScepChallengePassword=%s\n",
		    longpw);
		expect_error(text, 2, "too long");
	}
}

static void
test_structure_errors(void)
{
	expect_error("ScepRepository = /r\nScepFrobnicate = 1\n", 2, "unknown key \"ScepFrobnicate\"");
	expect_error("[scep]\nScepRepository = /r\n\n; c\nscepallowenrollment = YES\n", 5,
	    "unknown key \"scepallowenrollment\"");
	expect_error("ScepRepository = /r\n[other]\nScepLogLevel = INFO\n", 2,
	    "unknown section [other]");
	expect_error("ScepRepository = /r\n[scep\n", 2, "syntax error");
	expect_error("ScepRepository = /r\njust some words\n", 2, "syntax error");
	expect_error("ScepRepository = /r\n = 3\n", 2, "missing key name");
	expect_error("ScepRepository = /r\nScepLogLevel = INFO\nscepLOGlevel = DEBUG\n", 3,
	    "duplicate key ScepLogLevel (already set on line 2)");
	expect_error("ScepRepository = /r\n[scep]\nScepRepository = /s\n", 3,
	    "duplicate key ScepRepository");
	/* A continuation line is part of the value above it, not a key. */
	expect_error("ScepRepository = /r\nScepChallengePassword = a \\\n  b\nBogus = 1\n", 4,
	    "unknown key \"Bogus\"");
	/* A comment ending in a backslash swallows the next line (iniparser 4.1 does). */
	{
		struct config	*cf;
		char		 err[512] = "";

		cf = load("ScepRepository = /r\n# comment \\\nBogus = 1\n", err, sizeof(err));
		CHECK_MSG(cf != NULL, "%s", err);
		config_free(cf);
	}
}

static void
test_missing_file(void)
{
	struct config	*cf;
	char		 err[512], missing[300];

	snprintf(missing, sizeof(missing), "%s/nonexistent.conf", dir);
	cf = config_load(missing, err, sizeof(err));
	CHECK(cf == NULL);
	CHECK_MSG(strncmp(err, missing, strlen(missing)) == 0 && strstr(err, "cannot open"),
	    "%s", err);
}

static void
test_path(void)
{
	struct config	*cf;
	char		 err[512] = "";

	unsetenv("SCEP_CONF");
	CHECK(strcmp(config_path(NULL), DEFAULT_CONF_PATH) == 0);
	CHECK(strcmp(config_path("/x.conf"), "/x.conf") == 0);
	setenv("SCEP_CONF", path, 1);
	CHECK(strcmp(config_path(NULL), path) == 0);
	CHECK(strcmp(config_path("/x.conf"), "/x.conf") == 0);
	setenv("SCEP_CONF", "", 1);
	CHECK(strcmp(config_path(NULL), DEFAULT_CONF_PATH) == 0);

	write_conf("ScepRepository = /from/env\n");
	setenv("SCEP_CONF", path, 1);
	cf = config_load(NULL, err, sizeof(err));
	CHECK_MSG(cf != NULL && strcmp(cf->repository, "/from/env") == 0, "%s", err);
	config_free(cf);
	unsetenv("SCEP_CONF");
}

int
main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/scep.conf", dir);
	test_good_top_level();
	test_good_section();
	test_defaults();
	test_booleans();
	test_log_levels();
	test_bad_values();
	test_structure_errors();
	test_missing_file();
	test_path();
	unlink(path);
	rmdir(dir);
	return unit_done("config");
}
