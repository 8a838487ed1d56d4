/*
 * The certificate indexes: index.txt (OpenSSL `ca` format), certs/<SERIAL>.pem (the
 * certificate, and which record holds it), and the DN index bydn/<bucket>/<dnkey>.<SERIAL>.
 * repo_issue.c writes them for a newly issued certificate, in the order of its protocol.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "names.h"
#include "repo_int.h"

/*
 * index.txt expiry: UTCTime YYMMDDHHMMSSZ for 1950..2049, GeneralizedTime otherwise
 * (RFC 5280 §4.1.2.5), as `openssl ca` writes it.
 */
int
index_time(char *buf, size_t len, time_t t)
{
	struct tm	tm;
	int		year, n;

	if (gmtime_r(&t, &tm) == NULL)
		return 0;
	year = tm.tm_year + 1900;
	n = snprintf(buf, len, "%0*d%02d%02d%02d%02d%02dZ",
	    (year >= 1950 && year < 2050) ? 2 : 4,
	    (year >= 1950 && year < 2050) ? year % 100 : year,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return n > 0 && (size_t)n < len && year >= 0 && year <= 9999;
}

/* Append one line to index.txt; a failed write is cut back so no half line remains. */
int
index_append(struct repo *r, const char *line, int *fdp)
{
	struct stat	sb;
	int		fd = -1, saved;

	*fdp = -1;
	if ((fd = openat(r->dfd[RD_ROOT], "index.txt", O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC, FILE_MODE)) == -1 || fstat(fd, &sb) == -1)
		goto fail;
	if (!write_all(fd, line, strlen(line))) {
		saved = errno;
		if (ftruncate(fd, sb.st_size) == -1)
			logx(LOG_LVL_ERR, "truncate %s/index.txt: %s", r->root, strerror(errno));
		errno = saved;
		goto fail;
	}
	*fdp = fd;
	return 1;
fail:
	saved = errno;
	logx(LOG_LVL_ERR, "append %s/index.txt: %s", r->root, strerror(saved));
	if (fd != -1)
		(void)close(fd);
	errno = saved;
	return 0;
}

char *
index_line(const struct repo_cert *cf)
{
	char	when[32], *line = NULL;

	/* V, expiry, no revocation date, serial, file name, subject (`openssl ca`). */
	if (!index_time(when, sizeof(when), cf->not_after) ||
	    asprintf(&line, "V\t%s\t\t%s\tunknown\t%s\n", when, cf->serial, cf->subject) == -1)
		return NULL;
	return line;
}

/* ---- index.txt parsing ---------------------------------------------------------------- */

void
index_free(struct index *ix)
{
	free(ix->text);
	free(ix->split);
	free(ix->e);
	memset(ix, 0, sizeof(*ix));
}

/* Cut LINE (NUL-terminated, in place) into E's fields. */
static void
index_parse_line(char *line, struct ientry *e)
{
	char	*p = line;
	int	 nf = 0;

	e->ok = 0;
	for (;;) {
		if (nf == IDX_NF)
			return;		/* a seventh field */
		e->f[nf++] = p;
		if ((p = strchr(p, '\t')) == NULL)
			break;
		*p++ = '\0';
	}
	if (nf != IDX_NF || strlen(e->f[0]) != 1 || strchr("VRE", e->f[0][0]) == NULL ||
	    !serial_normalize(e->f[3], e->sn, sizeof(e->sn)))
		return;
	e->ok = 1;
}

/* Load and parse index.txt; a missing file is an empty index. 0 on error (logged). */
int
index_load(struct repo *r, struct index *ix)
{
	char	 path[MAX_PATH_LEN], *line, *eol, *end;
	size_t	 i, lines = 0, k = 0;

	memset(ix, 0, sizeof(*ix));
	if (!path_join(path, sizeof(path), r->root, "index.txt", NULL, NULL))
		return 0;
	if (!get_file(path, &ix->text, &ix->len, MAX_INDEX)) {
		if (errno != ENOENT)
			return 0;
		if ((ix->text = calloc(1, 1)) == NULL)
			return 0;
		ix->len = 0;
	}
	for (i = 0; i < ix->len; i++)
		if (ix->text[i] == '\n')
			lines++;
	if (ix->len > 0 && ix->text[ix->len - 1] != '\n')
		lines++;
	if ((ix->split = malloc(ix->len + 1)) == NULL ||
	    (ix->e = calloc(lines + 1, sizeof(*ix->e))) == NULL) {
		index_free(ix);
		return 0;
	}
	memcpy(ix->split, ix->text, ix->len + 1);
	end = ix->split + ix->len;
	for (line = ix->split; line < end && k < lines; line = eol + 1, k++) {
		if ((eol = memchr(line, '\n', (size_t)(end - line))) == NULL)
			eol = end;
		*eol = '\0';
		ix->e[k].raw = (const char *)ix->text + (line - ix->split);
		ix->e[k].rawlen = (size_t)(eol - line);
		index_parse_line(line, &ix->e[k]);
	}
	ix->n = k;
	return 1;
}

/* A scan of the text for "\t<SN>\t" as the fourth field of a line: no parse, no copy. */
int
index_has_serial(struct repo *r, const char *sn)
{
	unsigned char	*text = NULL;
	const char	*p, *end, *bol;
	char		 pat[MAX_SERIAL_HEX + 4];
	size_t		 len, plen;
	int		 tabs, found = 0;

	if (!read_file_at(r->dfd[RD_ROOT], "index.txt", &text, &len, MAX_INDEX)) {
		if (errno == ENOENT)
			return 0;
		logx(LOG_LVL_ERR, "read %s/index.txt: %s", r->root, strerror(errno));
		return -1;
	}
	plen = (size_t)snprintf(pat, sizeof(pat), "\t%s\t", sn);
	end = (const char *)text + len;
	for (p = (const char *)text; !found && (p = memmem(p, (size_t)(end - p), pat, plen)) != NULL;
	    p++) {
		/* Count the tabs from the start of the line: the serial follows the third. */
		for (bol = p; bol > (const char *)text && bol[-1] != '\n'; bol--)
			;
		for (tabs = 0; bol < p; bol++)
			tabs += *bol == '\t';
		found = tabs == 2;
	}
	free(text);
	return found;
}

/* ---- DN index ------------------------------------------------------------------------- */

int
repo_dnkey_valid(const char *k)
{
	return lower_hex(k, REPO_DNKEY_MIN, REPO_DNKEY_MAX);
}

int
repo_dnkey(X509_NAME *name, char out[REPO_DNKEY_MAX + 1])
{
	unsigned char	md[32];

	out[0] = '\0';
	if (name == NULL || !name_canon_digest(name, md)) {
		log_crypto(LOG_LVL_ERR, "dn key: cannot hash the name");
		return 0;
	}
	hex_encode(out, md, sizeof(md));
	return 1;
}

void
dn_bucket(const char *dnkey, char out[DN_BUCKET + 1])
{
	memcpy(out, dnkey, DN_BUCKET);
	out[DN_BUCKET] = '\0';
}

int
dn_entry_name(const char *dnkey, const char *sn, char *out, size_t outlen)
{
	if (!repo_dnkey_valid(dnkey) || !serial_name_ok(sn) ||
	    (size_t)snprintf(out, outlen, "%s.%s", dnkey, sn) >= outlen) {
		errno = EINVAL;
		return 0;
	}
	return 1;
}

/*
 * The bucket directory of DNKEY, open; made if MAKE (then *MADE is 1: bydn/ needs a sync).
 * -1 on error, errno ENOENT when it does not exist and MAKE is 0.
 */
static int
dn_bucket_open(struct repo *r, const char *dnkey, int make, int *made)
{
	char	b[DN_BUCKET + 1];
	int	top, fd;

	*made = 0;
	if ((top = repo_dfd(r, RD_BYDN)) == -1)
		return -1;
	dn_bucket(dnkey, b);
	fd = openat(top, b, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT && make) {
		if (mkdirat(top, b, DIR_MODE) == 0) {
			*made = 1;
			/* The mode is set after mkdir(2), so the umask does not narrow it. */
			if (fchmodat(top, b, DIR_MODE, 0) == -1)
				logx(LOG_LVL_WARN, "chmod %s/bydn/%s: %s", r->root, b,
				    strerror(errno));
		} else if (errno != EEXIST) {
			logx(LOG_LVL_ERR, "mkdir %s/bydn/%s: %s", r->root, b, strerror(errno));
			return -1;
		}
		fd = openat(top, b, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd == -1 && (errno != ENOENT || make))
		logx(LOG_LVL_ERR, "open %s/bydn/%s: %s", r->root, b, strerror(errno));
	return fd;
}

int
dn_link(struct repo *r, int fromfd, const char *name, const char *dnkey, const char *sn,
    int *bfd, int *newbucket)
{
	char	entry[REPO_DNKEY_MAX + MAX_SERIAL_HEX + 4];

	*bfd = -1;
	*newbucket = 0;
	if (!dn_entry_name(dnkey, sn, entry, sizeof(entry))) {
		logx(LOG_LVL_ERR, "dn index: invalid key or serial");
		return 0;
	}
	if ((*bfd = dn_bucket_open(r, dnkey, 1, newbucket)) == -1)
		return 0;
	if (linkat(fromfd, name, *bfd, entry, 0) == -1 && errno != EEXIST) {
		logx(LOG_LVL_ERR, "link bydn/%.*s/%s: %s", DN_BUCKET, dnkey, entry,
		    strerror(errno));
		return 0;
	}
	return 1;
}

int
dn_sync(struct repo *r, int bfd, int newbucket)
{
	struct sync_req	q[2];
	size_t		n = 0;
	int		ok;

	q[n].fd = bfd;
	q[n++].data = 0;
	if (newbucket) {
		q[n].fd = r->dfd[RD_BYDN];
		q[n++].data = 0;
	}
	ok = sync_logged(q, n, "bydn/");
	(void)close(bfd);
	return ok;
}

int
repo_dn_add(struct repo *r, const char *dnkey, const char *serial)
{
	char	sn[MAX_SERIAL_HEX + 2], name[MAX_SERIAL_HEX + 8];
	int	bfd, made;

	if (!serial_normalize(serial, sn, sizeof(sn)) || !repo_dnkey_valid(dnkey)) {
		logx(LOG_LVL_ERR, "dn index: invalid key or serial");
		errno = EINVAL;
		return 0;
	}
	(void)snprintf(name, sizeof(name), "%s.pem", sn);
	if (!dn_link(r, r->dfd[RD_CERTS], name, dnkey, sn, &bfd, &made)) {
		if (bfd != -1)
			(void)close(bfd);
		return 0;
	}
	return dn_sync(r, bfd, made);
}

int
repo_dn_remove(struct repo *r, const char *dnkey, const char *serial)
{
	char	sn[MAX_SERIAL_HEX + 2], entry[REPO_DNKEY_MAX + MAX_SERIAL_HEX + 4];
	int	bfd, made;

	if (!serial_normalize(serial, sn, sizeof(sn)) ||
	    !dn_entry_name(dnkey, sn, entry, sizeof(entry))) {
		logx(LOG_LVL_ERR, "dn index: invalid key or serial");
		errno = EINVAL;
		return 0;
	}
	if ((bfd = dn_bucket_open(r, dnkey, 0, &made)) == -1)
		return errno == ENOENT;
	if (unlinkat(bfd, entry, 0) == -1) {
		(void)close(bfd);
		if (errno == ENOENT)
			return 1;
		logx(LOG_LVL_ERR, "unlink bydn/%.*s/%s: %s", DN_BUCKET, dnkey, entry,
		    strerror(errno));
		return 0;
	}
	return dn_sync(r, bfd, 0);
}

/* The serial of an entry name of DNKEY's, or NULL. */
static const char *
dn_entry_serial(const char *name, const char *dnkey)
{
	size_t	kl = strlen(dnkey);

	if (strncmp(name, dnkey, kl) != 0 || name[kl] != '.' || !serial_name_ok(name + kl + 1))
		return NULL;
	return name + kl + 1;
}

int
repo_dn_serials(struct repo *r, const char *dnkey, char ***serials, size_t *n)
{
	char	  dir[MAX_PATH_LEN], b[DN_BUCKET + 1], **v = NULL;
	size_t	  nv = 0, i, o = 0;
	const char *sn;

	*serials = NULL;
	*n = 0;
	if (!repo_dnkey_valid(dnkey)) {
		errno = EINVAL;
		return 0;
	}
	dn_bucket(dnkey, b);
	if (!path_join(dir, sizeof(dir), r->root, "bydn", b, NULL))
		return 0;
	if (!list_dir(dir, NULL, &v, &nv))
		return errno == ENOENT;
	for (i = 0; i < nv; i++) {
		if ((sn = dn_entry_serial(v[i], dnkey)) != NULL)
			memmove(v[o++], sn, strlen(sn) + 1);
	}
	for (i = o; i < nv; i++)
		free(v[i]);
	if (o == 0) {
		free(v);
		return 1;
	}
	if (o > 1)
		qsort(v, o, sizeof(*v), serial_cmp_p);
	*serials = v;
	*n = o;
	return 1;
}

int
repo_dn_cert(struct repo *r, const char *dnkey, const char *serial, unsigned char **der,
    size_t *len)
{
	char		 sn[MAX_SERIAL_HEX + 2], entry[REPO_DNKEY_MAX + MAX_SERIAL_HEX + 4];
	char		 id[REPO_ID_LEN + 1];
	unsigned char	*text = NULL;
	size_t		 tlen;
	int		 bfd, made, rc = 0;

	*der = NULL;
	*len = 0;
	if (!serial_normalize(serial, sn, sizeof(sn)) ||
	    !dn_entry_name(dnkey, sn, entry, sizeof(entry))) {
		errno = EINVAL;
		return 0;
	}
	if ((bfd = dn_bucket_open(r, dnkey, 0, &made)) == -1)
		return 0;
	if (read_file_at(bfd, entry, &text, &tlen, MAX_BLOB)) {
		if (!(rc = cert_text_parse(text, tlen, id, der, len)))
			errno = EINVAL;
		else if (repo_find(r, id) == RS_NONE) {
			/*
			 * Linked by a commit that was killed before its record was renamed
			 * into approved/: no certificate was issued (check --repair removes
			 * the entry).
			 */
			free(*der);
			*der = NULL;
			*len = 0;
			rc = 0;
			errno = ENOENT;
		}
	}
	(void)close(bfd);
	free(text);
	return rc;
}

/* ---- certs/<SERIAL>.pem --------------------------------------------------------------- */

#define RECORD_LINE	"record="

int
cert_text(const char *id, const unsigned char *der, size_t derlen, char **out,
    size_t *outlen)
{
	BIO	*bio = NULL;
	char	*pem, *text = NULL;
	long	 pemlen;
	int	 rc = 0;

	*out = NULL;
	*outlen = 0;
	if (!repo_id_valid(id) || der == NULL || derlen == 0 || derlen > LONG_MAX) {
		errno = EINVAL;
		return 0;
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio(bio, PEM_STRING_X509, "", der, (long)derlen) ||
	    (pemlen = BIO_get_mem_data(bio, &pem)) <= 0 ||
	    (text = malloc(sizeof(RECORD_LINE) + REPO_ID_LEN + 1 + (size_t)pemlen)) == NULL) {
		log_crypto(LOG_LVL_ERR, "certificate of record %s: PEM", id);
		errno = ENOMEM;
		goto out;
	}
	*outlen = (size_t)snprintf(text, sizeof(RECORD_LINE) + REPO_ID_LEN + 1, "%s%s\n",
	    RECORD_LINE, id);
	memcpy(text + *outlen, pem, (size_t)pemlen);
	*outlen += (size_t)pemlen;
	*out = text;
	rc = 1;
out:
	BIO_free(bio);
	return rc;
}

int
cert_text_parse(const unsigned char *text, size_t len, char id[REPO_ID_LEN + 1],
    unsigned char **der, size_t *derlen)
{
	const size_t	 rl = sizeof(RECORD_LINE) - 1;
	BIO		*bio = NULL;
	char		*name = NULL, *header = NULL;
	unsigned char	*data = NULL;
	long		 dlen = 0;
	int		 rc = 0;

	id[0] = '\0';
	*der = NULL;
	*derlen = 0;
	if (len >= rl && memcmp(text, RECORD_LINE, rl) == 0) {
		if (len < rl + REPO_ID_LEN + 1 || text[rl + REPO_ID_LEN] != '\n')
			return 0;
		memcpy(id, text + rl, REPO_ID_LEN);
		id[REPO_ID_LEN] = '\0';
		if (!repo_id_valid(id)) {
			id[0] = '\0';
			return 0;
		}
		text += rl + REPO_ID_LEN + 1;
		len -= rl + REPO_ID_LEN + 1;
	}
	if (len > INT_MAX || (bio = BIO_new_mem_buf(text, (int)len)) == NULL ||
	    !PEM_read_bio(bio, &name, &header, &data, &dlen) ||
	    strcmp(name, PEM_STRING_X509) != 0 || dlen <= 0 ||
	    (*der = malloc((size_t)dlen)) == NULL)
		goto out;
	memcpy(*der, data, (size_t)dlen);
	*derlen = (size_t)dlen;
	rc = 1;
out:
	ERR_clear_error();
	BIO_free(bio);
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	return rc;
}

/* 0 with errno ENOENT: no such certificate; EINVAL: no record line in it. */
int
repo_record_by_serial(struct repo *r, const char *serial, char id[REPO_ID_LEN + 1])
{
	char		 sn[MAX_SERIAL_HEX + 2], name[MAX_SERIAL_HEX + 8];
	unsigned char	*text = NULL, *der = NULL;
	size_t		 len, dlen;
	int		 rc = 0;

	id[0] = '\0';
	if (!serial_normalize(serial, sn, sizeof(sn)))
		return 0;
	(void)snprintf(name, sizeof(name), "%s.pem", sn);
	if (!read_file_at(r->dfd[RD_CERTS], name, &text, &len, MAX_BLOB))
		return 0;
	if (!cert_text_parse(text, len, id, &der, &dlen) || id[0] == '\0') {
		id[0] = '\0';
		errno = EINVAL;
	} else
		rc = 1;
	free(text);
	free(der);
	return rc;
}

/* CF from a certificate's serial, notAfter and subject. 1, or 0 with CF freed. */
static int
facts_fill(const ASN1_INTEGER *ser, const ASN1_TIME *na, X509_NAME *nm,
    struct repo_cert *cf)
{
	char		*one = NULL;
	struct tm	 tm;
	int		 rc = 0;

	memset(cf, 0, sizeof(*cf));
	if (!repo_serial_name(ser, cf->serial, sizeof(cf->serial)) ||
	    !ASN1_TIME_to_tm(na, &tm) ||
	    (one = X509_NAME_oneline(nm, NULL, 0)) == NULL ||
	    (cf->subject = strdup(one)) == NULL || !repo_dnkey(nm, cf->dnkey))
		goto out;
	cf->not_after = timegm(&tm);
	rc = 1;
out:
	if (!rc)
		repo_cert_facts_free(cf);
	OPENSSL_free(one);
	return rc;
}

/* Past one DER header at *P (END bounds it): 1 with *P after the element, 0 if malformed. */
static int
der_skip(const unsigned char **p, const unsigned char *end, int want_tag, int want_class)
{
	const unsigned char	*q = *p;
	long			 l;
	int			 tag, cls, inf;

	if (end <= q)
		return 0;
	inf = ASN1_get_object(&q, &l, &tag, &cls, end - q);
	if ((inf & 0x80) || (inf & 1) || (want_tag >= 0 && (tag != want_tag || cls != want_class)))
		return 0;
	*p = q + l;
	return 1;
}

int
cert_facts_der(const unsigned char *der, size_t len, struct repo_cert *cf)
{
	const unsigned char	*p = der, *end = der + len, *tend, *q, *vend;
	ASN1_INTEGER		*ai = NULL;
	ASN1_TIME		*t = NULL;
	X509_NAME		*nm = NULL;
	long			 l;
	int			 tag, cls, inf, rc = 0;

	memset(cf, 0, sizeof(*cf));
	if (len == 0 || len > LONG_MAX)
		return 0;
	/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature } */
	inf = ASN1_get_object(&p, &l, &tag, &cls, (long)len);
	if ((inf & 0x80) || (inf & 1) || tag != V_ASN1_SEQUENCE || p + l != end)
		goto out;
	/* TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
	 * validity, subject, ... } (RFC 5280 §4.1) */
	inf = ASN1_get_object(&p, &l, &tag, &cls, end - p);
	if ((inf & 0x80) || (inf & 1) || tag != V_ASN1_SEQUENCE)
		goto out;
	tend = p + l;
	q = p;
	inf = ASN1_get_object(&q, &l, &tag, &cls, tend - q);
	if ((inf & 0x80) == 0 && cls == V_ASN1_CONTEXT_SPECIFIC && tag == 0)
		p = q + l;
	if ((ai = d2i_ASN1_INTEGER(NULL, &p, tend - p)) == NULL ||
	    !der_skip(&p, tend, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL) ||	/* signature */
	    !der_skip(&p, tend, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL))	/* issuer */
		goto out;
	q = p;
	inf = ASN1_get_object(&q, &l, &tag, &cls, tend - q);
	if ((inf & 0x80) || (inf & 1) || tag != V_ASN1_SEQUENCE)
		goto out;
	vend = q + l;
	if (!der_skip(&q, vend, -1, 0) ||				/* notBefore */
	    (t = d2i_ASN1_TIME(NULL, &q, vend - q)) == NULL || q != vend)
		goto out;
	p = vend;
	if ((nm = d2i_X509_NAME(NULL, &p, tend - p)) == NULL)
		goto out;
	rc = facts_fill(ai, t, nm, cf);
out:
	if (!rc)
		repo_cert_facts_free(cf);
	ERR_clear_error();
	ASN1_INTEGER_free(ai);
	ASN1_TIME_free(t);
	X509_NAME_free(nm);
	return rc;
}

int
repo_cert_facts(X509 *x, struct repo_cert *cf)
{
	memset(cf, 0, sizeof(*cf));
	return x != NULL && facts_fill(X509_get0_serialNumber(x), X509_get0_notAfter(x),
	    X509_get_subject_name(x), cf);
}

void
repo_cert_facts_free(struct repo_cert *cf)
{
	if (cf == NULL)
		return;
	free(cf->subject);
	memset(cf, 0, sizeof(*cf));
}

/*
 * A subject index.txt can hold: printable ASCII, which X509_NAME_oneline() writes (it
 * turns every other byte into \xHH), so no tab or newline can break the line.
 */
int
index_subject_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e)
			return 0;
	return 1;
}

/* The DER is malloc'd (free it with free()). 0 with errno ENOENT if there is no such cert. */
int
repo_cert_by_serial(struct repo *r, const char *serial, unsigned char **der, size_t *len)
{
	char		 sn[MAX_SERIAL_HEX + 2], name[MAX_SERIAL_HEX + 8], id[REPO_ID_LEN + 1];
	unsigned char	*text = NULL;
	size_t		 tlen;
	int		 rc = 0, saved;

	*der = NULL;
	*len = 0;
	if (!serial_normalize(serial, sn, sizeof(sn)))
		return 0;
	(void)snprintf(name, sizeof(name), "%s.pem", sn);
	if (!read_file_at(r->dfd[RD_CERTS], name, &text, &tlen, MAX_BLOB)) {
		if (errno != ENOENT)
			logx(LOG_LVL_ERR, "read %s/certs/%s: %s", r->root, name, strerror(errno));
		return 0;
	}
	if (!(rc = cert_text_parse(text, tlen, id, der, len))) {
		logx(LOG_LVL_ERR, "%s/certs/%s: not a PEM certificate", r->root, name);
		errno = EINVAL;
	}
	saved = errno;
	free(text);
	errno = saved;
	return rc;
}

int
cert_read(struct repo *r, const char *serial, X509 **out, int quiet)
{
	char		 path[MAX_PATH_LEN];
	unsigned char	*pem = NULL;
	size_t		 len;
	BIO		*bio = NULL;
	int		 saved;

	*out = NULL;
	if (!cert_path(r, path, sizeof(path), serial) || !get_file(path, &pem, &len, MAX_BLOB))
		return 0;
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (*out = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
		if (!quiet)
			log_crypto(LOG_LVL_ERR, "%s: not a PEM certificate", path);
		errno = EINVAL;
	}
	saved = errno;
	BIO_free(bio);
	free(pem);
	errno = saved;
	return *out != NULL;
}
