/*
 * The audit trail (audit.h): a hash-chained, append-only log of decisions and
 * administrator actions in the repository root.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "audit.h"
#include "fileio.h"
#include "scep.h"

#define AUDIT_MAX_FIELD	2048	/* escaped bytes kept of one value */

static const char	 zero_hash[AUDIT_HASH_LEN + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";
static char		 audit_prog[32] = "?";
static char		 audit_user[128];
static unsigned long	 audit_uid;
static int		 audit_known;

static void
who_now(void)
{
	struct passwd	*pw;
	uid_t		 uid = getuid();
	const char	*sudo = getenv("SUDO_USER");
	char		 who[256];

	pw = getpwuid(uid);
	/* sudo(8) names who ran it; said as sudo's claim, next to the real user. */
	snprintf(who, sizeof(who), "%s%s%s", pw != NULL ? pw->pw_name : "?",
	    sudo != NULL && uid == 0 ? " sudo=" : "", sudo != NULL && uid == 0 ? sudo : "");
	log_escape(audit_user, sizeof(audit_user), who, strlen(who));
	audit_uid = (unsigned long)uid;
}

void
audit_init(const char *prog)
{
	log_escape(audit_prog, sizeof(audit_prog), prog, strlen(prog));
	who_now();
	audit_known = 1;
}

/* Hex SHA-256 of LEN bytes. 1 ok, 0 error. */
static int
sha256_hex(const void *buf, size_t len, char out[AUDIT_HASH_LEN + 1])
{
	unsigned char	md[32];
	unsigned int	mdlen = 0;

	if (!EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != sizeof(md))
		return 0;
	hex_encode(out, md, sizeof(md));
	return 1;
}

static int
is_hash(const char *s, size_t len)
{
	size_t	i;

	if (len != AUDIT_HASH_LEN)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/*
 * The facts of one entry LINE of LEN bytes (newline excluded): its seq, its prev and hash,
 * and whether hash matches the bytes it covers. 1 if the line has the entry's shape, 0 if
 * not (WHY says what is wrong).
 */
struct parsed {
	unsigned long long	 seq;
	char			 prev[AUDIT_HASH_LEN + 1];
	char			 hash[AUDIT_HASH_LEN + 1];
	int			 hash_ok;
};

static int
parse_line(const char *line, size_t len, struct parsed *p, const char **why)
{
	static const char	 hkey[] = "\thash=", pkey[] = "\tprev=";
	const size_t		 hlen = sizeof(hkey) - 1 + AUDIT_HASH_LEN;
	const size_t		 plen = sizeof(pkey) - 1 + AUDIT_HASH_LEN;
	const char		*s;
	char			 computed[AUDIT_HASH_LEN + 1];
	char			*end;

	*why = "not an audit entry";
	if (len < 5 + plen + hlen || strncmp(line, "seq=", 4) != 0 ||
	    memchr(line, '\0', len) != NULL)
		return 0;
	s = line + len - hlen;
	if (memcmp(s, hkey, sizeof(hkey) - 1) != 0 ||
	    !is_hash(s + sizeof(hkey) - 1, AUDIT_HASH_LEN) ||
	    memcmp(s - plen, pkey, sizeof(pkey) - 1) != 0 ||
	    !is_hash(s - plen + sizeof(pkey) - 1, AUDIT_HASH_LEN)) {
		*why = "no prev= and hash= at its end";
		return 0;
	}
	if (line[4] < '0' || line[4] > '9') {
		*why = "no valid seq=";
		return 0;
	}
	errno = 0;
	p->seq = strtoull(line + 4, &end, 10);
	if (errno != 0 || *end != '\t') {
		*why = "no valid seq=";
		return 0;
	}
	memcpy(p->hash, s + sizeof(hkey) - 1, AUDIT_HASH_LEN);
	p->hash[AUDIT_HASH_LEN] = '\0';
	memcpy(p->prev, s - plen + sizeof(pkey) - 1, AUDIT_HASH_LEN);
	p->prev[AUDIT_HASH_LEN] = '\0';
	if (!sha256_hex(line, (size_t)(s - line), computed)) {
		*why = "cannot compute its hash";
		return 0;
	}
	p->hash_ok = strcmp(computed, p->hash) == 0;
	return 1;
}

/* Append " KEY=VALUE" (escaped, tab first) to BUF at *OFF if VALUE is set. */
static void
put_field(char *buf, size_t len, size_t *off, const char *key, const char *value)
{
	char	esc[AUDIT_MAX_FIELD];
	int	n;

	if (value == NULL || *off >= len)
		return;
	log_escape(esc, sizeof(esc), value, strlen(value));
	n = snprintf(buf + *off, len - *off, "\t%s=%s", key, esc);
	*off = n < 0 ? len : *off + (size_t)n;
}

/*
 * The seq and hash of the last entry of the open log FD of SIZE bytes. 1 ok, 0 if the
 * last entry cannot be read or is not whole.
 */
static int
last_entry(int fd, off_t size, unsigned long long *seq, char hash[AUDIT_HASH_LEN + 1],
    const char *path, char *err, size_t errlen)
{
	struct parsed	 p;
	char		 buf[AUDIT_MAX_LINE + 1];
	const char	*why, *start;
	size_t		 want;
	ssize_t		 n;

	if (size == 0) {
		*seq = 0;
		memcpy(hash, zero_hash, sizeof(zero_hash));
		return 1;
	}
	want = size > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)size;
	if ((n = pread(fd, buf, want, size - (off_t)want)) != (ssize_t)want)
		return errf_sys(err, errlen, "%s: cannot read its last entry", path);
	if (buf[want - 1] != '\n')
		return errf(err, errlen, "%s: the last entry is incomplete; see `scep-admin "
		    "audit --verify`", path);
	buf[want - 1] = '\0';
	start = strrchr(buf, '\n');
	start = start != NULL ? start + 1 : buf;
	if (start == buf && want == sizeof(buf))
		return errf(err, errlen, "%s: the last entry is longer than %d bytes", path,
		    AUDIT_MAX_LINE);
	if (!parse_line(start, strlen(start), &p, &why))
		return errf(err, errlen, "%s: the last entry is damaged (%s); see `scep-admin "
		    "audit --verify`", path, why);
	*seq = p.seq;
	memcpy(hash, p.hash, sizeof(p.hash));
	return 1;
}

int
audit_append(const char *root, const struct audit_event *ev, char *err, size_t errlen)
{
	struct flock		 fl;
	struct stat		 st;
	struct tm		 tm;
	unsigned long long	 seq = 0;
	char			 path[MAX_PATH_LEN], line[AUDIT_MAX_LINE], prev[AUDIT_HASH_LEN + 1];
	char			 hash[AUDIT_HASH_LEN + 1], when[32];
	time_t			 now = time(NULL);
	size_t			 off;
	int			 fd = -1, ok = 0, n;

	if (!audit_known)
		who_now();
	if (!path_join(path, sizeof(path), root, AUDIT_FILE, NULL, NULL))
		return errf_sys(err, errlen, "%s: no audit log path", root);
	if ((fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) == -1)
		return errf_sys(err, errlen, "%s: cannot open", path);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	while (fcntl(fd, F_SETLKW, &fl) == -1) {
		if (errno != EINTR) {
			errf_sys(err, errlen, "%s: cannot lock", path);
			goto out;
		}
	}
	if (fstat(fd, &st) == -1) {
		errf_sys(err, errlen, "%s: cannot stat", path);
		goto out;
	}
	if (!last_entry(fd, st.st_size, &seq, prev, path, err, errlen))
		goto out;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof(line), "seq=%llu\ttime=%s\tprog=%s\tuser=%s\tuid=%lu",
	    seq + 1, when, audit_prog, audit_user, audit_uid);
	off = n < 0 ? sizeof(line) : (size_t)n;
	put_field(line, sizeof(line), &off, "event", ev->event ? ev->event : "?");
	put_field(line, sizeof(line), &off, "id", ev->id);
	put_field(line, sizeof(line), &off, "serial", ev->serial);
	put_field(line, sizeof(line), &off, "subject", ev->subject);
	put_field(line, sizeof(line), &off, "client", ev->client);
	put_field(line, sizeof(line), &off, "detail", ev->detail);
	put_field(line, sizeof(line), &off, "prev", prev);
	if (off + 7 + AUDIT_HASH_LEN + 1 >= sizeof(line)) {
		errf(err, errlen, "%s: entry longer than %d bytes", path, AUDIT_MAX_LINE);
		goto out;
	}
	if (!sha256_hex(line, off, hash)) {
		errf_crypto(err, errlen, "%s: cannot hash the entry", path);
		goto out;
	}
	off += (size_t)snprintf(line + off, sizeof(line) - off, "\thash=%s\n", hash);
	if (!write_all(fd, line, off) || !fsync_fd(fd)) {
		errf_sys(err, errlen, "%s: cannot append", path);
		goto out;
	}
	/* The first entry created the file: make its name durable too. */
	if (st.st_size == 0) {
		char dir[MAX_PATH_LEN];

		if (!dir_of(path, dir, sizeof(dir)) || !fsync_dir(dir, err, errlen))
			goto out;
	}
	ok = 1;
out:
	close(fd);	/* releases the lock */
	return ok;
}

int
audit_verify(const char *root, size_t *entries, char head[AUDIT_HASH_LEN + 1], char *err,
    size_t errlen)
{
	struct parsed	 p;
	FILE		*f = NULL;
	char		 path[MAX_PATH_LEN], prev[AUDIT_HASH_LEN + 1], *line = NULL;
	const char	*why;
	size_t		 cap = 0, lineno = 0;
	ssize_t		 n;
	int		 ok = 0;

	*entries = 0;
	memcpy(prev, zero_hash, sizeof(prev));
	memcpy(head, zero_hash, sizeof(zero_hash));
	if (!path_join(path, sizeof(path), root, AUDIT_FILE, NULL, NULL))
		return errf_sys(err, errlen, "%s: no audit log path", root);
	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return 1;
		return errf_sys(err, errlen, "%s: cannot open", path);
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[n - 1] != '\n') {
			errf(err, errlen, "%s: line %zu: incomplete entry (no newline)", path,
			    lineno);
			goto out;
		}
		if (!parse_line(line, (size_t)n - 1, &p, &why)) {
			errf(err, errlen, "%s: line %zu: %s", path, lineno, why);
			goto out;
		}
		if (!p.hash_ok) {
			errf(err, errlen, "%s: line %zu (seq %llu): modified: its hash does not "
			    "match its content", path, lineno, p.seq);
			goto out;
		}
		if (p.seq != (unsigned long long)lineno) {
			errf(err, errlen, "%s: line %zu: seq %llu where %zu was expected: an "
			    "entry was removed, inserted or reordered", path, lineno, p.seq,
			    lineno);
			goto out;
		}
		if (strcmp(p.prev, prev) != 0) {
			errf(err, errlen, "%s: line %zu (seq %llu): prev does not match the hash "
			    "of the entry before it: an entry was removed, inserted, reordered "
			    "or rewritten", path, lineno, p.seq);
			goto out;
		}
		memcpy(prev, p.hash, sizeof(prev));
		*entries = lineno;
	}
	if (ferror(f)) {
		errf_sys(err, errlen, "%s: read error", path);
		goto out;
	}
	memcpy(head, prev, sizeof(prev));
	ok = 1;
out:
	free(line);
	fclose(f);
	return ok;
}
