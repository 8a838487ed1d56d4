/*
 * Records and their states: a record is one file <state>/<id>, "key=value" lines followed
 * by its blobs in base64. It is staged whole in tmp/, synced, and renamed into its state; a
 * state change is a rename(2); a rewrite stages the new text and renames it over the old.
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

#include <openssl/evp.h>

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

/* The blobs of a record, in the order they are written (the certificate first). */
static const struct {
	const char	*key;
	size_t		 off, lenoff;
} blobs[] = {
	{ "cert",	offsetof(struct record, cert_der), offsetof(struct record, cert_len) },
	{ "csr",	offsetof(struct record, csr_der), offsetof(struct record, csr_len) },
	{ "signer",	offsetof(struct record, signer_der), offsetof(struct record, signer_len) },
	{ "request",	offsetof(struct record, request_der),
			offsetof(struct record, request_len) },
};
#define N_BLOBS	(sizeof(blobs) / sizeof(blobs[0]))

static unsigned char **
rec_blob(struct record *rec, size_t i, size_t **len)
{
	*len = (size_t *)(void *)((char *)rec + blobs[i].lenoff);
	return (unsigned char **)(void *)((char *)rec + blobs[i].off);
}

static unsigned char *const *
rec_cblob(const struct record *rec, size_t i, size_t *len)
{
	*len = *(const size_t *)(const void *)((const char *)rec + blobs[i].lenoff);
	return (unsigned char *const *)(const void *)((const char *)rec + blobs[i].off);
}

/* "key=<base64>\n"; nothing when BUF is NULL. */
static int
blob_put(FILE *f, const char *key, const unsigned char *buf, size_t len)
{
	unsigned char	*b64;
	int		 n, rc;

	if (buf == NULL)
		return 1;
	if (len > (size_t)INT_MAX / 4 * 3 - 3 || (b64 = malloc(len / 3 * 4 + 5)) == NULL)
		return 0;
	n = EVP_EncodeBlock(b64, buf, (int)len);
	rc = fprintf(f, "%s=%.*s\n", key, n, (char *)b64) >= 0;
	free(b64);
	return rc;
}

int
record_text(const struct record *rec, time_t created, time_t updated, char **out,
    size_t *outlen)
{
	FILE	*f = NULL;
	char	*buf = NULL, *hex = NULL;
	size_t	 len = 0, i, blen;
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
	for (i = 0; ok && i < N_BLOBS; i++) {
		unsigned char *const *b = rec_cblob(rec, i, &blen);

		ok = blob_put(f, blobs[i].key, *b, blen);
	}
	if (ferror(f))
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	f = NULL;
	if (!ok) {
		logx(LOG_LVL_ERR, "record %s: cannot build its text", rec->id);
		goto out;
	}
	if (len > MAX_RECORD) {
		logx(LOG_LVL_ERR, "record %s: %zu bytes, over %d", rec->id, len, MAX_RECORD);
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

/* Strict base64 of one blob line: the whole value, padded, nothing else. */
static int
b64_decode(const char *s, size_t len, unsigned char **out, size_t *outlen)
{
	unsigned char	*buf;
	size_t		 pad = 0, i;
	int		 n;

	if (len == 0 || len % 4 != 0 || len > INT_MAX) {
		errno = EINVAL;
		return 0;
	}
	/* Padding: one or two '=' at the very end, nothing after them. */
	if (s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	for (i = 0; i < len - pad; i++)
		if (!(s[i] == '+' || s[i] == '/' || (s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z'))) {
			errno = EINVAL;
			return 0;
		}
	if ((buf = malloc(len / 4 * 3 + 1)) == NULL)
		return 0;
	if ((n = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len)) < 0 ||
	    (size_t)n < pad) {
		free(buf);
		errno = EINVAL;
		return 0;
	}
	*out = buf;
	*outlen = (size_t)n - pad;
	return 1;
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
 * Blank lines and lines starting with '#' are skipped, unknown keys ignored, a malformed
 * line, escape or base64 value fails the whole record. A key given twice: the last wins.
 */
struct record *
record_parse(const char *id, const char *buf, size_t len, int with_blobs)
{
	struct record	*rec = NULL, *ret = NULL;
	unsigned char	*val = NULL, *hex = NULL, **bp;
	const char	*line, *eol, *eq;
	size_t		 vlen, hexlen = 0, klen, i, *blen;
	long long	 ll;
	int		 lineno = 0, have_id = 0, have_txid = 0;

	if (memchr(buf, '\0', len) != NULL) {
		logx(LOG_LVL_ERR, "record %s: NUL byte in its file", id);
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

#define KEY(k)	(klen == strlen(k) && memcmp(line, (k), klen) == 0)
		for (i = 0; i < N_BLOBS; i++)
			if (KEY(blobs[i].key))
				break;
		if (i < N_BLOBS) {
			/* The certificate always: it says whether the record holds one. */
			if (!with_blobs && i != 0)
				continue;
			bp = rec_blob(rec, i, &blen);
			free(*bp);
			*bp = NULL;
			if (!b64_decode(eq + 1, (size_t)(eol - eq - 1), bp, blen) ||
			    *blen > MAX_BLOB)
				goto bad;
			continue;
		}
		if (!unescape(eq + 1, (size_t)(eol - eq - 1), &val, &vlen))
			goto bad;
		if (KEY("id")) {
			if (strcmp((char *)val, id) != 0) {
				logx(LOG_LVL_ERR, "record %s: its file says id %.64s", id,
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
		logx(LOG_LVL_ERR, "record %s: its file has no id", id);
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
	logx(LOG_LVL_ERR, "record %s: line %d is malformed", id, lineno);
	errno = EINVAL;
out:
	free(val);
	free(hex);
	record_free(rec);
	return ret;
}

struct record *
record_read(struct repo *r, const char *id, enum rstate st, int with_blobs)
{
	struct record	*rec = NULL;
	unsigned char	*buf = NULL;
	struct stat	 sb;
	size_t		 len;
	int		 fd = -1, saved;

	if (!state_ok(st) || !repo_id_valid(id)) {
		errno = EINVAL;
		return NULL;
	}
	if ((fd = openat(r->dfd[st], id, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		if (errno != ENOENT)
			logx(LOG_LVL_ERR, "open %s/%s/%s: %s", r->root, state_dirs[st], id,
			    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) == -1 || !read_fd(fd, &buf, &len, MAX_RECORD)) {
		logx(LOG_LVL_ERR, "read %s/%s/%s: %s", r->root, state_dirs[st], id,
		    strerror(errno));
		goto out;
	}
	if ((rec = record_parse(id, (char *)buf, len, with_blobs)) == NULL)
		goto out;
	rec->state = st;
	rec->fid = (unsigned long long)sb.st_ino;
out:
	saved = errno;
	(void)close(fd);
	free(buf);
	errno = saved;
	return rec;
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

int
stage_file(struct repo *r, const char *prefix, const void *text, size_t len,
    char name[STAGE_NAME_MAX])
{
	int	fd;

	if ((fd = temp_write_at(r->dfd[RD_TMP], prefix, name, STAGE_NAME_MAX, text, len,
	    FILE_MODE)) == -1)
		logx(LOG_LVL_ERR, "write %s/tmp/%s...: %s", r->root, prefix, strerror(errno));
	return fd;
}

void
unstage(struct repo *r, const char *name)
{
	int	saved = errno;

	if (name[0] != '\0' && unlinkat(r->dfd[RD_TMP], name, 0) == -1 && errno != ENOENT)
		logx(LOG_LVL_WARN, "unlink %s/tmp/%s: %s", r->root, name, strerror(errno));
	errno = saved;
}

/* Stage TEXT in tmp/ and sync it: the name in NAME, 1 ok, 0 error (nothing left). */
static int
stage_synced(struct repo *r, const char *text, size_t len, char name[STAGE_NAME_MAX])
{
	struct sync_req	q;
	int		ok;

	if ((q.fd = stage_file(r, STAGE_RECORD, text, len, name)) == -1)
		return 0;
	q.data = 1;
	ok = sync_logged(&q, 1, "a staged record");
	if (close(q.fd) == -1 && ok) {
		logx(LOG_LVL_ERR, "close %s/tmp/%s: %s", r->root, name, strerror(errno));
		ok = 0;
	}
	if (!ok)
		unstage(r, name);
	return ok;
}

/*
 * Stage the record (synced) without the lock, then take the lock only for the check that
 * the id is new and the rename into its state; the state directory is synced after.
 */
int
repo_record_create(struct repo *r, const struct record *rec, enum rstate st)
{
	char		 name[STAGE_NAME_MAX];
	char		*text = NULL;
	size_t		 len = 0;
	time_t		 created, updated;
	struct sync_req	 q;
	int		 rc = 0, locked = 0, saved;

	name[0] = '\0';
	if (rec == NULL || !state_ok(st) || !repo_id_valid(rec->id)) {
		logx(LOG_LVL_ERR, "record create: invalid record or state");
		errno = EINVAL;
		goto out;
	}
	created = rec->created != 0 ? rec->created : time(NULL);
	updated = rec->updated != 0 ? rec->updated : created;
	if (!record_text(rec, created, updated, &text, &len) ||
	    !stage_synced(r, text, len, name))
		goto out;
	if (!repo_lock(r))
		goto out;
	locked = 1;
	if (find_once(r, rec->id) != RS_NONE) {
		errno = EEXIST;
		goto out;
	}
	if (renameat(r->dfd[RD_TMP], name, r->dfd[st], rec->id) == -1) {
		logx(LOG_LVL_ERR, "rename tmp/%s %s/%s: %s", name, state_dirs[st], rec->id,
		    strerror(errno));
		goto out;
	}
	name[0] = '\0';
	repo_unlock(r);
	locked = 0;
	q.fd = r->dfd[st];
	q.data = 0;
	rc = sync_logged(&q, 1, state_dirs[st]);
out:
	saved = errno;
	if (locked)
		repo_unlock(r);
	unstage(r, name);
	free(text);
	errno = saved;
	return rc;
}

int
repo_move(struct repo *r, const char *id, enum rstate from, enum rstate to)
{
	struct stat	sb;
	struct sync_req	q[2];

	if (from == to || !state_ok(from) || !state_ok(to) || !repo_id_valid(id)) {
		errno = EINVAL;
		return 0;
	}
	/* rename(2) would replace an existing file: refuse any existing target. */
	if (fstatat(r->dfd[to], id, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		logx(LOG_LVL_ERR, "move %s: already in %s", id, state_dirs[to]);
		errno = EEXIST;
		return 0;
	}
	if (renameat(r->dfd[from], id, r->dfd[to], id) == -1) {
		if (errno != ENOENT)
			logx(LOG_LVL_ERR, "rename %s/%s %s/%s: %s", state_dirs[from], id,
			    state_dirs[to], id, strerror(errno));
		return 0;
	}
	q[0].fd = r->dfd[to];
	q[1].fd = r->dfd[from];
	q[0].data = q[1].data = 0;
	return sync_logged(q, 2, "the state directories");
}

int
record_rewrite(struct repo *r, const struct record *rec, enum rstate st, int dirsync)
{
	char		 name[STAGE_NAME_MAX];
	char		*text = NULL;
	size_t		 len;
	time_t		 now = time(NULL);
	struct sync_req	 q;
	int		 rc = 0, saved;

	name[0] = '\0';
	if (!record_text(rec, rec->created != 0 ? rec->created : now, now, &text, &len) ||
	    !stage_synced(r, text, len, name))
		goto out;
	if (renameat(r->dfd[RD_TMP], name, r->dfd[st], rec->id) == -1) {
		logx(LOG_LVL_ERR, "rename tmp/%s %s/%s: %s", name, state_dirs[st], rec->id,
		    strerror(errno));
		goto out;
	}
	name[0] = '\0';
	q.fd = r->dfd[st];
	q.data = 0;
	rc = !dirsync || sync_logged(&q, 1, state_dirs[st]);
out:
	saved = errno;
	unstage(r, name);
	free(text);
	errno = saved;
	return rc;
}

/* The blobs REC lacks are taken from the file as it is: a rewrite changes the meta only. */
int
repo_record_update(struct repo *r, const struct record *rec)
{
	struct record	*cur = NULL, tmp;
	unsigned char	**b, *const *cb;
	size_t		 i, *blen, clen;
	enum rstate	 st;
	int		 rc;

	if (rec == NULL || !repo_id_valid(rec->id)) {
		errno = EINVAL;
		return 0;
	}
	if ((st = find_once(r, rec->id)) == RS_NONE) {
		logx(LOG_LVL_ERR, "record %s: not found for update", rec->id);
		errno = ENOENT;
		return 0;
	}
	if ((cur = record_read(r, rec->id, st, 1)) == NULL)
		return 0;
	tmp = *rec;
	for (i = 0; i < N_BLOBS; i++) {
		b = rec_blob(&tmp, i, &blen);
		cb = rec_cblob(cur, i, &clen);
		if (*b == NULL) {
			*b = *cb;
			*blen = clen;
		}
	}
	rc = record_rewrite(r, &tmp, st, 1);
	record_free(cur);
	return rc;
}
