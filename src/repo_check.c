/*
 * The repository checker: every record, certificate, index line, marker and DN index entry
 * against the others, reported one violation at a time, and repaired on request (see
 * repo_check() in repo.h for the codes). It holds the repository lock for its whole run,
 * so the only states in between that it meets are those the commit protocol leaves
 * between two lock holds (a staged file, a record committed and not yet published) and
 * those a crash leaves; repo-layout/README.md lists them and what the repair does.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "repo_int.h"

/* A certificate of certs/ (or one a record holds whose certs/ file is missing). */
struct ccert {
	char		 sn[MAX_SERIAL_HEX + 2];
	char		 expiry[20];		/* index.txt form */
	char		*subject;		/* index.txt form */
	char		 dnkey[REPO_DNKEY_MAX + 1];
	time_t		 not_after;
	size_t		 nlines;		/* index.txt lines with this serial */
	struct ientry	*line;			/* the first of them */
	int		 marker;		/* revoked/<SN> exists */
	int		 revoked;		/* marker or R line */
	char		*revfield;		/* revocation field to keep, malloc'd */
};

/* A record holding a certificate: issued, or committed in approved/. */
struct holder {
	char		 sn[MAX_SERIAL_HEX + 2];
	char		 id[REPO_ID_LEN + 1];
	char		 dnkey[REPO_DNKEY_MAX + 1];
	enum rstate	 st;
	unsigned char	*der;
	size_t		 len;
	time_t		 mtime;
	int		 seen;			/* 1 certs/<SN>.pem is it, -1 another */
};

struct chk {
	struct repo	 *r;
	int		  repair;
	repo_report_fn	 *report;
	void		 *arg;
	int		  unrepaired;
	time_t		  now;
	struct ccert	 *certs;	/* parsed certs/<SN>.pem, by serial */
	size_t		  ncerts;
	char		**bad;		/* serials of certs/ files that do not parse */
	size_t		  nbad;
	struct holder	 *hold;		/* issued records, by serial */
	size_t		  nhold;
	struct holder	 *comm;		/* records of approved/ holding one, by serial */
	size_t		  ncomm;
	int		  blind;	/* certs/ or index.txt unreadable: no DN repairs */
	char		**pend;		/* index problems the rebuild repairs: what \0 detail */
	size_t		  npend;
};

static void	issue(struct chk *, const char *, int, const char *, ...)
		    __attribute__((format(printf, 4, 5)));
static void	pend(struct chk *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
issue(struct chk *c, const char *what, int repaired, const char *fmt, ...)
{
	char	detail[512];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (!repaired && strcmp(what, "dn-expired") != 0)
		c->unrepaired++;
	if (c->report != NULL)
		c->report(what, detail, repaired, c->arg);
}

/* An index problem, reported once we know whether the rebuild worked. */
static void
pend(struct chk *c, const char *what, const char *fmt, ...)
{
	char	  detail[512], *s, **nv;
	size_t	  wl = strlen(what);
	va_list	  ap;

	va_start(ap, fmt);
	(void)vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if ((nv = reallocarray(c->pend, c->npend + 1, sizeof(*nv))) == NULL ||
	    (s = malloc(wl + strlen(detail) + 2)) == NULL) {
		if (nv != NULL)
			c->pend = nv;
		issue(c, what, 0, "%s", detail);	/* out of memory: report it now */
		return;
	}
	c->pend = nv;
	memcpy(s, what, wl + 1);
	memcpy(s + wl + 1, detail, strlen(detail) + 1);
	c->pend[c->npend++] = s;
}

/*
 * Names the checker passes over: write_file() temp files (judged by chk_walk()) and the
 * README.md of the documented skeleton (repo-layout/).
 */
static int
skip_name(const char *name)
{
	return strncmp(name, ".tmp-", 5) == 0 || strcmp(name, "README.md") == 0;
}

/* A directory entry name, safe to print. */
static const char *
esc(const char *name, char *buf, size_t len)
{
	log_escape(buf, len, name, strlen(name));
	return buf;
}

/* Young enough to belong to a process at work (STRAY_GRACE). */
static int
young(const struct chk *c, time_t t)
{
	return (long long)t + STRAY_GRACE > (long long)c->now;
}

/* Remove a file or a flat directory. 1 if it is gone. */
static int
remove_any(const char *path)
{
	struct stat	sb;
	char		dir[MAX_PATH_LEN];

	if (lstat(path, &sb) == -1)
		return errno == ENOENT;
	if (S_ISDIR(sb.st_mode))
		drop_dir(path);
	else if (unlink(path) == -1)
		logx(LOG_LVL_ERR, "unlink %s: %s", path, strerror(errno));
	if (lstat(path, &sb) == 0)
		return 0;
	if (dir_of(path, dir, sizeof(dir)))
		(void)sync_dir(dir);
	return 1;
}

/*
 * tmp/ holds what processes stage before they take the lock: only what is older than
 * STRAY_GRACE is a crash's leftover.
 */
static void
chk_tmpdir(struct chk *c)
{
	char		  dir[MAX_PATH_LEN], path[MAX_PATH_LEN], e[256], **v = NULL;
	struct stat	  sb;
	size_t		  n = 0, i;

	if (!path_join(dir, sizeof(dir), c->r->root, "tmp", NULL, NULL) ||
	    !list_dir(dir, NULL, &v, &n)) {
		issue(c, "io-error", 0, "tmp/: %s", strerror(errno));
		return;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(v[i], "README.md") == 0 ||
		    !path_join(path, sizeof(path), dir, v[i], NULL, NULL) ||
		    lstat(path, &sb) == -1 || young(c, sb.st_mtime))
			continue;
		issue(c, "stray-temp", c->repair && remove_any(path), "tmp/%s",
		    esc(v[i], e, sizeof(e)));
	}
	strv_free(v, n);
}

/*
 * .tmp-* left by write_file() anywhere below DIR (REL for messages), DEPTH levels of
 * subdirectories down. Younger ones may belong to a writer that does not take the lock.
 */
static void
chk_walk(struct chk *c, const char *dir, const char *rel, int depth)
{
	char		  path[MAX_PATH_LEN], sub[MAX_PATH_LEN], e[256], **v = NULL;
	struct stat	  sb;
	size_t		  n = 0, i;

	if (!list_dir(dir, NULL, &v, &n)) {
		if (errno != EACCES && errno != ENOENT)	/* ca/ may be the CA user's only */
			issue(c, "io-error", 0, "%s: %s", rel[0] ? rel : ".", strerror(errno));
		return;
	}
	for (i = 0; i < n; i++) {
		/* The big flat directories hold no temp files: only tmp/ and the root do. */
		if (rel[0] == '\0' && (strcmp(v[i], "tmp") == 0 || strcmp(v[i], "certs") == 0 ||
		    strcmp(v[i], "bydn") == 0 || rstate_from_name(v[i]) != RS_NONE))
			continue;
		if (!path_join(path, sizeof(path), dir, v[i], NULL, NULL) ||
		    lstat(path, &sb) == -1)
			continue;
		(void)snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "",
		    esc(v[i], e, sizeof(e)));
		if (strncmp(v[i], ".tmp-", 5) == 0) {
			if (young(c, sb.st_mtime))
				continue;
			issue(c, "stray-temp", c->repair && remove_any(path), "%s", sub);
		} else if (S_ISDIR(sb.st_mode) && depth > 0)
			chk_walk(c, path, sub, depth - 1);
	}
	strv_free(v, n);
}

static int
holder_cmp(const void *a, const void *b)
{
	return serial_cmp(((const struct holder *)a)->sn, ((const struct holder *)b)->sn);
}

/* The holder of SN in V (N of them, sorted), or NULL. */
static struct holder *
find_holder(struct holder *v, size_t n, const char *sn)
{
	struct holder	key;

	if (n == 0 || strlen(sn) >= sizeof(key.sn))
		return NULL;
	memcpy(key.sn, sn, strlen(sn) + 1);
	return bsearch(&key, v, n, sizeof(*v), holder_cmp);
}

/*
 * A record still in approved/, committed with certificate SN under DNKEY (NULL: any key):
 * not published (yet), so certs/ and index.txt need not know it.
 */
static int
committed_as(struct chk *c, const char *sn, const char *dnkey)
{
	struct holder	*h = find_holder(c->comm, c->ncomm, sn);

	return h != NULL && h->st == RS_APPROVED &&
	    (dnkey == NULL || strcmp(h->dnkey, dnkey) == 0);
}

/* Write certs/<SN>.pem for record ID holding DER (a missing or wrong file). */
static int
write_cert(struct chk *c, const char *sn, const char *id, const unsigned char *der,
    size_t len, int excl)
{
	char	 path[MAX_PATH_LEN], *text = NULL;
	size_t	 tlen;
	int	 rc;

	rc = cert_text(id, der, len, &text, &tlen) &&
	    cert_path(c->r, path, sizeof(path), sn) && put_file(path, text, tlen, excl);
	free(text);
	return rc;
}

/* One record: malformed, or holding a certificate (kept in c->hold), or neither. */
static void
chk_record(struct chk *c, const char *id, enum rstate st, time_t mtime)
{
	struct record		*rec = NULL;
	struct repo_cert	 cf;
	struct holder		*nv;

	memset(&cf, 0, sizeof(cf));
	if ((rec = record_read(c->r, id, st, 0)) == NULL) {
		issue(c, "bad-record", 0, "%s/%s does not load", state_dirs[st], id);
		return;
	}
	if (rec->cert_der == NULL) {
		if (st == RS_ISSUED)
			issue(c, "issued-no-cert", 0, "issued/%s holds no certificate", id);
		goto out;
	}
	if (st != RS_ISSUED && st != RS_APPROVED) {
		issue(c, "bad-record", 0, "%s/%s holds a certificate", state_dirs[st], id);
		goto out;
	}
	if (!cert_facts_der(rec->cert_der, rec->cert_len, &cf) ||
	    (rec->serial != NULL && strcmp(rec->serial, cf.serial) != 0)) {
		issue(c, st == RS_ISSUED ? "issued-no-cert" : "bad-record", 0, "%s/%s holds "
		    "a certificate that does not parse or is not its serial", state_dirs[st], id);
		goto out;
	}
	if (st == RS_ISSUED) {
		if ((nv = reallocarray(c->hold, c->nhold + 1, sizeof(*nv))) == NULL)
			goto out;
		c->hold = nv;
		nv += c->nhold++;
	} else {
		if ((nv = reallocarray(c->comm, c->ncomm + 1, sizeof(*nv))) == NULL)
			goto out;
		c->comm = nv;
		nv += c->ncomm++;
	}
	memset(nv, 0, sizeof(*nv));
	memcpy(nv->sn, cf.serial, strlen(cf.serial) + 1);
	memcpy(nv->dnkey, cf.dnkey, sizeof(nv->dnkey));
	memcpy(nv->id, id, REPO_ID_LEN + 1);
	nv->st = st;
	nv->der = rec->cert_der;
	nv->len = rec->cert_len;
	nv->mtime = mtime;
	rec->cert_der = NULL;
out:
	repo_cert_facts_free(&cf);
	record_free(rec);
}

struct rent {
	char		id[REPO_ID_LEN + 1];
	enum rstate	st;
	time_t		mtime;
};

static int
rent_cmp(const void *a, const void *b)
{
	const struct rent	*x = a, *y = b;
	int			 d = strcmp(x->id, y->id);

	return d != 0 ? d : (int)x->st - (int)y->st;
}

static void
chk_records(struct chk *c)
{
	char		  dir[MAX_PATH_LEN], e[256], **v = NULL;
	struct rent	 *ents = NULL, *ne;
	struct stat	  sb;
	size_t		  n, i, j, ne_n = 0;
	int		  st;

	for (st = 0; st < RS_COUNT; st++) {
		if (!path_join(dir, sizeof(dir), c->r->root, state_dirs[st], NULL, NULL) ||
		    !list_dir(dir, NULL, &v, &n)) {
			issue(c, "io-error", 0, "%s/: %s", state_dirs[st], strerror(errno));
			continue;
		}
		for (i = 0; i < n; i++) {
			if (!repo_id_valid(v[i])) {
				if (!skip_name(v[i]))
					issue(c, "bad-name", 0, "%s/%s", state_dirs[st],
					    esc(v[i], e, sizeof(e)));
				continue;
			}
			if (fstatat(c->r->dfd[st], v[i], &sb, AT_SYMLINK_NOFOLLOW) == -1)
				continue;
			if (!S_ISREG(sb.st_mode)) {
				issue(c, "bad-record", 0, "%s/%s is not a record file%s",
				    state_dirs[st], v[i], S_ISDIR(sb.st_mode) ?
				    " (a record directory of an older layout: run scep-admin migrate)" : "");
				continue;
			}
			if ((ne = reallocarray(ents, ne_n + 1, sizeof(*ents))) == NULL)
				break;
			ents = ne;
			memcpy(ents[ne_n].id, v[i], REPO_ID_LEN + 1);
			ents[ne_n].mtime = sb.st_mtime;
			ents[ne_n++].st = (enum rstate)st;
		}
		strv_free(v, n);
	}
	if (ne_n > 1)
		qsort(ents, ne_n, sizeof(*ents), rent_cmp);
	for (i = 0; i < ne_n; i = j) {
		for (j = i + 1; j < ne_n && strcmp(ents[j].id, ents[i].id) == 0; j++)
			;
		if (j - i > 1)
			issue(c, "dup-state", 0, "%s is in %s and %s", ents[i].id,
			    state_dirs[ents[i].st], state_dirs[ents[i + 1].st]);
		else
			chk_record(c, ents[i].id, ents[i].st, ents[i].mtime);
	}
	free(ents);
	if (c->nhold > 1)
		qsort(c->hold, c->nhold, sizeof(*c->hold), holder_cmp);
	if (c->ncomm > 1)
		qsort(c->comm, c->ncomm, sizeof(*c->comm), holder_cmp);
	for (i = 0; i + 1 < c->nhold; i++)
		if (strcmp(c->hold[i].sn, c->hold[i + 1].sn) == 0)
			issue(c, "dup-serial", 0, "serial %s is held by issued/%s and "
			    "issued/%s", c->hold[i].sn, c->hold[i].id, c->hold[i + 1].id);
}

static int
ccert_cmp(const void *a, const void *b)
{
	return serial_cmp(((const struct ccert *)a)->sn, ((const struct ccert *)b)->sn);
}

static struct ccert *
find_cert(struct chk *c, const char *sn)
{
	struct ccert	key;

	if (c->ncerts == 0 || strlen(sn) >= sizeof(key.sn))
		return NULL;
	memcpy(key.sn, sn, strlen(sn) + 1);
	return bsearch(&key, c->certs, c->ncerts, sizeof(*c->certs), ccert_cmp);
}

static int
is_bad(struct chk *c, const char *sn)
{
	size_t	i;

	for (i = 0; i < c->nbad; i++)
		if (strcmp(c->bad[i], sn) == 0)
			return 1;
	return 0;
}

static void
add_bad(struct chk *c, const char *sn)
{
	char	**nv;

	if ((nv = reallocarray(c->bad, c->nbad + 1, sizeof(*nv))) != NULL) {
		c->bad = nv;
		if ((c->bad[c->nbad] = strdup(sn)) != NULL)
			c->nbad++;
	}
}

/* CC from the facts of certificate DER named SN. 0 with a reason in WHY if unusable. */
static int
ccert_fill(const unsigned char *der, size_t len, const char *sn, struct ccert *cc,
    const char **why)
{
	struct repo_cert	cf;
	int			rc = 0;

	memset(cc, 0, sizeof(*cc));
	*why = "unusable serial number, notAfter or subject";
	if (!cert_facts_der(der, len, &cf))
		return 0;
	*why = "its serial number differs from its name";
	if (strcmp(cf.serial, sn) != 0)
		goto out;
	*why = "unusable notAfter";
	if (!index_time(cc->expiry, sizeof(cc->expiry), cf.not_after))
		goto out;
	memcpy(cc->sn, sn, strlen(sn) + 1);
	memcpy(cc->dnkey, cf.dnkey, sizeof(cc->dnkey));
	cc->not_after = cf.not_after;
	cc->subject = cf.subject;
	cf.subject = NULL;
	rc = 1;
out:
	repo_cert_facts_free(&cf);
	return rc;
}

/* A name "<serial><SUFFIX>" with a normalized serial: the serial, else NULL. */
static char *
serial_stem(const char *name, const char *suffix, char *buf, size_t len)
{
	size_t	nl = strlen(name), sl = strlen(suffix);

	if (nl <= sl || nl - sl >= len || strcmp(name + nl - sl, suffix) != 0)
		return NULL;
	memcpy(buf, name, nl - sl);
	buf[nl - sl] = '\0';
	return serial_name_ok(buf) ? buf : NULL;
}

/* Add the certificate DER named SN to c->certs. */
static void
add_cert(struct chk *c, const char *sn, const unsigned char *der, size_t len)
{
	struct ccert	*nc;
	const char	*why;

	if ((nc = reallocarray(c->certs, c->ncerts + 1, sizeof(*nc))) == NULL)
		return;
	c->certs = nc;
	if (ccert_fill(der, len, sn, &c->certs[c->ncerts], &why))
		c->ncerts++;
	else {
		issue(c, "bad-cert", 0, "certs/%s.pem: %s", sn, why);
		add_bad(c, sn);
	}
}

/* certs/<SN>.pem against the record holding it. */
static void
chk_one_cert(struct chk *c, const char *sn)
{
	char		 name[MAX_SERIAL_HEX + 8], id[REPO_ID_LEN + 1];
	unsigned char	*text = NULL, *der = NULL;
	size_t		 tlen, dlen;
	struct holder	*h;

	(void)snprintf(name, sizeof(name), "%s.pem", sn);
	if (!read_file_at(c->r->dfd[RD_CERTS], name, &text, &tlen, MAX_BLOB) ||
	    !cert_text_parse(text, tlen, id, &der, &dlen)) {
		issue(c, "bad-cert", 0, "certs/%s: %s", name, text == NULL ? strerror(errno) :
		    "not a PEM certificate");
		add_bad(c, sn);
		goto out;
	}
	if ((h = find_holder(c->hold, c->nhold, sn)) != NULL &&
	    (h->len != dlen || memcmp(h->der, der, dlen) != 0)) {
		issue(c, "issued-no-cert", 0, "certs/%s is not the certificate of issued/%s",
		    name, h->id);
	} else if (h != NULL) {
		h->seen = 1;
		if (strcmp(id, h->id) != 0)
			issue(c, "cert-owner", c->repair &&
			    write_cert(c, sn, h->id, der, dlen, 0), "certs/%s names %s, not "
			    "issued/%s", name, id[0] ? id : "no record", h->id);
	} else if ((h = find_holder(c->comm, c->ncomm, sn)) != NULL &&
	    h->len == dlen && memcmp(h->der, der, dlen) == 0) {
		/* Committed, published half-way: chk_certs() takes it from here. */
		h->seen = 1;
		goto out;
	} else
		issue(c, "cert-owner", 0, "certs/%s: no record holds this certificate", name);
	add_cert(c, sn, der, dlen);
out:
	free(text);
	free(der);
}

/*
 * A record of approved/ holding a certificate whose serial another certificate has: its
 * certificate withdrawn (the record rewritten without it), so that the next issue signs
 * again. Only under the checker's lock, so done here rather than by repo_issue_unwind().
 */
static int
unwind_locked(struct chk *c, const struct holder *h)
{
	struct record		*rec;
	struct repo_cert	 cf;
	int			 rc = 0;

	if ((rec = record_read(c->r, h->id, RS_APPROVED, 1)) == NULL)
		return 0;
	if (cert_facts_der(rec->cert_der, rec->cert_len, &cf)) {
		free(rec->cert_der);
		rec->cert_der = NULL;
		rec->cert_len = 0;
		free(rec->serial);
		rec->serial = NULL;
		rc = record_rewrite(c->r, rec, RS_APPROVED, 1) &&
		    repo_dn_remove(c->r, cf.dnkey, cf.serial);
		repo_cert_facts_free(&cf);
	}
	record_free(rec);
	return rc;
}

/*
 * certs/: every certificate parsed and matched with the record holding it. Then each
 * record holding a certificate that certs/ lacks gets it back; and a committed record of
 * approved/ whose certificate is in certs/ is moved on to issued/ (its index line and DN
 * index entry follow from the checks below).
 */
static void
chk_certs(struct chk *c)
{
	char		  dir[MAX_PATH_LEN], path[MAX_PATH_LEN], e[256], **v = NULL;
	char		  sn[MAX_SERIAL_HEX + 2];
	struct holder	 *h;
	struct stat	  sb;
	size_t		  n = 0, i;
	int		  fixed, inflight;

	if (!path_join(dir, sizeof(dir), c->r->root, "certs", NULL, NULL) ||
	    !list_dir(dir, NULL, &v, &n)) {
		issue(c, "io-error", 0, "certs/: %s", strerror(errno));
		c->blind = 1;
		return;
	}
	for (i = 0; i < n; i++) {
		if (serial_stem(v[i], ".pem", sn, sizeof(sn)) != NULL)
			chk_one_cert(c, sn);
		else if (strncmp(v[i], ".tmp-", 5) == 0) {
			/* A write_file() of a repair, interrupted. */
			if (path_join(path, sizeof(path), dir, v[i], NULL, NULL) &&
			    lstat(path, &sb) == 0 && !young(c, sb.st_mtime))
				issue(c, "stray-temp", c->repair && remove_any(path),
				    "certs/%s", esc(v[i], e, sizeof(e)));
		} else if (!skip_name(v[i]))
			issue(c, "bad-name", 0, "certs/%s", esc(v[i], e, sizeof(e)));
	}
	strv_free(v, n);

	for (i = 0; i < c->nhold; i++) {
		h = &c->hold[i];
		if (is_bad(c, h->sn) || h->seen != 0)
			continue;
		fixed = c->repair && write_cert(c, h->sn, h->id, h->der, h->len, 1);
		issue(c, "issued-no-cert", fixed, "certs/%s.pem is missing (issued/%s)", h->sn,
		    h->id);
		add_cert(c, h->sn, h->der, h->len);	/* indexed, restored or not */
	}
	if (c->ncerts > 1)
		qsort(c->certs, c->ncerts, sizeof(*c->certs), ccert_cmp);
	for (i = 0; i < c->ncomm; i++) {
		h = &c->comm[i];
		if (is_bad(c, h->sn))
			continue;
		if (h->seen == 0 && (find_holder(c->hold, c->nhold, h->sn) != NULL ||
		    find_cert(c, h->sn) != NULL))
			h->seen = -1;	/* its serial is another certificate's */
		/* Committed in approved/; a young one may be an issue under way. */
		inflight = young(c, h->mtime);
		if (!c->repair) {
			if (!inflight)
				issue(c, "approved-has-cert", 0, "approved/%s holds certificate %s, "
				    "committed and not published%s", h->id, h->sn, h->seen == -1 ?
				    " (its serial is taken)" : "");
			continue;
		}
		if (h->seen == -1) {
			issue(c, "approved-has-cert", unwind_locked(c, h), "approved/%s holds "
			    "certificate %s, whose serial another certificate has: withdrawn, to "
			    "be signed again", h->id, h->sn);
			continue;
		}
		fixed = (h->seen == 1 || write_cert(c, h->sn, h->id, h->der, h->len, 1)) &&
		    repo_move(c->r, h->id, RS_APPROVED, RS_ISSUED);
		if (fixed) {
			h->st = RS_ISSUED;
			add_cert(c, h->sn, h->der, h->len);
		}
		issue(c, "approved-has-cert", fixed, "approved/%s holds certificate %s, "
		    "committed and not published: %s", h->id, h->sn,
		    fixed ? "published" : "left");
	}
	if (c->ncerts > 1)
		qsort(c->certs, c->ncerts, sizeof(*c->certs), ccert_cmp);
}

/* One line of the rebuilt index, sorted by serial. */
struct oline {
	const char	*sn;
	char		*text;
};

static int
oline_cmp(const void *a, const void *b)
{
	return serial_cmp(((const struct oline *)a)->sn, ((const struct oline *)b)->sn);
}

/* Write index.txt from the certificates, plus KEEP (revoked lines without a cert). */
static int
index_rebuild(struct chk *c, struct ientry **keep, size_t nkeep)
{
	struct oline	*ol = NULL;
	char		 path[MAX_PATH_LEN], *text = NULL, st;
	size_t		 n = 0, i, total = 0, o = 0;
	int		 rc = 0;
	FILE		*f = NULL;

	if ((ol = calloc(c->ncerts + nkeep + 1, sizeof(*ol))) == NULL)
		goto out;
	for (i = 0; i < c->ncerts; i++) {
		struct ccert	*cc = &c->certs[i];

		st = cc->revoked ? 'R' : (cc->line != NULL && cc->line->f[0][0] == 'E') ?
		    'E' : 'V';
		ol[n].sn = cc->sn;
		if (asprintf(&ol[n].text, "%c\t%s\t%s\t%s\tunknown\t%s\n", st, cc->expiry,
		    cc->revoked ? cc->revfield : "", cc->sn, cc->subject) == -1) {
			ol[n].text = NULL;
			goto out;
		}
		n++;
	}
	for (i = 0; i < nkeep; i++) {
		ol[n].sn = keep[i]->sn;
		if (asprintf(&ol[n].text, "%.*s\n", (int)keep[i]->rawlen, keep[i]->raw) == -1) {
			ol[n].text = NULL;
			goto out;
		}
		n++;
	}
	qsort(ol, n, sizeof(*ol), oline_cmp);
	if ((f = open_memstream(&text, &total)) == NULL)
		goto out;
	for (i = 0; i < n; i++)
		(void)fputs(ol[i].text, f);
	if (ferror(f) || fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	f = NULL;
	o = total;
	rc = path_join(path, sizeof(path), c->r->root, "index.txt", NULL, NULL) &&
	    put_file(path, text, o, 0);
out:
	if (f != NULL)
		(void)fclose(f);
	for (i = 0; i < n; i++)
		free(ol[i].text);
	free(ol);
	free(text);
	return rc;
}

/* index.txt against certs/ and revoked/. */
static void
chk_index(struct chk *c)
{
	struct index	  ix;
	struct ientry	 *e, **keep = NULL, **nk;
	struct ccert	 *cc;
	char		  dir[MAX_PATH_LEN], path[MAX_PATH_LEN], rev[64], mark[72], x[256];
	char		**marks = NULL;
	size_t		  nmarks = 0, nkeep = 0, i, j;
	time_t		  when;
	int		  reason, rebuilt = 0, fixed;

	if (c->blind)
		return;
	if (!index_load(c->r, &ix)) {
		issue(c, "io-error", 0, "index.txt: %s", strerror(errno));
		c->blind = 1;
		return;
	}
	if (!path_join(dir, sizeof(dir), c->r->root, "revoked", NULL, NULL) ||
	    (!list_dir(dir, NULL, &marks, &nmarks) && errno != ENOENT)) {
		issue(c, "io-error", 0, "revoked/: %s", strerror(errno));
		c->blind = 1;
		goto out;
	}

	for (i = 0; i < ix.n; i++) {
		e = &ix.e[i];
		if (!e->ok) {
			pend(c, "index-mismatch", "index.txt line %zu is malformed", i + 1);
			continue;
		}
		if ((cc = find_cert(c, e->sn)) != NULL) {
			if (cc->nlines++ == 0)
				cc->line = e;
			else
				pend(c, "index-mismatch", "index.txt line %zu: serial %s again",
				    i + 1, e->sn);
			continue;
		}
		if (is_bad(c, e->sn) || committed_as(c, e->sn, NULL))
			continue;	/* unreadable, or committed: reported above */
		if (e->f[0][0] != 'R') {
			pend(c, "index-no-cert", "index.txt line %zu: serial %s has no "
			    "certificate", i + 1, e->sn);
			continue;
		}
		/* Dropping it would unrevoke: keep it, say so every time. */
		issue(c, "index-no-cert", 0, "index.txt line %zu: revoked serial %s has no "
		    "certificate (kept)", i + 1, e->sn);
		if ((nk = reallocarray(keep, nkeep + 1, sizeof(*nk))) != NULL) {
			keep = nk;
			keep[nkeep++] = e;
		}
	}

	for (i = 0; i < nmarks; i++) {
		if (!serial_name_ok(marks[i])) {
			if (!skip_name(marks[i]))
				issue(c, "bad-name", 0, "revoked/%s", esc(marks[i], x, sizeof(x)));
			continue;
		}
		if ((cc = find_cert(c, marks[i])) != NULL) {
			cc->marker = 1;
			continue;
		}
		if (is_bad(c, marks[i]))
			continue;
		for (j = 0; j < nkeep && strcmp(keep[j]->sn, marks[i]) != 0; j++)
			;
		if (j == nkeep)
			issue(c, "revoked-marker", 0, "revoked/%s: no such certificate",
			    marks[i]);
	}

	for (i = 0; i < c->ncerts; i++) {
		cc = &c->certs[i];
		e = cc->line;
		if (e == NULL)
			pend(c, "cert-no-index", "certs/%s.pem has no index.txt line", cc->sn);
		else if (strcmp(e->f[1], cc->expiry) != 0 || strcmp(e->f[5], cc->subject) != 0)
			pend(c, "index-mismatch", "index.txt: serial %s: expiry or subject "
			    "differs from the certificate", cc->sn);
		cc->revoked = cc->marker || (e != NULL && e->f[0][0] == 'R');
		if (!cc->revoked)
			continue;
		/* The date and reason to keep: the old index, else the marker. */
		if (e != NULL && e->f[0][0] == 'R') {
			if (revfield_parse(e->f[2], &when, &reason))
				cc->revfield = strdup(e->f[2]);
			else
				pend(c, "index-mismatch", "index.txt: serial %s: unreadable "
				    "revocation field", cc->sn);
		}
		if (cc->revfield == NULL &&
		    (!cc->marker || !marker_read(c->r, cc->sn, &when, &reason) ||
		    !revfield_make(rev, sizeof(rev), when, reason) ||
		    (cc->revfield = strdup(rev)) == NULL)) {
			/* No date anywhere: now, no reason. */
			if (revfield_make(rev, sizeof(rev), c->now, REPO_REASON_NONE))
				cc->revfield = strdup(rev);
		}
		if (cc->revfield == NULL)
			cc->revfield = strdup("");
		if (!cc->marker) {
			(void)snprintf(mark, sizeof(mark), "%s\n", cc->revfield);
			fixed = c->repair && ensure_dir(c->r, "revoked", NULL) &&
			    serial_path(c->r, path, sizeof(path), "revoked", cc->sn, "") &&
			    put_file(path, mark, strlen(mark), 0);
			issue(c, "revoked-marker", fixed, "revoked/%s missing for a revoked "
			    "certificate", cc->sn);
			cc->marker = fixed;
		} else if (e != NULL && e->f[0][0] != 'R')
			pend(c, "revoked-marker", "revoked/%s exists but index.txt says %c",
			    cc->sn, e->f[0][0]);
	}

	if (c->npend > 0 && c->repair && c->nbad == 0)
		rebuilt = index_rebuild(c, keep, nkeep);
	for (i = 0; i < c->npend; i++)
		issue(c, c->pend[i], rebuilt, "%s", c->pend[i] + strlen(c->pend[i]) + 1);
out:
	free(keep);
	strv_free(marks, nmarks);
	index_free(&ix);
	strv_free(c->pend, c->npend);
	c->pend = NULL;
	c->npend = 0;
	for (i = 0; i < c->ncerts; i++)
		c->certs[i].line = NULL;	/* pointed into ix */
}

/* A bucket name of bydn/: DN_BUCKET lower-case hex digits. */
static int
bucket_ok(const char *s)
{
	return lower_hex(s, DN_BUCKET, DN_BUCKET);
}

/* One DN index entry NAME of bucket B (PATH): judged, removed on repair if wrong. */
static void
chk_dn_entry(struct chk *c, const char *b, const char *name, const char *path,
    unsigned char *seen)
{
	char		 key[REPO_DNKEY_MAX + 1], x[256];
	const char	*dot = strchr(name, '.'), *sn;
	struct ccert	*cc;
	size_t		 kl;

	if (dot == NULL || (kl = (size_t)(dot - name)) > REPO_DNKEY_MAX ||
	    strncmp(name, b, DN_BUCKET) != 0 || !serial_name_ok(dot + 1)) {
		if (!skip_name(name))
			issue(c, "dn-index", c->repair && remove_any(path),
			    "bydn/%s/%s: not a DN index entry", b, esc(name, x, sizeof(x)));
		return;
	}
	memcpy(key, name, kl);
	key[kl] = '\0';
	sn = dot + 1;
	if (!repo_dnkey_valid(key)) {
		issue(c, "dn-index", c->repair && remove_any(path),
		    "bydn/%s/%s: not a DN key", b, esc(name, x, sizeof(x)));
		return;
	}
	if (is_bad(c, sn))
		return;
	if (committed_as(c, sn, key))
		return;		/* committed, not published yet */
	if ((cc = find_cert(c, sn)) == NULL) {
		issue(c, "dn-index", c->repair && repo_dn_remove(c->r, key, sn),
		    "bydn/%s/%s: no such certificate", b, name);
	} else if (strcmp(cc->dnkey, key) != 0)
		issue(c, "dn-index", c->repair && repo_dn_remove(c->r, key, sn),
		    "bydn/%s/%s: the certificate's subject has key %s", b, name, cc->dnkey);
	else if (cc->revoked)
		issue(c, "dn-index", c->repair && repo_dn_remove(c->r, key, sn),
		    "bydn/%s/%s: revoked", b, name);
	else if (cc->not_after <= c->now) {
		if (c->repair && repo_dn_remove(c->r, key, sn))
			issue(c, "dn-expired", 1, "bydn/%s/%s: expired, pruned", b, name);
	} else
		seen[cc - c->certs] = 1;
}

/* bydn/ lists the non-revoked certificates; expired ones are pruned on repair. */
static void
chk_dn(struct chk *c)
{
	char		  dir[MAX_PATH_LEN], bdir[MAX_PATH_LEN], path[MAX_PATH_LEN], x[256];
	char		**bs = NULL, **ents = NULL;
	unsigned char	 *seen = NULL;
	struct ccert	 *cc;
	struct stat	  sb;
	size_t		  nbs = 0, nents = 0, i, j;
	int		  fixed;

	if (c->blind || (seen = calloc(c->ncerts + 1, 1)) == NULL)
		return;
	if (!path_join(dir, sizeof(dir), c->r->root, "bydn", NULL, NULL) ||
	    (!list_dir(dir, NULL, &bs, &nbs) && errno != ENOENT)) {
		issue(c, "io-error", 0, "bydn/: %s", strerror(errno));
		goto out;
	}
	for (i = 0; i < nbs; i++) {
		if (!path_join(bdir, sizeof(bdir), dir, bs[i], NULL, NULL) ||
		    lstat(bdir, &sb) == -1 || skip_name(bs[i]))
			continue;
		if (!bucket_ok(bs[i]) || !S_ISDIR(sb.st_mode)) {
			issue(c, "dn-index", c->repair && remove_any(bdir), "bydn/%s: not a "
			    "bucket%s", esc(bs[i], x, sizeof(x)), repo_dnkey_valid(bs[i]) ?
			    " (the DN index of an older layout)" : "");
			continue;
		}
		if (!list_dir(bdir, NULL, &ents, &nents)) {
			issue(c, "dn-index", 0, "bydn/%s: %s", bs[i], strerror(errno));
			continue;
		}
		for (j = 0; j < nents; j++)
			if (path_join(path, sizeof(path), bdir, ents[j], NULL, NULL))
				chk_dn_entry(c, bs[i], ents[j], path, seen);
		strv_free(ents, nents);
		ents = NULL;
		nents = 0;
	}
	for (i = 0; i < c->ncerts; i++) {
		cc = &c->certs[i];
		if (seen[i] || cc->revoked || cc->not_after <= c->now)
			continue;
		fixed = c->repair && repo_dn_add(c->r, cc->dnkey, cc->sn);
		issue(c, "dn-index", fixed, "bydn/%.*s/%s.%s is missing", DN_BUCKET, cc->dnkey,
		    cc->dnkey, cc->sn);
	}
out:
	strv_free(bs, nbs);
	free(seen);
}

int
repo_check(struct repo *r, int repair, repo_report_fn *report, void *arg)
{
	struct chk	c;
	size_t		i;

	memset(&c, 0, sizeof(c));
	c.r = r;
	c.repair = repair;
	c.report = report;
	c.arg = arg;
	c.now = time(NULL);
	if (!repo_lock(r))
		return -1;
	chk_tmpdir(&c);
	chk_walk(&c, r->root, "", 2);
	chk_records(&c);
	chk_certs(&c);
	chk_index(&c);
	chk_dn(&c);
	repo_unlock(r);

	for (i = 0; i < c.ncerts; i++) {
		free(c.certs[i].subject);
		free(c.certs[i].revfield);
	}
	free(c.certs);
	for (i = 0; i < c.nhold; i++)
		free(c.hold[i].der);
	free(c.hold);
	for (i = 0; i < c.ncomm; i++)
		free(c.comm[i].der);
	free(c.comm);
	strv_free(c.bad, c.nbad);
	return c.unrepaired;
}

void
repo_issue_collect(const char *what, const char *detail, int repaired, void *arg)
{
	struct repo_issue_report	*rep = arg;
	struct repo_issue		*nv;

	if ((nv = reallocarray(rep->v, rep->n + 1, sizeof(*nv))) == NULL)
		return;
	rep->v = nv;
	nv[rep->n].what = strdup(what);
	nv[rep->n].detail = strdup(detail);
	nv[rep->n].repaired = repaired;
	rep->n++;
	if (!repaired && strcmp(what, "dn-expired") != 0)
		rep->unrepaired++;
}

void
repo_issue_report_free(struct repo_issue_report *rep)
{
	size_t	i;

	if (rep == NULL)
		return;
	for (i = 0; i < rep->n; i++) {
		free(rep->v[i].what);
		free(rep->v[i].detail);
	}
	free(rep->v);
	memset(rep, 0, sizeof(*rep));
}
