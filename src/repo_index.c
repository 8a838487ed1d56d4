/*
 * The certificate indexes: index.txt (OpenSSL `ca` format), certs/<SERIAL>.pem and
 * certs/<SERIAL>.id (which record holds a certificate), and the DN index bydn/<dnkey>/.
 * repo_store_cert() writes all of them for a newly issued certificate.
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
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

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
static int
index_append(struct repo *r, const char *line)
{
	char		path[MAX_PATH_LEN];
	struct stat	sb;
	int		fd = -1, rc = 0, saved, have_size = 0;

	if (!path_join(path, sizeof(path), r->root, "index.txt", NULL, NULL))
		goto out;
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, FILE_MODE)) == -1 ||
	    fstat(fd, &sb) == -1)
		goto out;
	have_size = 1;
	if (!write_all(fd, line, strlen(line)) || !fsync_fd(fd))
		goto out;
	rc = close(fd) == 0;
	fd = -1;
out:
	saved = errno;
	if (!rc) {
		logx(LOG_LVL_ERR, "append %s: %s", path, strerror(saved));
		if (fd != -1 && have_size && ftruncate(fd, sb.st_size) == -1)
			logx(LOG_LVL_ERR, "truncate %s: %s", path, strerror(errno));
	}
	if (fd != -1)
		(void)close(fd);
	errno = saved;
	return rc;
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

/* 1 if index.txt has a line for the normalized serial SN, 0 if not, -1 on error. */
static int
index_has_serial(struct repo *r, const char *sn)
{
	struct index	ix;
	size_t		i;
	int		found = 0;

	if (!index_load(r, &ix))
		return -1;
	for (i = 0; i < ix.n && !found; i++)
		found = ix.e[i].ok && strcmp(ix.e[i].sn, sn) == 0;
	index_free(&ix);
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
	unsigned char	*der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	int		 n, rc = 0;

	out[0] = '\0';
	if (name == NULL || (n = i2d_X509_NAME(name, &der)) <= 0 ||
	    !EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen * 2 != REPO_DNKEY_MAX) {
		log_crypto(LOG_LVL_ERR, "dn key: cannot encode or hash the name");
		goto out;
	}
	hex_encode(out, md, mdlen);
	rc = 1;
out:
	OPENSSL_free(der);
	return rc;
}

/* bydn/<DNKEY>[/<SN>] for a valid key and a normalized serial. */
static int
dn_path(const struct repo *r, char *buf, size_t len, const char *dnkey, const char *sn)
{
	if (!repo_dnkey_valid(dnkey) || (sn != NULL && !serial_name_ok(sn))) {
		if (len > 0)
			buf[0] = '\0';
		errno = EINVAL;
		return 0;
	}
	return path_join(buf, len, r->root, "bydn", dnkey, sn);
}

int
repo_dn_add(struct repo *r, const char *dnkey, const char *serial)
{
	char	sn[MAX_SERIAL_HEX + 2], path[MAX_PATH_LEN], dir[MAX_PATH_LEN];
	int	fd;

	if (!serial_normalize(serial, sn, sizeof(sn)) ||
	    !dn_path(r, path, sizeof(path), dnkey, sn) ||
	    !dn_path(r, dir, sizeof(dir), dnkey, NULL)) {
		logx(LOG_LVL_ERR, "dn index: invalid key or serial");
		errno = EINVAL;
		return 0;
	}
	if (!ensure_dir(r, "bydn", NULL) || !ensure_dir(r, "bydn", dnkey))
		return 0;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, FILE_MODE)) == -1) {
		if (errno == EEXIST)
			return 1;
		logx(LOG_LVL_ERR, "create %s: %s", path, strerror(errno));
		return 0;
	}
	(void)close(fd);
	return sync_dir(dir);
}

int
repo_dn_remove(struct repo *r, const char *dnkey, const char *serial)
{
	char	sn[MAX_SERIAL_HEX + 2], path[MAX_PATH_LEN], dir[MAX_PATH_LEN];
	char	top[MAX_PATH_LEN];

	if (!serial_normalize(serial, sn, sizeof(sn)) ||
	    !dn_path(r, path, sizeof(path), dnkey, sn) ||
	    !dn_path(r, dir, sizeof(dir), dnkey, NULL) ||
	    !path_join(top, sizeof(top), r->root, "bydn", NULL, NULL)) {
		logx(LOG_LVL_ERR, "dn index: invalid key or serial");
		errno = EINVAL;
		return 0;
	}
	if (unlink(path) == -1) {
		if (errno == ENOENT)
			return 1;
		logx(LOG_LVL_ERR, "unlink %s: %s", path, strerror(errno));
		return 0;
	}
	if (!sync_dir(dir))
		return 0;
	/* The last serial of a key takes the key's directory with it. */
	if (rmdir(dir) == 0)
		return sync_dir(top);
	if (errno != ENOTEMPTY && errno != EEXIST)
		logx(LOG_LVL_WARN, "rmdir %s: %s", dir, strerror(errno));
	return 1;
}

int
repo_dn_serials(struct repo *r, const char *dnkey, char ***serials, size_t *n)
{
	char	dir[MAX_PATH_LEN];

	*serials = NULL;
	*n = 0;
	if (!dn_path(r, dir, sizeof(dir), dnkey, NULL))
		return 0;
	if (!list_dir(dir, serial_name_ok, serials, n))
		return errno == ENOENT;
	if (*n > 1)
		qsort(*serials, *n, sizeof(**serials), serial_cmp_p);
	return 1;
}

/* ---- certs/<SERIAL>.id ---------------------------------------------------------------- */

/*
 * "<id>\n<dnkey>\n": the id must be valid; DNKEY gets "" when the second line is absent or
 * malformed (written by an older version, or damaged).
 */
static int
idfile_parse(const unsigned char *buf, size_t len, char id[REPO_ID_LEN + 1],
    char dnkey[REPO_DNKEY_MAX + 1])
{
	const char	*s = (const char *)buf, *nl;
	size_t		 klen;

	id[0] = dnkey[0] = '\0';
	if (len < REPO_ID_LEN + 1 || s[REPO_ID_LEN] != '\n')
		return 0;
	memcpy(id, s, REPO_ID_LEN);
	id[REPO_ID_LEN] = '\0';
	if (!repo_id_valid(id)) {
		id[0] = '\0';
		return 0;
	}
	s += REPO_ID_LEN + 1;
	len -= REPO_ID_LEN + 1;
	if ((nl = memchr(s, '\n', len)) != NULL && (klen = (size_t)(nl - s)) <= REPO_DNKEY_MAX &&
	    (size_t)(nl - s) + 1 == len) {
		memcpy(dnkey, s, klen);
		dnkey[klen] = '\0';
		if (!repo_dnkey_valid(dnkey))
			dnkey[0] = '\0';
	}
	return 1;
}

/* Read certs/<SERIAL>.id. 0 with errno ENOENT if absent, EINVAL if malformed. */
int
idfile_read(struct repo *r, const char *serial, char id[REPO_ID_LEN + 1],
    char dnkey[REPO_DNKEY_MAX + 1])
{
	char		 path[MAX_PATH_LEN];
	unsigned char	*buf = NULL;
	size_t		 len;
	int		 rc = 0;

	id[0] = dnkey[0] = '\0';
	if (!serial_path(r, path, sizeof(path), "certs", serial, ".id") ||
	    !get_file(path, &buf, &len, MAX_SMALL))
		return 0;
	if (!(rc = idfile_parse(buf, len, id, dnkey))) {
		logx(LOG_LVL_ERR, "%s: malformed", path);
		errno = EINVAL;
	}
	free(buf);
	return rc;
}

int
repo_record_by_serial(struct repo *r, const char *serial, char id[REPO_ID_LEN + 1])
{
	char	dnkey[REPO_DNKEY_MAX + 1];

	return idfile_read(r, serial, id, dnkey);
}

int
repo_cert_facts(X509 *x, struct repo_cert *cf)
{
	char		*one = NULL;
	struct tm	 tm;
	int		 rc = 0;

	memset(cf, 0, sizeof(*cf));
	if (x == NULL ||
	    !repo_serial_name(X509_get0_serialNumber(x), cf->serial, sizeof(cf->serial)) ||
	    !ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) ||
	    (one = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0)) == NULL ||
	    (cf->subject = strdup(one)) == NULL ||
	    !repo_dnkey(X509_get_subject_name(x), cf->dnkey))
		goto out;
	cf->not_after = timegm(&tm);
	rc = 1;
out:
	if (!rc)
		repo_cert_facts_free(cf);
	OPENSSL_free(one);
	return rc;
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

/* The order of the writes is the one repo.h gives: it is what crash recovery relies on. */
int
repo_store_cert(struct repo *r, const char *id, const unsigned char *der, size_t derlen,
    const struct repo_cert *cf)
{
	char		 sn[MAX_SERIAL_HEX + 2], path[MAX_PATH_LEN], when[32];
	char		 idtext[REPO_ID_LEN + REPO_DNKEY_MAX + 4];
	unsigned char	*old = NULL;
	size_t		 oldlen = 0;
	BIO		*bio = NULL;
	char		*pem = NULL, *line = NULL;
	struct record	*rec = NULL;
	enum rstate	 st;
	long		 pemlen;
	size_t		 linelen;
	int		 rc = 0, saved, again = 0, have;

	if (!repo_id_valid(id) || cf == NULL || !serial_normalize(cf->serial, sn, sizeof(sn)) ||
	    !repo_dnkey_valid(cf->dnkey) || cf->subject == NULL ||
	    !index_subject_ok(cf->subject) || der == NULL || derlen == 0 ||
	    derlen > LONG_MAX) {
		logx(LOG_LVL_ERR, "store cert: invalid id, serial, subject or certificate");
		errno = EINVAL;
		goto out;
	}
	if (!index_time(when, sizeof(when), cf->not_after)) {
		errno = EINVAL;
		goto out;
	}

	if ((st = repo_find(r, id)) == RS_NONE) {
		logx(LOG_LVL_ERR, "store cert %s: record %s not found", sn, id);
		errno = ENOENT;
		goto out;
	}

	/* certs/<SERIAL>.pem is never replaced by a different certificate: refuse up front. */
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio(bio, PEM_STRING_X509, "", der, (long)derlen) ||
	    (pemlen = BIO_get_mem_data(bio, &pem)) <= 0) {
		log_crypto(LOG_LVL_ERR, "store cert %s: PEM", sn);
		errno = ENOMEM;
		goto out;
	}
	if (!cert_path(r, path, sizeof(path), sn))
		goto out;
	if (get_file(path, &old, &oldlen, MAX_BLOB)) {
		if (oldlen != (size_t)pemlen || memcmp(old, pem, oldlen) != 0) {
			logx(LOG_LVL_ERR, "%s exists with another certificate", path);
			errno = EEXIST;
			goto out;
		}
		again = 1;
	} else if (errno != ENOENT)
		goto out;

	/*
	 * The record's cert.der next: until it is there, nothing outside the record names
	 * this serial, so a crash or a full disk costs a serial number, never an orphan
	 * certificate; once it is there, enroll_issue() finishes with this same certificate.
	 */
	if (!rec_path(r, path, sizeof(path), st, id, REC_CERT) ||
	    !put_file(path, der, derlen, 0))
		goto out;
	if (!again) {
		if (!cert_path(r, path, sizeof(path), sn))
			goto out;
		/* Exclusive: the lock is held, so only a crash leftover can be there. */
		if (!put_file(path, pem, (size_t)pemlen, 1)) {
			if (errno != EEXIST)
				goto out;
			again = 1;
		}
	}

	(void)snprintf(idtext, sizeof(idtext), "%s\n%s\n", id, cf->dnkey);
	if (!serial_path(r, path, sizeof(path), "certs", sn, ".id") ||
	    !put_file(path, idtext, strlen(idtext), 0))
		goto out;
	if (repo_is_revoked(r, sn) == 0 && !repo_dn_add(r, cf->dnkey, sn))
		goto out;

	/* V, expiry, no revocation date, serial, file name, subject (`openssl ca`). */
	have = again ? index_has_serial(r, sn) : 0;
	if (have == -1)
		goto out;
	if (!have) {
		linelen = strlen(when) + strlen(sn) + strlen(cf->subject) + 32;
		if ((line = malloc(linelen)) == NULL)
			goto out;
		(void)snprintf(line, linelen, "V\t%s\t\t%s\tunknown\t%s\n", when, sn,
		    cf->subject);
		if (!index_append(r, line))
			goto out;
	}

	if ((rec = record_read(r, id, st, 0)) == NULL)
		goto out;
	free(rec->serial);
	if ((rec->serial = strdup(sn)) == NULL || !meta_write(r, rec, st))
		goto out;
	rc = 1;
out:
	saved = errno;
	BIO_free(bio);
	free(old);
	free(line);
	record_free(rec);
	errno = saved;
	return rc;
}

/* The DER is malloc'd (free it with free()). 0 with errno ENOENT if there is no such cert. */
int
repo_cert_by_serial(struct repo *r, const char *serial, unsigned char **der, size_t *len)
{
	unsigned char	*out = NULL, *p;
	X509		*x = NULL;
	int		 n, rc = 0, saved;

	*der = NULL;
	*len = 0;
	if (!cert_read(r, serial, &x, 0))
		goto out;
	if ((n = i2d_X509(x, NULL)) <= 0) {
		log_crypto(LOG_LVL_ERR, "certificate %s: DER encoding", serial);
		errno = EINVAL;
		goto out;
	}
	if ((out = malloc((size_t)n)) == NULL)
		goto out;
	p = out;
	if (i2d_X509(x, &p) != n) {
		log_crypto(LOG_LVL_ERR, "certificate %s: DER encoding", serial);
		errno = EINVAL;
		goto out;
	}
	*der = out;
	*len = (size_t)n;
	out = NULL;
	rc = 1;
out:
	saved = errno;
	free(out);
	X509_free(x);
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
