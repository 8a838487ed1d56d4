/*
 * The repository checker: every record, certificate, index line, marker, counter and DN
 * index entry against the others, reported one violation at a time, and repaired on request
 * (see repo_check() in repo.h for the codes).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "repo_int.h"

/* A certificate of certs/ as the checker sees it. */
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

struct snid {
	char	sn[MAX_SERIAL_HEX + 2];
	char	id[REPO_ID_LEN + 1];
};

/*
 * An issued record's certificate whose certs/<SN>.pem is missing and was not restored:
 * the later checks use it, so that only the missing file is reported, not its echoes.
 */
struct vcert {
	char		 sn[MAX_SERIAL_HEX + 2];
	unsigned char	*der;
	size_t		 len;
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
	struct snid	 *ids;		/* serial -> record, from the records' meta */
	size_t		  nids;
	BIGNUM		 *max;		/* highest serial in use */
	int		  blind;	/* certs/ or index.txt unreadable: no DN repairs */
	char		**pend;		/* index problems the rebuild repairs: what \0 detail */
	size_t		  npend;
	struct vcert	 *virt;		/* issued certs whose PEM is missing, from cert.der */
	size_t		  nvirt;
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

static void
bn_max(struct chk *c, const char *sn)
{
	BIGNUM	*bn = NULL;

	if (BN_hex2bn(&bn, sn) == (int)strlen(sn) &&
	    (c->max == NULL || BN_cmp(bn, c->max) > 0)) {
		BN_free(c->max);
		c->max = bn;
		bn = NULL;
	}
	BN_free(bn);
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

/* Everything in tmp/ is a leftover: only lock holders stage there. */
static void
chk_tmpdir(struct chk *c)
{
	char	  dir[MAX_PATH_LEN], path[MAX_PATH_LEN], e[256], **v = NULL;
	size_t	  n = 0, i;

	if (!path_join(dir, sizeof(dir), c->r->root, "tmp", NULL, NULL) ||
	    !list_dir(dir, NULL, &v, &n)) {
		issue(c, "io-error", 0, "tmp/: %s", strerror(errno));
		return;
	}
	for (i = 0; i < n; i++)
		if (strcmp(v[i], "README.md") != 0)
			issue(c, "stray-temp", c->repair &&
			    path_join(path, sizeof(path), dir, v[i], NULL, NULL) &&
			    remove_any(path), "tmp/%s", esc(v[i], e, sizeof(e)));
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
		if (!path_join(path, sizeof(path), dir, v[i], NULL, NULL) ||
		    lstat(path, &sb) == -1)
			continue;
		(void)snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "",
		    esc(v[i], e, sizeof(e)));
		if (strncmp(v[i], ".tmp-", 5) == 0) {
			if ((long long)sb.st_mtime + STRAY_GRACE > (long long)c->now)
				continue;
			issue(c, "stray-temp", c->repair && remove_any(path), "%s", sub);
		} else if (S_ISDIR(sb.st_mode) && depth > 0 &&
		    !(rel[0] == '\0' && strcmp(v[i], "tmp") == 0))
			chk_walk(c, path, sub, depth - 1);
	}
	strv_free(v, n);
}

static int
snid_cmp(const void *a, const void *b)
{
	return serial_cmp(((const struct snid *)a)->sn, ((const struct snid *)b)->sn);
}

static void
snid_add(struct chk *c, const char *sn, const char *id)
{
	struct snid	*nv;

	if ((nv = reallocarray(c->ids, c->nids + 1, sizeof(*nv))) == NULL)
		return;
	c->ids = nv;
	memcpy(nv[c->nids].sn, sn, strlen(sn) + 1);
	memcpy(nv[c->nids].id, id, REPO_ID_LEN + 1);
	c->nids++;
}

/* Does certs/<SN>.pem hold DER? 1 yes, 0 another cert, -1 missing, -2 unreadable. */
static int
pem_matches(struct repo *r, const char *sn, const unsigned char *der, size_t len)
{
	unsigned char	*d = NULL;
	X509		*x = NULL;
	int		 n, rc = -2;

	if (!cert_read(r, sn, &x, 1)) {
		rc = errno == ENOENT ? -1 : -2;
		ERR_clear_error();
		return rc;
	}
	if ((n = i2d_X509(x, &d)) > 0)
		rc = (size_t)n == len && memcmp(d, der, len) == 0;
	X509_free(x);
	OPENSSL_free(d);
	return rc;
}

/* Put a record's cert.der back as certs/<SN>.pem, if it is one certificate with that serial. */
static int
restore_pem(struct repo *r, const char *sn, const unsigned char *der, size_t len)
{
	const unsigned char	*p = der;
	char			 path[MAX_PATH_LEN];
	struct repo_cert	 cf;
	X509			*x = NULL;
	BIO			*bio = NULL;
	char			*pem;
	long			 pemlen;
	int			 rc = 0;

	memset(&cf, 0, sizeof(cf));
	if (len > LONG_MAX || (x = d2i_X509(NULL, &p, (long)len)) == NULL ||
	    p != der + len || !repo_cert_facts(x, &cf) || strcmp(cf.serial, sn) != 0)
		goto out;
	if ((bio = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_X509(bio, x) ||
	    (pemlen = BIO_get_mem_data(bio, &pem)) <= 0)
		goto out;
	rc = cert_path(r, path, sizeof(path), sn) &&
	    put_file(path, pem, (size_t)pemlen, 1);
out:
	repo_cert_facts_free(&cf);
	X509_free(x);
	BIO_free(bio);
	return rc;
}

static void
chk_record(struct chk *c, const char *id, enum rstate st)
{
	struct record	*rec = NULL;
	unsigned char	*der = NULL;
	size_t		 len = 0;
	char		 sn[MAX_SERIAL_HEX + 2];
	struct vcert	*nv;
	int		 snok, m;

	if ((rec = record_read(c->r, id, st, 0)) == NULL) {
		issue(c, "bad-record", 0, "%s/%s: meta does not load", state_dirs[st], id);
		return;
	}
	snok = rec->serial != NULL && serial_normalize(rec->serial, sn, sizeof(sn));
	if (snok)
		bn_max(c, sn);
	if (st != RS_ISSUED && st != RS_APPROVED)
		goto out;
	if (!blob_read(c->r, st, id, REC_CERT, &der, &len)) {
		issue(c, st == RS_ISSUED ? "issued-no-cert" : "bad-record", 0,
		    "%s/%s/cert.der is unreadable", state_dirs[st], id);
		goto out;
	}
	if (der == NULL || !snok) {
		if (st == RS_ISSUED)
			issue(c, "issued-no-cert", 0, "issued/%s: no %s", id,
			    der == NULL ? "cert.der" : "serial in meta");
		goto out;	/* approved: an issue that enroll_issue() finishes */
	}
	m = pem_matches(c->r, sn, der, len);
	if (st == RS_ISSUED) {
		if (m == -1) {
			m = c->repair && restore_pem(c->r, sn, der, len);
			issue(c, "issued-no-cert", m, "certs/%s.pem is missing (issued/%s)",
			    sn, id);
			if (!m && (nv = reallocarray(c->virt, c->nvirt + 1,
			    sizeof(*nv))) != NULL) {
				c->virt = nv;
				memcpy(nv[c->nvirt].sn, sn, strlen(sn) + 1);
				nv[c->nvirt].der = der;
				nv[c->nvirt++].len = len;
				der = NULL;
				m = 1;
			}
		} else if (m != 1)
			issue(c, "issued-no-cert", 0, "certs/%s.pem is not the certificate of "
			    "issued/%s", sn, id);
	} else if (m == 1)
		issue(c, "approved-has-cert",
		    c->repair && repo_move(c->r, id, RS_APPROVED, RS_ISSUED),
		    "approved/%s holds its stored certificate %s", id, sn);
	if (m == 1)
		snid_add(c, sn, id);
out:
	free(der);
	record_free(rec);
}

struct rent {
	char		id[REPO_ID_LEN + 1];
	enum rstate	st;
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
			if ((ne = reallocarray(ents, ne_n + 1, sizeof(*ents))) == NULL)
				break;
			ents = ne;
			memcpy(ents[ne_n].id, v[i], REPO_ID_LEN + 1);
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
			chk_record(c, ents[i].id, ents[i].st);
	}
	free(ents);
	if (c->nids > 1)
		qsort(c->ids, c->nids, sizeof(*c->ids), snid_cmp);
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

/* CC from certificate X named SN. 0 with a reason in WHY if it is not usable. */
static int
ccert_fill(X509 *x, const char *sn, struct ccert *cc, const char **why)
{
	struct repo_cert	cf;
	int			rc = 0;

	memset(cc, 0, sizeof(*cc));
	*why = "unusable serial number, notAfter or subject";
	if (!repo_cert_facts(x, &cf))
		goto out;
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

/* Parse certs/<SN>.pem into CC. 0 with a reason in WHY if it is not a usable certificate. */
static int
ccert_load(struct repo *r, const char *sn, struct ccert *cc, const char **why)
{
	X509	*x = NULL;
	int	 rc = 0;

	memset(cc, 0, sizeof(*cc));
	if (!cert_read(r, sn, &x, 1))
		*why = errno == EINVAL ? "not a PEM certificate" : "unreadable";
	else
		rc = ccert_fill(x, sn, cc, why);
	ERR_clear_error();
	X509_free(x);
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

/* certs/: parse every certificate; check each .id file. */
static void
chk_certs(struct chk *c)
{
	char		  dir[MAX_PATH_LEN], path[MAX_PATH_LEN], e[256], sn[MAX_SERIAL_HEX + 2];
	char		  id[REPO_ID_LEN + 1], key[REPO_DNKEY_MAX + 1], text[160], **v = NULL;
	char		**idf = NULL, **nv;
	const char	 *why, *want;
	struct ccert	 *nc;
	struct snid	  sk, *owner;
	size_t		  n = 0, i, nidf = 0;
	int		  ok, okfile;

	if (!path_join(dir, sizeof(dir), c->r->root, "certs", NULL, NULL) ||
	    !list_dir(dir, NULL, &v, &n)) {
		issue(c, "io-error", 0, "certs/: %s", strerror(errno));
		c->blind = 1;
		return;
	}
	for (i = 0; i < n; i++) {
		if (serial_stem(v[i], ".pem", sn, sizeof(sn)) != NULL) {
			bn_max(c, sn);
			if ((nc = reallocarray(c->certs, c->ncerts + 1, sizeof(*nc))) == NULL)
				continue;
			c->certs = nc;
			if (ccert_load(c->r, sn, &c->certs[c->ncerts], &why)) {
				c->ncerts++;
				continue;
			}
			issue(c, "bad-cert", 0, "certs/%s.pem: %s", sn, why);
			if ((nv = reallocarray(c->bad, c->nbad + 1, sizeof(*nv))) != NULL) {
				c->bad = nv;
				if ((c->bad[c->nbad] = strdup(sn)) != NULL)
					c->nbad++;
			}
		} else if (serial_stem(v[i], ".id", sn, sizeof(sn)) != NULL) {
			if ((nv = reallocarray(idf, nidf + 1, sizeof(*nv))) != NULL) {
				idf = nv;
				if ((idf[nidf] = strdup(sn)) != NULL)
					nidf++;
			}
		} else if (!skip_name(v[i]))
			issue(c, "bad-name", 0, "certs/%s", esc(v[i], e, sizeof(e)));
	}
	for (i = 0; i < c->nvirt; i++) {
		const unsigned char	*p = c->virt[i].der;
		X509			*x;
		size_t			 k;

		for (k = 0; k < c->ncerts && strcmp(c->certs[k].sn, c->virt[i].sn) != 0; k++)
			;
		if (k < c->ncerts || is_bad(c, c->virt[i].sn) ||
		    (nc = reallocarray(c->certs, c->ncerts + 1, sizeof(*nc))) == NULL)
			continue;
		c->certs = nc;
		if ((x = d2i_X509(NULL, &p, (long)c->virt[i].len)) != NULL &&
		    ccert_fill(x, c->virt[i].sn, &c->certs[c->ncerts], &why))
			c->ncerts++;
		X509_free(x);
		ERR_clear_error();
	}
	if (c->ncerts > 1)
		qsort(c->certs, c->ncerts, sizeof(*c->certs), ccert_cmp);

	/* certs/<SN>.id names the record holding the certificate and its DN key. */
	for (i = 0; i < c->ncerts; i++) {
		struct ccert	*cc = &c->certs[i];

		memcpy(sk.sn, cc->sn, strlen(cc->sn) + 1);
		owner = c->nids > 0 ? bsearch(&sk, c->ids, c->nids, sizeof(*c->ids),
		    snid_cmp) : NULL;
		okfile = idfile_read(c->r, cc->sn, id, key);
		ok = okfile && strcmp(key, cc->dnkey) == 0 &&
		    (owner != NULL ? strcmp(owner->id, id) == 0 :
		    repo_find(c->r, id) != RS_NONE);
		if (ok)
			continue;
		want = owner != NULL ? owner->id :
		    (okfile && repo_find(c->r, id) != RS_NONE) ? id : NULL;
		if (want == NULL) {
			issue(c, "cert-id", 0, "certs/%s.id: no record holds this certificate",
			    cc->sn);
			continue;
		}
		(void)snprintf(text, sizeof(text), "%s\n%s\n", want, cc->dnkey);
		issue(c, "cert-id", c->repair &&
		    serial_path(c->r, path, sizeof(path), "certs", cc->sn, ".id") &&
		    put_file(path, text, strlen(text), 0),
		    "certs/%s.id is %s", cc->sn, okfile ? "wrong" : "missing or malformed");
	}
	for (i = 0; i < nidf; i++)
		if (find_cert(c, idf[i]) == NULL && !is_bad(c, idf[i]))
			issue(c, "cert-id", c->repair &&
			    serial_path(c->r, path, sizeof(path), "certs", idf[i], ".id") &&
			    remove_any(path), "certs/%s.id without certificate", idf[i]);
	strv_free(idf, nidf);
	strv_free(v, n);
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
		bn_max(c, e->sn);
		if ((cc = find_cert(c, e->sn)) != NULL) {
			if (cc->nlines++ == 0)
				cc->line = e;
			else
				pend(c, "index-mismatch", "index.txt line %zu: serial %s again",
				    i + 1, e->sn);
			continue;
		}
		if (is_bad(c, e->sn))
			continue;
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

/* `serial` must be above every serial in use. */
static void
chk_serial(struct chk *c)
{
	char		 path[MAX_PATH_LEN], cur[MAX_SERIAL_HEX + 2], want[MAX_SERIAL_HEX + 2];
	char		 line[MAX_SERIAL_HEX + 4], *hex = NULL, *maxhex = NULL;
	unsigned char	*buf = NULL;
	BIGNUM		*bn = NULL, *next = NULL;
	size_t		 len;
	int		 ok = 0;

	if (!path_join(path, sizeof(path), c->r->root, "serial", NULL, NULL))
		return;
	if (get_file(path, &buf, &len, MAX_COUNTER))
		ok = counter_value(buf, len, cur) && BN_hex2bn(&bn, cur) == (int)strlen(cur) &&
		    !BN_is_zero(bn) && (c->max == NULL || BN_cmp(bn, c->max) > 0);
	if (ok)
		goto out;
	if ((next = c->max != NULL ? BN_dup(c->max) : BN_new()) == NULL ||
	    !BN_add_word(next, 1) || (hex = BN_bn2hex(next)) == NULL ||
	    !serial_normalize(hex, want, sizeof(want)))
		goto out;
	if (c->max != NULL)
		maxhex = BN_bn2hex(c->max);
	(void)snprintf(line, sizeof(line), "%s\n", want);
	issue(c, "serial-behind", c->repair && put_file(path, line, strlen(line),
	    0), "serial is %s, highest serial in use is %s",
	    buf != NULL ? (bn != NULL ? cur : "malformed") : "unreadable",
	    maxhex != NULL ? maxhex : "none");
out:
	free(buf);
	BN_free(bn);
	BN_free(next);
	OPENSSL_free(hex);
	OPENSSL_free(maxhex);
}

/* bydn/ lists the non-revoked certificates; expired ones are pruned on repair. */
static void
chk_dn(struct chk *c)
{
	char		  dir[MAX_PATH_LEN], kdir[MAX_PATH_LEN], path[MAX_PATH_LEN], x[256];
	char		**keys = NULL, **ents = NULL;
	unsigned char	 *seen = NULL;
	struct ccert	 *cc;
	size_t		  nkeys = 0, nents = 0, i, j;
	int		  fixed;

	if (c->blind || (seen = calloc(c->ncerts + 1, 1)) == NULL)
		return;
	if (!path_join(dir, sizeof(dir), c->r->root, "bydn", NULL, NULL) ||
	    (!list_dir(dir, NULL, &keys, &nkeys) && errno != ENOENT)) {
		issue(c, "io-error", 0, "bydn/: %s", strerror(errno));
		goto out;
	}
	for (i = 0; i < nkeys; i++) {
		if (!path_join(kdir, sizeof(kdir), dir, keys[i], NULL, NULL))
			continue;
		if (!repo_dnkey_valid(keys[i])) {
			if (!skip_name(keys[i]))
				issue(c, "dn-index", c->repair && remove_any(kdir),
				    "bydn/%s: not a DN key", esc(keys[i], x, sizeof(x)));
			continue;
		}
		if (!list_dir(kdir, NULL, &ents, &nents)) {
			issue(c, "dn-index", 0, "bydn/%s: %s", keys[i], strerror(errno));
			continue;
		}
		for (j = 0; j < nents; j++) {
			if (!path_join(path, sizeof(path), kdir, ents[j], NULL, NULL))
				continue;
			if (!serial_name_ok(ents[j])) {
				if (!skip_name(ents[j]))
					issue(c, "dn-index", c->repair && remove_any(path),
					    "bydn/%s/%s: not a serial", keys[i],
					    esc(ents[j], x, sizeof(x)));
				continue;
			}
			if (is_bad(c, ents[j]))
				continue;
			if ((cc = find_cert(c, ents[j])) == NULL)
				issue(c, "dn-index", c->repair &&
				    repo_dn_remove(c->r, keys[i], ents[j]),
				    "bydn/%s/%s: no such certificate", keys[i], ents[j]);
			else if (strcmp(cc->dnkey, keys[i]) != 0)
				issue(c, "dn-index", c->repair &&
				    repo_dn_remove(c->r, keys[i], ents[j]),
				    "bydn/%s/%s: the certificate's subject has key %s", keys[i],
				    ents[j], cc->dnkey);
			else if (cc->revoked)
				issue(c, "dn-index", c->repair &&
				    repo_dn_remove(c->r, keys[i], ents[j]),
				    "bydn/%s/%s: revoked", keys[i], ents[j]);
			else if (cc->not_after <= c->now) {
				if (c->repair && repo_dn_remove(c->r, keys[i], ents[j]))
					issue(c, "dn-expired", 1, "bydn/%s/%s: expired, pruned",
					    keys[i], ents[j]);
			} else
				seen[cc - c->certs] = 1;
		}
		strv_free(ents, nents);
		ents = NULL;
		nents = 0;
		if (c->repair && rmdir(kdir) == 0)	/* emptied by the repairs above */
			(void)sync_dir(dir);
	}
	for (i = 0; i < c->ncerts; i++) {
		cc = &c->certs[i];
		if (seen[i] || cc->revoked || cc->not_after <= c->now)
			continue;
		fixed = c->repair && repo_dn_add(c->r, cc->dnkey, cc->sn);
		issue(c, "dn-index", fixed, "bydn/%s/%s is missing", cc->dnkey, cc->sn);
	}
out:
	strv_free(keys, nkeys);
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
	chk_serial(&c);
	chk_dn(&c);
	repo_unlock(r);

	for (i = 0; i < c.ncerts; i++) {
		free(c.certs[i].subject);
		free(c.certs[i].revfield);
	}
	free(c.certs);
	for (i = 0; i < c.nvirt; i++)
		free(c.virt[i].der);
	free(c.virt);
	strv_free(c.bad, c.nbad);
	free(c.ids);
	BN_free(c.max);
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
