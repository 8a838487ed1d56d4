/*
 * Records and their states: a record is a directory <state>/<id>/ holding a meta file
 * ("key=value" lines) and the request's blobs. Built whole in tmp/ and renamed into its
 * state; a state change is a rename(2); the meta is rewritten atomically.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "repo_int.h"

void
record_free(struct record *rec)
{
	if (rec == NULL)
		return;
	free(rec->txid);
	free(rec->subject);
	free(rec->key_fp);
	free(rec->signer_fp);
	free(rec->digest);
	free(rec->cipher);
	free(rec->client);
	free(rec->challenge);
	free(rec->role);
	free(rec->ra);
	free(rec->serial);
	free(rec->reason);
	free(rec->renewal_of);
	free(rec->differences);
	free(rec->csr_der);
	free(rec->signer_der);
	free(rec->cert_der);
	free(rec->request_der);
	free(rec);
}

/* The string fields of struct record and their meta keys. */
static const struct {
	const char	*key;
	size_t		 off;
} meta_strs[] = {
	{ "subject",	offsetof(struct record, subject) },
	{ "key_fp",	offsetof(struct record, key_fp) },
	{ "signer_fp",	offsetof(struct record, signer_fp) },
	{ "digest",	offsetof(struct record, digest) },
	{ "cipher",	offsetof(struct record, cipher) },
	{ "client",	offsetof(struct record, client) },
	{ "challenge",	offsetof(struct record, challenge) },
	{ "role",	offsetof(struct record, role) },
	{ "ra",		offsetof(struct record, ra) },
	{ "serial",	offsetof(struct record, serial) },
	{ "reason",	offsetof(struct record, reason) },
	{ "renewal_of",	offsetof(struct record, renewal_of) },
	{ "differences", offsetof(struct record, differences) },
};
#define N_META_STRS	(sizeof(meta_strs) / sizeof(meta_strs[0]))

static char **
rec_str(struct record *rec, size_t i)
{
	return (char **)(void *)((char *)rec + meta_strs[i].off);
}

static char *const *
rec_cstr(const struct record *rec, size_t i)
{
	return (char *const *)(const void *)((const char *)rec + meta_strs[i].off);
}

/* "key=value\n" with VAL escaped; nothing when VAL is NULL. */
static int
meta_put(FILE *f, const char *key, const void *val, size_t len)
{
	char	*esc = NULL;
	int	 rc = 0;

	if (val == NULL)
		return 1;
	if (len > (SIZE_MAX - 1) / 4) {
		errno = EOVERFLOW;
		goto out;
	}
	if ((esc = malloc(len * 4 + 1)) == NULL)
		goto out;
	log_escape(esc, len * 4 + 1, val, len);
	rc = fprintf(f, "%s=%s\n", key, esc) >= 0;
out:
	free(esc);
	return rc;
}

/* The meta file text for REC, with the given timestamps. */
static int
meta_build(const struct record *rec, time_t created, time_t updated, char **out,
    size_t *outlen)
{
	FILE	*f = NULL;
	char	*buf = NULL, *hex = NULL;
	size_t	 len = 0, i;
	int	 rc = 0, ok;

	*out = NULL;
	*outlen = 0;
	if ((f = open_memstream(&buf, &len)) == NULL)
		goto out;
	ok = meta_put(f, "id", rec->id, strlen(rec->id));
	if (ok && rec->txid != NULL) {
		if (rec->txid_len > (SIZE_MAX - 1) / 2 ||
		    (hex = malloc(rec->txid_len * 2 + 1)) == NULL)
			ok = 0;
		else {
			hex_encode(hex, rec->txid, rec->txid_len);
			ok = meta_put(f, "transaction_id", rec->txid, rec->txid_len) &&
			    meta_put(f, "transaction_id_hex", hex, strlen(hex));
		}
	}
	ok = ok && fprintf(f, "message_type=%d\n", rec->msgtype) >= 0;
	for (i = 0; ok && i < N_META_STRS; i++) {
		const char	*s = *rec_cstr(rec, i);

		ok = meta_put(f, meta_strs[i].key, s, s ? strlen(s) : 0);
	}
	ok = ok && fprintf(f, "created=%lld\nupdated=%lld\n", (long long)created,
	    (long long)updated) >= 0;
	if (ferror(f))
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	f = NULL;
	if (!ok) {
		logx(LOG_LVL_ERR, "record %s: cannot build meta", rec->id);
		goto out;
	}
	if (len > MAX_META) {
		logx(LOG_LVL_ERR, "record %s: meta is %zu bytes, over %d", rec->id, len,
		    MAX_META);
		errno = EFBIG;
		goto out;
	}
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 1;
out:
	if (f != NULL)
		(void)fclose(f);
	free(buf);
	free(hex);
	return rc;
}

/*
 * Undo log_escape(): "\xHH" (either case) is a byte, every other byte stands for itself;
 * any other backslash is an error. The result is malloc'd and NUL-terminated.
 */
static int
unescape(const char *s, size_t len, unsigned char **out, size_t *outlen)
{
	unsigned char	*buf = NULL;
	size_t		 i, o = 0;
	int		 hi, lo;

	if ((buf = malloc(len + 1)) == NULL)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] != '\\') {
			buf[o++] = (unsigned char)s[i];
			continue;
		}
		if (i + 3 >= len || s[i + 1] != 'x' ||
		    (hi = hex_digit((unsigned char)s[i + 2])) < 0 ||
		    (lo = hex_digit((unsigned char)s[i + 3])) < 0) {
			free(buf);
			errno = EINVAL;
			return 0;
		}
		buf[o++] = (unsigned char)(hi << 4 | lo);
		i += 3;
	}
	buf[o] = '\0';
	*out = buf;
	*outlen = o;
	return 1;
}

static int
hex_decode(const char *s, size_t len, unsigned char **out, size_t *outlen)
{
	unsigned char	*buf = NULL;
	size_t		 i;
	int		 hi, lo;

	if (len % 2 != 0 || (buf = malloc(len / 2 + 1)) == NULL)
		goto bad;
	for (i = 0; i < len; i += 2) {
		if ((hi = hex_digit((unsigned char)s[i])) < 0 ||
		    (lo = hex_digit((unsigned char)s[i + 1])) < 0)
			goto bad;
		buf[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	*out = buf;
	*outlen = len / 2;
	return 1;
bad:
	free(buf);
	errno = EINVAL;
	return 0;
}

int
parse_ll(const char *s, long long min, long long max, long long *v)
{
	char	*end;

	if (s[0] == '\0' || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
		return 0;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0' && *v >= min && *v <= max;
}

/*
 * Parse the meta text of record ID. Blank lines and lines starting with '#' are skipped,
 * unknown keys ignored, a malformed line or escape fails the whole record.
 */
static struct record *
meta_parse(const char *id, const char *buf, size_t len)
{
	struct record	*rec = NULL, *ret = NULL;
	unsigned char	*val = NULL, *hex = NULL;
	const char	*line, *eol, *eq;
	size_t		 vlen, hexlen = 0, klen, i;
	long long	 ll;
	int		 lineno = 0, have_id = 0, have_txid = 0;

	if (memchr(buf, '\0', len) != NULL) {
		logx(LOG_LVL_ERR, "record %s: NUL byte in meta", id);
		goto out;
	}
	if ((rec = calloc(1, sizeof(*rec))) == NULL)
		goto out;
	rec->state = RS_NONE;
	for (line = buf; line < buf + len; line = eol + 1) {
		lineno++;
		if ((eol = memchr(line, '\n', (size_t)(buf + len - line))) == NULL)
			eol = buf + len;
		if (line == eol || line[0] == '#')
			continue;
		if ((eq = memchr(line, '=', (size_t)(eol - line))) == NULL)
			goto bad;
		klen = (size_t)(eq - line);
		free(val);
		val = NULL;
		if (!unescape(eq + 1, (size_t)(eol - eq - 1), &val, &vlen))
			goto bad;

#define KEY(k)	(klen == strlen(k) && memcmp(line, (k), klen) == 0)
		if (KEY("id")) {
			if (strcmp((char *)val, id) != 0) {
				logx(LOG_LVL_ERR, "record %s: meta says id %.64s", id,
				    (char *)val);
				errno = EINVAL;
				goto out;
			}
			have_id = 1;
		} else if (KEY("transaction_id")) {
			free(rec->txid);
			rec->txid = val;
			rec->txid_len = vlen;
			val = NULL;
			have_txid = 1;
		} else if (KEY("transaction_id_hex")) {
			free(hex);
			hex = NULL;
			if (!hex_decode((char *)val, vlen, &hex, &hexlen))
				goto bad;
		} else if (KEY("message_type")) {
			if (!parse_ll((char *)val, INT_MIN, INT_MAX, &ll))
				goto bad;
			rec->msgtype = (int)ll;
		} else if (KEY("created") || KEY("updated")) {
			if (!parse_ll((char *)val, LLONG_MIN, LLONG_MAX, &ll) ||
			    (long long)(time_t)ll != ll)
				goto bad;
			if (KEY("created"))
				rec->created = (time_t)ll;
			else
				rec->updated = (time_t)ll;
		} else {
			for (i = 0; i < N_META_STRS; i++)
				if (KEY(meta_strs[i].key))
					break;
			if (i == N_META_STRS)
				continue;	/* unknown key: a newer writer */
			if (strlen((char *)val) != vlen)
				goto bad;	/* NUL inside a string field */
			free(*rec_str(rec, i));
			*rec_str(rec, i) = (char *)val;
			val = NULL;
		}
#undef KEY
	}
	if (!have_id) {
		logx(LOG_LVL_ERR, "record %s: meta has no id", id);
		errno = EINVAL;
		goto out;
	}
	if (hex != NULL) {
		if (!have_txid) {
			rec->txid = hex;
			rec->txid_len = hexlen;
			hex = NULL;
		} else if (hexlen != rec->txid_len || memcmp(hex, rec->txid, hexlen) != 0) {
			logx(LOG_LVL_ERR, "record %s: transaction_id and "
			    "transaction_id_hex differ", id);
			errno = EINVAL;
			goto out;
		}
	}
	memcpy(rec->id, id, REPO_ID_LEN + 1);
	ret = rec;
	rec = NULL;
	goto out;
bad:
	logx(LOG_LVL_ERR, "record %s: meta line %d is malformed", id, lineno);
	errno = EINVAL;
out:
	free(val);
	free(hex);
	record_free(rec);
	return ret;
}

/* Read one blob of a record; a missing file leaves it NULL. */
int
blob_read(struct repo *r, enum rstate st, const char *id, const char *name,
    unsigned char **buf, size_t *len)
{
	char	path[MAX_PATH_LEN];

	if (!rec_path(r, path, sizeof(path), st, id, name))
		return 0;
	if (get_file(path, buf, len, MAX_BLOB))
		return 1;
	if (errno != ENOENT)
		return 0;
	*buf = NULL;
	*len = 0;
	return 1;
}

/* The record ID as it is in state ST. NULL and errno ENOENT if it is not there. */
struct record *
record_read(struct repo *r, const char *id, enum rstate st, int with_blobs)
{
	struct record	*rec = NULL, *ret = NULL;
	unsigned char	*buf = NULL;
	char		 path[MAX_PATH_LEN];
	size_t		 len;

	if (!rec_path(r, path, sizeof(path), st, id, REC_META) ||
	    !get_file(path, &buf, &len, MAX_META))
		goto out;
	if ((rec = meta_parse(id, (char *)buf, len)) == NULL)
		goto out;
	rec->state = st;
	if (with_blobs &&
	    (!blob_read(r, st, id, REC_CSR, &rec->csr_der, &rec->csr_len) ||
	    !blob_read(r, st, id, REC_SIGNER, &rec->signer_der, &rec->signer_len) ||
	    !blob_read(r, st, id, REC_CERT, &rec->cert_der, &rec->cert_len) ||
	    !blob_read(r, st, id, REC_REQUEST, &rec->request_der, &rec->request_len)))
		goto out;
	ret = rec;
	rec = NULL;
out:
	free(buf);
	record_free(rec);
	return ret;
}

/*
 * Without the lock a record can move while it is read: read it where it is, then check it
 * is still there, and start again if it moved.
 */
struct record *
repo_record_load(struct repo *r, const char *id, int with_blobs)
{
	struct record	*rec = NULL, *ret = NULL;
	enum rstate	 st;
	int		 try;

	for (try = 0; try < LOAD_RETRIES; try++) {
		record_free(rec);
		rec = NULL;
		if ((st = repo_find(r, id)) == RS_NONE) {
			errno = ENOENT;
			goto out;
		}
		if ((rec = record_read(r, id, st, with_blobs)) == NULL) {
			if (errno == ENOENT)
				continue;
			goto out;
		}
		if (repo_find(r, id) == st) {
			ret = rec;
			rec = NULL;
			goto out;
		}
	}
	logx(LOG_LVL_WARN, "record %s keeps moving, giving up", id);
	errno = EAGAIN;
out:
	record_free(rec);
	return ret;
}

static void
print_kv(FILE *f, const char *key, const void *val, size_t len)
{
	char	*esc;

	if (val == NULL || len > (SIZE_MAX - 1) / 4 || (esc = malloc(len * 4 + 1)) == NULL)
		return;
	log_escape(esc, len * 4 + 1, val, len);
	fprintf(f, "%s: %s\n", key, esc);
	free(esc);
}

static void
print_time(FILE *f, const char *key, time_t t)
{
	struct tm	tm;
	char		buf[32];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		fprintf(f, "%s: %lld\n", key, (long long)t);
	else
		fprintf(f, "%s: %s\n", key, buf);
}

/*
 * "key: value" lines, values escaped like log lines. Unset fields are left out; blob lines
 * ("csr: N bytes") appear only when the blobs were loaded.
 */
void
record_print(const struct record *rec, FILE *f)
{
	char	*hex = NULL;
	size_t	 i;

	if (rec == NULL || f == NULL)
		return;
	fprintf(f, "id: %s\n", repo_id_valid(rec->id) ? rec->id : "-");
	fprintf(f, "state: %s\n", rstate_name(rec->state));
	if (rec->txid != NULL) {
		print_kv(f, "transaction_id", rec->txid, rec->txid_len);
		if (rec->txid_len <= (SIZE_MAX - 1) / 2 &&
		    (hex = malloc(rec->txid_len * 2 + 1)) != NULL) {
			hex_encode(hex, rec->txid, rec->txid_len);
			fprintf(f, "transaction_id_hex: %s\n", hex);
		}
	}
	fprintf(f, "message_type: %d (%s)\n", rec->msgtype, msgtype_name(rec->msgtype));
	for (i = 0; i < N_META_STRS; i++) {
		const char	*s = *rec_cstr(rec, i);

		if (s != NULL)
			print_kv(f, meta_strs[i].key, s, strlen(s));
	}
	print_time(f, "created", rec->created);
	print_time(f, "updated", rec->updated);
	if (rec->request_der != NULL)
		fprintf(f, "request: %zu bytes\n", rec->request_len);
	if (rec->csr_der != NULL)
		fprintf(f, "csr: %zu bytes\n", rec->csr_len);
	if (rec->signer_der != NULL)
		fprintf(f, "signer: %zu bytes\n", rec->signer_len);
	if (rec->cert_der != NULL)
		fprintf(f, "cert: %zu bytes\n", rec->cert_len);
	free(hex);
}

/* Create DIR/NAME (private staging directory, so no rename needed), write, fsync. */
static int
write_new(const char *dir, const char *name, const void *buf, size_t len)
{
	char	path[MAX_PATH_LEN];
	int	fd = -1, rc = 0, saved;

	if (buf == NULL)
		return 1;	/* absent blob */
	if (!path_join(path, sizeof(path), dir, name, NULL, NULL))
		goto out;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, FILE_MODE)) == -1)
		goto out;
	if (fchmod(fd, FILE_MODE) == -1 || !write_all(fd, buf, len) || !fsync_fd(fd))
		goto out;
	rc = close(fd) == 0;
	fd = -1;
out:
	saved = errno;
	if (!rc)
		logx(LOG_LVL_ERR, "write %s/%s: %s", dir, name, strerror(saved));
	if (fd != -1)
		(void)close(fd);
	errno = saved;
	return rc;
}

/*
 * Build the record in tmp/, fully synced, then rename it into its state: a record is either
 * whole or absent, whatever crashes when.
 */
int
repo_record_create(struct repo *r, const struct record *rec, enum rstate st)
{
	char	 stage[MAX_PATH_LEN], dst[MAX_PATH_LEN], sdir[MAX_PATH_LEN];
	char	*meta = NULL;
	size_t	 metalen = 0;
	time_t	 created, updated;
	int	 rc = 0, saved;

	stage[0] = '\0';
	if (rec == NULL || !state_ok(st) || !repo_id_valid(rec->id)) {
		logx(LOG_LVL_ERR, "record create: invalid record or state");
		errno = EINVAL;
		goto out;
	}
	created = rec->created != 0 ? rec->created : time(NULL);
	updated = rec->updated != 0 ? rec->updated : created;
	if (!meta_build(rec, created, updated, &meta, &metalen))
		goto out;
	if (!rec_path(r, dst, sizeof(dst), st, rec->id, NULL) ||
	    !path_join(sdir, sizeof(sdir), r->root, state_dirs[st], NULL, NULL) ||
	    !path_join(stage, sizeof(stage), r->root, "tmp", "rec-XXXXXX", NULL))
		goto out;
	if (mkdtemp(stage) == NULL) {
		logx(LOG_LVL_ERR, "mkdtemp %s: %s", stage, strerror(errno));
		stage[0] = '\0';
		goto out;
	}
	if (chmod(stage, DIR_MODE) == -1 ||
	    !write_new(stage, REC_META, meta, metalen) ||
	    !write_new(stage, REC_REQUEST, rec->request_der, rec->request_len) ||
	    !write_new(stage, REC_CSR, rec->csr_der, rec->csr_len) ||
	    !write_new(stage, REC_SIGNER, rec->signer_der, rec->signer_len) ||
	    !write_new(stage, REC_CERT, rec->cert_der, rec->cert_len) ||
	    !sync_dir(stage))
		goto out;
	if (repo_find(r, rec->id) != RS_NONE) {
		errno = EEXIST;
		goto out;
	}
	if (rename(stage, dst) == -1) {
		if (errno == ENOTEMPTY)
			errno = EEXIST;
		logx(LOG_LVL_ERR, "rename %s %s: %s", stage, dst, strerror(errno));
		goto out;
	}
	stage[0] = '\0';
	if (!sync_dir(sdir))
		goto out;
	rc = 1;
out:
	saved = errno;
	if (stage[0] != '\0')
		drop_dir(stage);
	free(meta);
	errno = saved;
	return rc;
}

int
repo_move(struct repo *r, const char *id, enum rstate from, enum rstate to)
{
	char		src[MAX_PATH_LEN], dst[MAX_PATH_LEN];
	char		fdir[MAX_PATH_LEN], tdir[MAX_PATH_LEN];
	struct stat	sb;

	if (from == to || !rec_path(r, src, sizeof(src), from, id, NULL) ||
	    !rec_path(r, dst, sizeof(dst), to, id, NULL) ||
	    !path_join(fdir, sizeof(fdir), r->root, state_dirs[from], NULL, NULL) ||
	    !path_join(tdir, sizeof(tdir), r->root, state_dirs[to], NULL, NULL)) {
		errno = EINVAL;
		return 0;
	}
	/* rename(2) would replace an empty directory: refuse any existing target. */
	if (lstat(dst, &sb) == 0) {
		logx(LOG_LVL_ERR, "move %s: already in %s", id, state_dirs[to]);
		errno = EEXIST;
		return 0;
	}
	if (rename(src, dst) == -1) {
		if (errno != ENOENT)
			logx(LOG_LVL_ERR, "rename %s %s: %s", src, dst, strerror(errno));
		return 0;
	}
	return sync_dir(tdir) && sync_dir(fdir);
}

/* Rewrite the meta of REC in state ST; updated is now, created kept (now if unset). */
int
meta_write(struct repo *r, const struct record *rec, enum rstate st)
{
	char	 path[MAX_PATH_LEN];
	char	*meta = NULL;
	size_t	 metalen;
	time_t	 now = time(NULL);
	int	 rc = 0;

	if (!rec_path(r, path, sizeof(path), st, rec->id, REC_META) ||
	    !meta_build(rec, rec->created != 0 ? rec->created : now, now, &meta, &metalen))
		goto out;
	rc = put_file(path, meta, metalen, 0);
out:
	free(meta);
	return rc;
}

int
repo_record_update(struct repo *r, const struct record *rec)
{
	enum rstate	st;

	if (rec == NULL || !repo_id_valid(rec->id)) {
		errno = EINVAL;
		return 0;
	}
	if ((st = repo_find(r, rec->id)) == RS_NONE) {
		logx(LOG_LVL_ERR, "record %s: not found for update", rec->id);
		errno = ENOENT;
		return 0;
	}
	return meta_write(r, rec, st);
}
