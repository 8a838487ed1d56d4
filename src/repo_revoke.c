/*
 * Revocation: the revoked/<SERIAL> marker, the R line of index.txt in the form
 * `openssl ca -revoke` writes, and the list of revoked certificates a CRL is made from.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "repo_int.h"

/* `openssl ca`'s names (apps/ca.c crl_reasons[]), indexed by CRLReason (RFC 5280 §5.3.1). */
static const char *const reason_names[] = {
	"unspecified", "keyCompromise", "CACompromise", "affiliationChanged", "superseded",
	"cessationOfOperation", "certificateHold", NULL, "removeFromCRL",
};
#define N_REASONS	(int)(sizeof(reason_names) / sizeof(reason_names[0]))

const char *
repo_reason_name(int reason)
{
	return reason >= 0 && reason < N_REASONS ? reason_names[reason] : NULL;
}

int
repo_reason_from_name(const char *s)
{
	int	i;

	for (i = 0; s != NULL && i < N_REASONS; i++)
		if (reason_names[i] != NULL && strcasecmp(s, reason_names[i]) == 0)
			return i;
	return -1;
}

static int
digits(const char *s, size_t n, int *v)
{
	size_t	i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		*v = *v * 10 + (s[i] - '0');
	}
	return 1;
}

/* UTCTime "YYMMDDHHMMSSZ" (RFC 5280 §4.1.2.5.1 windowing) or GeneralizedTime. */
static int
parse_index_time(const char *s, size_t len, time_t *t)
{
	struct tm	tm;
	int		y, mo, d, h, mi, sec, yl;

	if (len == 13)
		yl = 2;
	else if (len == 15)
		yl = 4;
	else
		return 0;
	if (s[len - 1] != 'Z' || !digits(s, (size_t)yl, &y) || !digits(s + yl, 2, &mo) ||
	    !digits(s + yl + 2, 2, &d) || !digits(s + yl + 4, 2, &h) ||
	    !digits(s + yl + 6, 2, &mi) || !digits(s + yl + 8, 2, &sec))
		return 0;
	if (yl == 2)
		y += y < 50 ? 2000 : 1900;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*t = timegm(&tm);
	return 1;
}

/*
 * A revocation field "YYMMDDHHMMSSZ[,reason[,argument]]" as `openssl ca` reads it; its
 * pseudo reasons map as it maps them (holdInstruction is certificateHold, keyTime and
 * CAkeyTime are key and CA compromise). 0 if the date or the reason is not understood.
 */
int
revfield_parse(const char *s, time_t *when, int *reason)
{
	const char	*comma = strchr(s, ','), *rs, *c2;
	char		 name[32];
	size_t		 tlen = comma != NULL ? (size_t)(comma - s) : strlen(s), rlen;

	*reason = REPO_REASON_NONE;
	if (!parse_index_time(s, tlen, when))
		return 0;
	if (comma == NULL)
		return 1;
	rs = comma + 1;
	rlen = (c2 = strchr(rs, ',')) != NULL ? (size_t)(c2 - rs) : strlen(rs);
	if (rlen == 0 || rlen >= sizeof(name))
		return 0;
	memcpy(name, rs, rlen);
	name[rlen] = '\0';
	if ((*reason = repo_reason_from_name(name)) >= 0)
		return 1;
	if (strcasecmp(name, "holdInstruction") == 0)
		*reason = 6;
	else if (strcasecmp(name, "keyTime") == 0)
		*reason = 1;
	else if (strcasecmp(name, "CAkeyTime") == 0)
		*reason = 2;
	else
		return 0;
	return 1;
}

/* The revocation field for WHEN and REASON, as `openssl ca -revoke` writes it. */
int
revfield_make(char *buf, size_t len, time_t when, int reason)
{
	struct tm	tm;
	int		n;

	if (gmtime_r(&when, &tm) == NULL || tm.tm_year + 1900 < 1950 ||
	    tm.tm_year + 1900 > 2049)
		return 0;	/* ASN1_UTCTIME_set_string() is all `openssl ca` accepts */
	n = snprintf(buf, len, "%02d%02d%02d%02d%02d%02dZ%s%s", tm.tm_year % 100,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    reason == REPO_REASON_NONE ? "" : ",",
	    reason == REPO_REASON_NONE ? "" : repo_reason_name(reason));
	return n > 0 && (size_t)n < len;
}

/* The subject's DN key of certificate SN. */
static int
cert_dnkey(struct repo *r, const char *sn, char dnkey[REPO_DNKEY_MAX + 1])
{
	X509	*x = NULL;
	int	 rc;

	if (!cert_read(r, sn, &x, 0))
		return 0;
	rc = repo_dnkey(X509_get_subject_name(x), dnkey);
	X509_free(x);
	return rc;
}

/*
 * The marker is written first: it is the durable decision (repo_revoked_list() and
 * repo_check() honour a marker whose index line is not R yet). Then index.txt is replaced
 * whole, and last the DN index entry goes (repo_check() removes it if we stop before).
 */
int
repo_revoke(struct repo *r, const char *serial, int reason, time_t when)
{
	char		 sn[MAX_SERIAL_HEX + 2], path[MAX_PATH_LEN], rev[64], mark[72];
	char		 dnkey[REPO_DNKEY_MAX + 1];
	struct index	 ix;
	struct ientry	*e, *hit = NULL;
	struct stat	 sb;
	char		*text = NULL;
	size_t		 i, o = 0, cap;
	int		 rc = 0, saved, n;

	memset(&ix, 0, sizeof(ix));
	if (!serial_normalize(serial, sn, sizeof(sn)) ||
	    (reason != REPO_REASON_NONE && repo_reason_name(reason) == NULL) ||
	    !revfield_make(rev, sizeof(rev), when, reason)) {
		logx(LOG_LVL_ERR, "revoke: invalid serial, reason or time");
		errno = EINVAL;
		goto out;
	}
	if (!cert_path(r, path, sizeof(path), sn))
		goto out;
	if (stat(path, &sb) == -1) {
		if (errno == ENOENT)
			logx(LOG_LVL_ERR, "revoke %s: no such certificate", sn);
		goto out;
	}
	if (!index_load(r, &ix))
		goto out;
	for (i = 0; i < ix.n; i++) {
		e = &ix.e[i];
		if (!e->ok || strcmp(e->sn, sn) != 0)
			continue;
		if (hit != NULL) {
			logx(LOG_LVL_ERR, "revoke %s: index.txt has it twice", sn);
			errno = EINVAL;
			goto out;
		}
		hit = e;
	}
	if (hit == NULL) {
		logx(LOG_LVL_ERR, "revoke %s: not in index.txt", sn);
		errno = ENOENT;
		goto out;
	}
	if (hit->f[0][0] == 'R') {
		errno = EALREADY;
		goto out;
	}

	(void)snprintf(mark, sizeof(mark), "%s\n", rev);
	if (!ensure_dir(r, "revoked", NULL) ||
	    !serial_path(r, path, sizeof(path), "revoked", sn, "") ||
	    !put_file(path, mark, strlen(mark), 0))
		goto out;

	cap = ix.len + ix.n + strlen(rev) + 2;
	if ((text = malloc(cap)) == NULL)
		goto out;
	for (i = 0; i < ix.n; i++) {
		e = &ix.e[i];
		if (e == hit) {
			n = snprintf(text + o, cap - o, "R\t%s\t%s\t%s\t%s\t%s\n", e->f[1], rev,
			    e->f[3], e->f[4], e->f[5]);
			if (n < 0 || (size_t)n >= cap - o) {
				errno = EOVERFLOW;
				goto out;
			}
			o += (size_t)n;
		} else {
			memcpy(text + o, e->raw, e->rawlen);
			o += e->rawlen;
			text[o++] = '\n';
		}
	}
	if (!path_join(path, sizeof(path), r->root, "index.txt", NULL, NULL) ||
	    !put_file(path, text, o, 0))
		goto out;
	rc = 1;

	if (!cert_dnkey(r, sn, dnkey) || !repo_dn_remove(r, dnkey, sn))
		logx(LOG_LVL_WARN, "revoke %s: DN index entry not removed; repo_check() will",
		    sn);
out:
	saved = errno;
	index_free(&ix);
	free(text);
	errno = saved;
	return rc;
}

int
repo_is_revoked(struct repo *r, const char *serial)
{
	char		path[MAX_PATH_LEN];
	struct stat	sb;

	if (!serial_path(r, path, sizeof(path), "revoked", serial, ""))
		return -1;
	if (lstat(path, &sb) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}

static int
revoked_cmp(const void *a, const void *b)
{
	return serial_cmp(((const struct revoked *)a)->serial,
	    ((const struct revoked *)b)->serial);
}

void
repo_revoked_free(struct revoked *list)
{
	free(list);
}

/* A marker's revocation field; failing that, its mtime and no reason. */
int
marker_read(struct repo *r, const char *sn, time_t *when, int *reason)
{
	char		 path[MAX_PATH_LEN];
	unsigned char	*buf = NULL;
	struct stat	 sb;
	size_t		 len;
	int		 ok;

	if (!serial_path(r, path, sizeof(path), "revoked", sn, ""))
		return 0;
	if (get_file(path, &buf, &len, MAX_SMALL)) {
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		ok = strlen((char *)buf) == len && revfield_parse((char *)buf, when, reason);
		free(buf);
		if (ok)
			return 1;
	}
	if (stat(path, &sb) == -1)
		return 0;
	logx(LOG_LVL_WARN, "%s: unreadable revocation date, using its mtime", path);
	*when = sb.st_mtime;
	*reason = REPO_REASON_NONE;
	return 1;
}

int
repo_revoked_list(struct repo *r, struct revoked **listp, size_t *np)
{
	struct index	 ix;
	struct revoked	*list = NULL, key, *nl;
	char		 dir[MAX_PATH_LEN], **marks = NULL;
	size_t		 i, n = 0, cap, nmarks = 0, nidx, o;
	int		 rc = 0, saved;

	*listp = NULL;
	*np = 0;
	if (!index_load(r, &ix))
		return 0;
	cap = ix.n + 1;
	if ((list = calloc(cap, sizeof(*list))) == NULL)
		goto out;
	for (i = 0; i < ix.n; i++) {
		if (!ix.e[i].ok || ix.e[i].f[0][0] != 'R')
			continue;
		if (!revfield_parse(ix.e[i].f[2], &list[n].when, &list[n].reason)) {
			logx(LOG_LVL_ERR, "index.txt line %zu: unreadable revocation \"%.40s\"",
			    i + 1, ix.e[i].f[2]);
			errno = EINVAL;
			goto out;
		}
		memcpy(list[n].serial, ix.e[i].sn, strlen(ix.e[i].sn) + 1);
		n++;
	}
	if (n > 1)
		qsort(list, n, sizeof(*list), revoked_cmp);
	/* Duplicates (a hand-edited index) once. */
	for (i = 0, o = 0; i < n; i++)
		if (o == 0 || strcmp(list[o - 1].serial, list[i].serial) != 0)
			list[o++] = list[i];
	n = nidx = o;

	/* Markers whose index line is not R yet: an interrupted repo_revoke(). */
	if (!path_join(dir, sizeof(dir), r->root, "revoked", NULL, NULL))
		goto out;
	if (!list_dir(dir, serial_name_ok, &marks, &nmarks) && errno != ENOENT)
		goto out;
	for (i = 0; i < nmarks; i++) {
		memcpy(key.serial, marks[i], strlen(marks[i]) + 1);
		if (nidx > 0 && bsearch(&key, list, nidx, sizeof(*list), revoked_cmp) != NULL)
			continue;
		if (n == cap) {
			if ((nl = reallocarray(list, cap * 2, sizeof(*list))) == NULL)
				goto out;
			list = nl;
			cap *= 2;
		}
		if (!marker_read(r, marks[i], &list[n].when, &list[n].reason))
			continue;
		logx(LOG_LVL_WARN, "revoked/%s: index.txt does not say so yet; listing it",
		    marks[i]);
		memcpy(list[n].serial, key.serial, sizeof(key.serial));
		n++;
	}
	if (n > nidx)
		qsort(list, n, sizeof(*list), revoked_cmp);
	if (n > 0) {
		*listp = list;
		*np = n;
		list = NULL;
	}
	rc = 1;
out:
	saved = errno;
	index_free(&ix);
	free(list);
	strv_free(marks, nmarks);
	errno = saved;
	return rc;
}
