/*
 * scep.conf(5): the INI file becomes a validated struct config once, at start-up.
 *
 * iniparser 4.1 does the value grammar (quotes, comments, continuation lines) and stores keys
 * lowercased as "section:key", keys before any section as ":key". It reports no line
 * numbers, so a small scanner that mirrors its line grammar walks the text first: it finds
 * the line of every key, and rejects unknown keys, unknown sections, duplicates and syntax
 * errors with "FILE:LINE: message". Keys may stand at the top level or in a [scep] section
 * (the same setting in both places is a duplicate). Every key the program knows is one
 * line of keytab[] below; anything else is an error, never a half-working policy.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <iniparser.h>

#include "config.h"
#include "scep.h"

#define MAX_CONF_SIZE	(256 * 1024)	/* bytes in scep.conf */
#define MAX_CONF_LINE	1000		/* iniparser 4.1 refuses lines of 1024 bytes and more */
#define MAX_KEY_NAME	64		/* longest key we echo in a message */
#define CONF_SECTION	"scep"		/* the only section allowed besides the top level */

enum ktype {
	KT_STRING,	/* any non-empty string up to max bytes */
	KT_PATH,	/* absolute path, up to max bytes */
	KT_BOOL,	/* YES/NO, yes/no, true/false, 1/0 (any case) */
	KT_INT,		/* decimal integer in [min, max] */
	KT_LOGLEVEL	/* ERROR, WARNING, INFO, DEBUG (any case) */
};

struct keydef {
	const char	*name;		/* spelling as documented in scep.conf(5) */
	const char	*alias;		/* an older spelling accepted too, or NULL */
	enum ktype	 type;
	size_t		 off;		/* offsetof(struct config, field) */
	const char	*def;		/* default, as it would be written in the file; NULL: unset */
	int		 required;
	long		 min, max;	/* KT_INT: range; KT_STRING, KT_PATH: max length */
};

#define F(field)	offsetof(struct config, field)

/* Every key scep.conf may hold. Adding a key is one line here plus its struct config field. */
static const struct keydef keytab[] = {
	{ "ScepRepository",		NULL, KT_PATH,	   F(repository), NULL,   1, 0, MAX_PATH_LEN - 1 },
	{ "ScepChallengePassword",	NULL, KT_STRING,   F(challenge),  NULL,   0, 0, MAX_CHALLENGE },
	{ "ScepAutoApproveEnrollment",	NULL, KT_BOOL,	   F(auto_approve_enrollment), "NO", 0, 0, 0 },
	{ "ScepCertValidityDays",	NULL, KT_INT,	   F(cert_days),  "365",  0, 1, 36500 },
	{ "ScepAllowLegacyCrypto",	NULL, KT_BOOL,	   F(allow_legacy_crypto), "YES", 0, 0, 0 },
	{ "ScepLogLevel",		NULL, KT_LOGLEVEL, F(log_level),  "INFO", 0, 0, 0 },
};
#define NKEYS	(sizeof(keytab) / sizeof(keytab[0]))

static const char *const loglevels[] = {
	[LOG_LVL_ERR] = "ERROR", [LOG_LVL_WARN] = "WARNING",
	[LOG_LVL_INFO] = "INFO", [LOG_LVL_DEBUG] = "DEBUG"
};

/* iniparser reports through a global callback without a context pointer. */
static char	ini_err[256];

static int
ini_errback(const char *fmt, ...)
{
	va_list	 ap;
	size_t	 n = strlen(ini_err);
	char	*p;

	va_start(ap, fmt);
	if (n < sizeof(ini_err) - 1)
		vsnprintf(ini_err + n, sizeof(ini_err) - n, fmt, ap);
	va_end(ap);
	for (p = ini_err; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	return 0;
}

static void
conf_err(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (err == NULL || errlen == 0)
		return;
	if (line > 0)
		n = snprintf(err, errlen, "%s:%d: ", path, line);
	else
		n = snprintf(err, errlen, "%s: ", path);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - n, fmt, ap);
	va_end(ap);
}

/* Index of NAME (any case, canonical spelling or alias) in keytab, or -1. */
static int
key_index(const char *name)
{
	size_t	 i;

	for (i = 0; i < NKEYS; i++)
		if (strcasecmp(name, keytab[i].name) == 0 ||
		    (keytab[i].alias != NULL && strcasecmp(name, keytab[i].alias) == 0))
			return (int)i;
	return -1;
}

/* Trim ASCII white space at both ends of [*s, *e). */
static void
trim(const char **s, const char **e)
{
	while (*s < *e && isspace((unsigned char)**s))
		(*s)++;
	while (*e > *s && isspace((unsigned char)(*e)[-1]))
		(*e)--;
}

/* A printable copy of [s, e) for a message (the file is the administrator's, but be tidy). */
static void
printable(char *dst, size_t dstlen, const char *s, const char *e)
{
	if ((size_t)(e - s) > MAX_KEY_NAME)
		e = s + MAX_KEY_NAME;
	log_escape(dst, dstlen, s, (size_t)(e - s));
}

/*
 * Walk the text with iniparser 4.1's line grammar: blank lines, ';' and '#' comments,
 * "[section]", "key = value", a trailing backslash continues a line. Record in lines[] where
 * each known key is set. 1 ok, 0 with err set.
 */
static int
conf_scan(const char *path, const char *text, size_t len, int lines[NKEYS],
    char *err, size_t errlen)
{
	const char	*p = text, *end = text + len, *nl, *s, *e, *eq;
	char		 name[4 * MAX_KEY_NAME + 1];
	int		 lineno = 0, idx, cont = 0, prev;

	while (p < end) {
		lineno++;
		nl = memchr(p, '\n', (size_t)(end - p));
		s = p;
		e = nl != NULL ? nl : end;
		p = nl != NULL ? nl + 1 : end;
		if (e - s > MAX_CONF_LINE) {
			conf_err(err, errlen, path, lineno, "line too long (more than %d bytes)",
			    MAX_CONF_LINE);
			return 0;
		}
		trim(&s, &e);
		/* iniparser joins a line ending in '\\' with the next, comments included. */
		prev = cont;
		cont = e > s && e[-1] == '\\';
		if (prev || s == e || *s == ';' || *s == '#')
			continue;
		if (*s == '[') {
			if (e[-1] != ']') {
				conf_err(err, errlen, path, lineno, "syntax error: "
				    "a section line must be \"[" CONF_SECTION "]\"");
				return 0;
			}
			s++, e--;
			trim(&s, &e);
			if ((size_t)(e - s) != strlen(CONF_SECTION) ||
			    strncasecmp(s, CONF_SECTION, (size_t)(e - s)) != 0) {
				printable(name, sizeof(name), s, e);
				conf_err(err, errlen, path, lineno, "unknown section [%s] "
				    "(keys go at the top level or in [" CONF_SECTION "])", name);
				return 0;
			}
			continue;
		}
		if ((eq = memchr(s, '=', (size_t)(e - s))) == NULL) {
			conf_err(err, errlen, path, lineno,
			    "syntax error: expected \"Key = value\"");
			return 0;
		}
		e = eq;
		trim(&s, &e);
		printable(name, sizeof(name), s, e);
		if (s == e) {
			conf_err(err, errlen, path, lineno, "syntax error: missing key name");
			return 0;
		}
		if ((idx = key_index(name)) == -1 || strlen(name) != (size_t)(e - s)) {
			conf_err(err, errlen, path, lineno, "unknown key \"%s\"", name);
			return 0;
		}
		if (lines[idx] != 0) {
			conf_err(err, errlen, path, lineno, "duplicate key %s (already set "
			    "on line %d)", keytab[idx].name, lines[idx]);
			return 0;
		}
		lines[idx] = lineno;
	}
	return 1;
}

static int
parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "yes", "true", "1" }, *const no[] = { "no", "false", "0" };
	size_t	 i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 1;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 1;
		}
	}
	return 0;
}

/* Strict decimal: digits only (no sign, no blanks, no octal or hex), within [min, max]. */
static int
parse_int(const char *v, long min, long max, int *out)
{
	long	 n = 0;

	if (*v == '\0')
		return 0;
	for (; *v != '\0'; v++) {
		if (!isdigit((unsigned char)*v))
			return 0;
		n = n * 10 + (*v - '0');
		if (n > max)
			return 0;
	}
	if (n < min)
		return 0;
	*out = (int)n;
	return 1;
}

/* Set the field of keytab[idx] in CF from V. 1 ok, 0 with msg set. */
static int
set_value(struct config *cf, size_t idx, const char *v, char *msg, size_t msglen)
{
	const struct keydef	*k = &keytab[idx];
	void			*field = (char *)cf + k->off;
	char			 shown[4 * MAX_KEY_NAME + 1];
	char			*copy;
	size_t			 i;

	printable(shown, sizeof(shown), v, v + strlen(v));
	if (*v == '\0') {
		snprintf(msg, msglen, "%s has an empty value (remove the line to get the "
		    "default)", k->name);
		return 0;
	}
	switch (k->type) {
	case KT_PATH:
		if (v[0] != '/') {
			snprintf(msg, msglen, "%s must be an absolute path, not \"%s\"",
			    k->name, shown);
			return 0;
		}
		/* FALLTHROUGH */
	case KT_STRING:
		if (strlen(v) > (size_t)k->max) {
			snprintf(msg, msglen, "%s is too long (at most %ld bytes)", k->name,
			    k->max);
			return 0;
		}
		if ((copy = strdup(v)) == NULL) {
			snprintf(msg, msglen, "out of memory");
			return 0;
		}
		free(*(char **)field);
		*(char **)field = copy;
		return 1;
	case KT_BOOL:
		if (!parse_bool(v, field)) {
			snprintf(msg, msglen, "%s must be YES or NO, not \"%s\"", k->name, shown);
			return 0;
		}
		return 1;
	case KT_INT:
		if (!parse_int(v, k->min, k->max, field)) {
			snprintf(msg, msglen, "%s must be a whole number from %ld to %ld, not "
			    "\"%s\"", k->name, k->min, k->max, shown);
			return 0;
		}
		return 1;
	case KT_LOGLEVEL:
		for (i = 0; i < sizeof(loglevels) / sizeof(loglevels[0]); i++)
			if (strcasecmp(v, loglevels[i]) == 0) {
				*(int *)field = (int)i;
				return 1;
			}
		snprintf(msg, msglen, "%s must be ERROR, WARNING, INFO or DEBUG, not \"%s\"",
		    k->name, shown);
		return 0;
	}
	snprintf(msg, msglen, "%s: internal error: unknown key type", k->name);
	return 0;
}

/* Read PATH whole (NUL-terminated). 1 ok, 0 with err set. */
static int
read_text(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
	FILE		*f = NULL;
	struct stat	 st;
	char		*buf = NULL;
	size_t		 n;
	int		 ok = 0;

	if ((f = fopen(path, "r")) == NULL) {
		conf_err(err, errlen, path, 0, "cannot open: %s", strerror(errno));
		goto out;
	}
	if (fstat(fileno(f), &st) == -1 || !S_ISREG(st.st_mode)) {
		conf_err(err, errlen, path, 0, "not a regular file");
		goto out;
	}
	if (st.st_size > MAX_CONF_SIZE) {
		conf_err(err, errlen, path, 0, "too large (more than %d bytes)", MAX_CONF_SIZE);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		conf_err(err, errlen, path, 0, "out of memory");
		goto out;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		conf_err(err, errlen, path, 0, "read error");
		goto out;
	}
	if (memchr(buf, '\0', n) != NULL) {
		conf_err(err, errlen, path, 0, "contains a NUL byte");
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	buf = NULL;
	ok = 1;
out:
	free(buf);
	if (f != NULL)
		fclose(f);
	return ok;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct config	*cf = NULL, *ret = NULL;
	dictionary	*d = NULL;
	char		*text = NULL;
	const char	*vals[NKEYS] = { NULL }, *colon;
	char		 msg[512];
	int		 lines[NKEYS] = { 0 }, idx, i;
	size_t		 len = 0, k;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL)
		path = config_path(NULL);
	if (!read_text(path, &text, &len, err, errlen))
		goto out;
	if (!conf_scan(path, text, len, lines, err, errlen))
		goto out;

	ini_err[0] = '\0';
	iniparser_set_error_callback(ini_errback);
	d = iniparser_load(path);
	iniparser_set_error_callback(NULL);
	if (d == NULL) {
		conf_err(err, errlen, path, 0, "%s", ini_err[0] != '\0' ? ini_err :
		    "iniparser cannot read it");
		goto out;
	}

	/* The dictionary is authoritative; the scan only told us where things are. */
	for (i = 0; i < d->size; i++) {
		if (d->key[i] == NULL)
			continue;
		if ((colon = strchr(d->key[i], ':')) == NULL)
			continue;	/* a section, checked by the scan */
		idx = key_index(colon + 1);
		if (idx == -1 || (colon != d->key[i] &&
		    strncmp(d->key[i], CONF_SECTION ":", strlen(CONF_SECTION) + 1) != 0)) {
			conf_err(err, errlen, path, 0, "unknown key \"%.64s\"", d->key[i]);
			goto out;
		}
		if (vals[idx] != NULL) {
			conf_err(err, errlen, path, lines[idx], "duplicate key %s",
			    keytab[idx].name);
			goto out;
		}
		vals[idx] = d->val[i] != NULL ? d->val[i] : "";
	}

	if ((cf = calloc(1, sizeof(*cf))) == NULL ||
	    (cf->path = strdup(path)) == NULL) {
		conf_err(err, errlen, path, 0, "out of memory");
		goto out;
	}
	for (k = 0; k < NKEYS; k++) {
		if (vals[k] == NULL && keytab[k].required) {
			conf_err(err, errlen, path, 0, "%s is required", keytab[k].name);
			goto out;
		}
		if (vals[k] == NULL && keytab[k].def == NULL)
			continue;
		if (!set_value(cf, k, vals[k] != NULL ? vals[k] : keytab[k].def,
		    msg, sizeof(msg))) {
			conf_err(err, errlen, path, vals[k] != NULL ? lines[k] : 0, "%s", msg);
			goto out;
		}
	}
	ret = cf;
	cf = NULL;
out:
	config_free(cf);
	if (d != NULL)
		iniparser_freedict(d);
	if (text != NULL) {
		explicit_bzero(text, len);	/* it may hold the challenge */
		free(text);
	}
	return ret;
}

void
config_free(struct config *cf)
{
	if (cf == NULL)
		return;
	if (cf->challenge != NULL) {
		explicit_bzero(cf->challenge, strlen(cf->challenge));
		free(cf->challenge);
	}
	free(cf->repository);
	free(cf->path);
	free(cf);
}

const char *
config_path(const char *explicit_path)
{
	const char	*env;

	if (explicit_path != NULL && explicit_path[0] != '\0')
		return explicit_path;
	if ((env = getenv("SCEP_CONF")) != NULL && env[0] != '\0')
		return env;
	return DEFAULT_CONF_PATH;
}
