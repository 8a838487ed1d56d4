/*
 * fillrepo: add N issued certificates (and P pending requests) to a CA repository quickly,
 * in the on-disk format of repo-layout/README.md, for the 1,000,000-certificate bench
 * (BENCH_FILL=N tests/load/bench.sh). Test code only: it links libcrypto, not the server.
 *
 *   fillrepo -r REPO -n N [-p P] [-x PREFIX] [-j JOBS] [--link-blobs] [--no-sync]
 *
 * The template is the first record in REPO/issued/ (make one real enrollment first). For
 * each i < N, with txid = PREFIX-<i, 8 digits>, id = SHA-256(txid) and a 4-octet serial
 * from max(REPO/serial, 01000000) onwards (so every certificate has the same length):
 *   issued/<id>/meta         the template's lines with id, transaction_id(_hex), subject,
 *                            serial, created and updated replaced
 *   issued/<id>/cert.der     the template certificate, encoded once with a placeholder
 *                            serial and CN, then those bytes overwritten per certificate;
 *                            NOT re-signed (its signature no longer verifies:
 *                            repo_check() never verifies signatures; see PROFILE.md)
 *   issued/<id>/{request,csr,signer}.der  the template's bytes (hard links with
 *                            --link-blobs: three inodes fewer per record; a fresh copy
 *                            every 60000 / JOBS records, under ext4's link limit)
 *   certs/<SERIAL>.pem, certs/<SERIAL>.id, bydn/<dnkey>/<SERIAL>, one index.txt line
 * then P pending records (no cert, no serial) and REPO/serial = the next free serial.
 * Runs as the repository owner, under the repository's fcntl() write lock on .lock (no
 * server may write meanwhile). Files are written without fsync; one syncfs() at the end
 * (not with --no-sync). Modes 0640 and 0750, as repo.c makes them.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static const char *root;

static void
die(const char *what, const char *arg)
{
	fprintf(stderr, "fillrepo: %s %s: %s\n", what, arg ? arg : "",
	    errno ? strerror(errno) : "failed");
	exit(1);
}

static unsigned char *
slurp(const char *path, size_t *len)
{
	FILE		*f = fopen(path, "rb");
	unsigned char	*buf;
	long		 n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
		die("read", path);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Create DIRFD/NAME with BUF (0640), no fsync. */
static void
put(int dirfd, const char *name, const void *buf, size_t len)
{
	int	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);

	if (fd == -1 || (len > 0 && write(fd, buf, len) != (ssize_t)len) || close(fd) == -1)
		die("create", name);
}

static void
hex(char *out, const unsigned char *in, size_t n)
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static void
sha256_hex(char out[65], const void *in, size_t n)
{
	unsigned char	md[32];
	unsigned int	mdlen = 0;

	if (!EVP_Digest(in, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		die("sha256", NULL);
	hex(out, md, 32);
}

/* The template record. */
static char		 tid[65];
static char		*tmeta;
static unsigned char	*tcsr, *treq, *tsigner;
static size_t		 tcsrlen, treqlen, tsignerlen, tmetalen;
static X509		*tcert;
static char		 texpiry[32];

static void
load_template(void)
{
	char		 path[4096];
	DIR		*d;
	struct dirent	*de;
	unsigned char	*der;
	const unsigned char *p;
	size_t		 len;
	struct tm	 tm;
	int		 y;

	snprintf(path, sizeof(path), "%s/issued", root);
	if ((d = opendir(path)) == NULL)
		die("opendir", path);
	tid[0] = '\0';
	while ((de = readdir(d)) != NULL)
		if (strlen(de->d_name) == 64 && (tid[0] == '\0' || strcmp(de->d_name, tid) < 0))
			memcpy(tid, de->d_name, 65);
	closedir(d);
	if (tid[0] == '\0') {
		errno = ENOENT;
		die("no issued record to use as a template in", path);
	}
#define T(name, buf, len) \
	snprintf(path, sizeof(path), "%s/issued/%s/%s", root, tid, name); \
	buf = slurp(path, &len);
	T("meta", der, tmetalen);
	tmeta = (char *)der;
	T("csr.der", tcsr, tcsrlen);
	T("request.der", treq, treqlen);
	T("signer.der", tsigner, tsignerlen);
	T("cert.der", der, len);
#undef T
	if (tmeta == NULL || der == NULL)
		die("template meta/cert.der", tid);
	p = der;
	if ((tcert = d2i_X509(NULL, &p, (long)len)) == NULL)
		die("template cert.der", tid);
	if (!ASN1_TIME_to_tm(X509_get0_notAfter(tcert), &tm))
		die("template notAfter", tid);
	y = tm.tm_year + 1900;
	snprintf(texpiry, sizeof(texpiry), "%0*d%02d%02d%02d%02d%02dZ",
	    (y >= 1950 && y < 2050) ? 2 : 4, (y >= 1950 && y < 2050) ? y % 100 : y,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	free(der);
}

/* The template meta with the given values for these keys (NULL: drop the line). */
static size_t
make_meta(char *out, size_t outlen, const char *id, const char *txid, const char *subject,
    const char *serial, const char *challenge, long long now)
{
	const char	*p = tmeta, *e;
	size_t		 o = 0;
	char		 txhex[600];

	hex(txhex, (const unsigned char *)txid, strlen(txid));
	while (*p != '\0') {
		const char	*val = NULL;
		char		 num[32];
		int		 repl = 1;
		size_t		 kl;

		e = strchr(p, '\n');
		if (e == NULL)
			e = p + strlen(p);
		kl = (size_t)(strchr(p, '=') != NULL && strchr(p, '=') < e ?
		    strchr(p, '=') - p : 0);
#define K(k) (kl == strlen(k) && strncmp(p, k, kl) == 0)
		if (K("id")) val = id;
		else if (K("transaction_id")) val = txid;
		else if (K("transaction_id_hex")) val = txhex;
		else if (K("subject")) val = subject;
		else if (K("serial")) val = serial;
		else if (K("challenge")) val = challenge;
		else if (K("created") || K("updated")) {
			snprintf(num, sizeof(num), "%lld", now);
			val = num;
		} else
			repl = 0;
#undef K
		if (!repl)
			o += (size_t)snprintf(out + o, outlen - o, "%.*s\n", (int)(e - p), p);
		else if (val != NULL)
			o += (size_t)snprintf(out + o, outlen - o, "%.*s=%s\n", (int)kl, p, val);
		if (o >= outlen)
			die("meta too long", id);
		p = *e ? e + 1 : e;
	}
	return o;
}

/*
 * The fill template: the template certificate with a 4-octet placeholder serial and a CN
 * of the fill's width, encoded once. Each filled certificate is this DER with the serial
 * octets and the CN bytes overwritten (same lengths, so no other byte moves); the
 * signature is the template's and no longer verifies.
 */
static unsigned char	*fder;
static int		 fderlen;
static size_t		 off_serial, off_cn, off_subj, subjlen, cnlen;
static char		 oneline_pre[512], oneline_post[512];	/* around the CN text */

#define SERIAL_PH	0x7a5a5a5aUL

static void
make_fill_template(const char *prefix)
{
	X509		*x = X509_dup(tcert), *y;
	X509_NAME	*nm = X509_NAME_dup(X509_get_subject_name(tcert));
	ASN1_INTEGER	*ai = ASN1_INTEGER_new();
	unsigned char	*nder = NULL, ser[6] = { 0x02, 0x04, 0x7a, 0x5a, 0x5a, 0x5a };
	const unsigned char *p, *hit;
	char		 cn[128], *one, *c;
	int		 k, nl;

	cnlen = strlen(prefix) + 9;		/* PREFIX-%08ld */
	if (cnlen >= sizeof(cn))
		die("prefix too long", prefix);
	memset(cn, 'Q', cnlen);
	cn[cnlen] = '\0';
	ASN1_INTEGER_set_uint64(ai, SERIAL_PH);
	k = X509_NAME_get_index_by_NID(nm, NID_commonName, -1);
	if (k >= 0)
		X509_NAME_ENTRY_free(X509_NAME_delete_entry(nm, k));
	X509_NAME_add_entry_by_NID(nm, NID_commonName, MBSTRING_ASC, (unsigned char *)cn, -1,
	    k >= 0 ? k : 0, 0);
	if (!X509_set_serialNumber(x, ai) || !X509_set_subject_name(x, nm) ||
	    i2d_re_X509_tbs(x, NULL) <= 0 || (fderlen = i2d_X509(x, &fder)) <= 0)
		die("fill template", NULL);
	p = fder;
	if ((y = d2i_X509(NULL, &p, fderlen)) == NULL ||
	    (nl = i2d_X509_NAME(X509_get_subject_name(y), &nder)) <= 0)
		die("fill template reparse", NULL);
	if ((hit = memmem(fder, (size_t)fderlen, ser, sizeof(ser))) == NULL)
		die("placeholder serial not found", NULL);
	off_serial = (size_t)(hit - fder) + 2;
	if ((hit = memmem(fder, (size_t)fderlen, nder, (size_t)nl)) == NULL)
		die("subject not found", NULL);
	off_subj = (size_t)(hit - fder);
	subjlen = (size_t)nl;
	if ((hit = memmem(fder + off_subj, subjlen, cn, cnlen)) == NULL)
		die("placeholder CN not found", NULL);
	off_cn = (size_t)(hit - fder);
	one = X509_NAME_oneline(X509_get_subject_name(y), NULL, 0);
	if (one == NULL || (c = strstr(one, cn)) == NULL)
		die("oneline", NULL);
	snprintf(oneline_pre, sizeof(oneline_pre), "%.*s", (int)(c - one), one);
	snprintf(oneline_post, sizeof(oneline_post), "%s", c + cnlen);
	OPENSSL_free(one);
	OPENSSL_free(nder);
	ASN1_INTEGER_free(ai);
	X509_NAME_free(nm);
	X509_free(x);
	X509_free(y);
}

struct item {
	char		txid[128], id[65], serial[16], dnkey[65], subject[1200];
	unsigned char	der[8192];
};

static void
make_item(struct item *it, const char *prefix, unsigned long serial, long i)
{
	if ((size_t)fderlen > sizeof(it->der))
		die("template too large", NULL);
	snprintf(it->txid, sizeof(it->txid), "%s-%08ld", prefix, i);
	sha256_hex(it->id, it->txid, strlen(it->txid));
	snprintf(it->serial, sizeof(it->serial), "%08lX", serial);
	memcpy(it->der, fder, (size_t)fderlen);
	it->der[off_serial] = (unsigned char)(serial >> 24);
	it->der[off_serial + 1] = (unsigned char)(serial >> 16);
	it->der[off_serial + 2] = (unsigned char)(serial >> 8);
	it->der[off_serial + 3] = (unsigned char)serial;
	memcpy(it->der + off_cn, it->txid, cnlen);
	sha256_hex(it->dnkey, it->der + off_subj, subjlen);
	snprintf(it->subject, sizeof(it->subject), "%s%s%s", oneline_pre, it->txid,
	    oneline_post);
}

/* PEM of DER into OUT (certificate, 64-column base64). Returns the length. */
static size_t
pem_cert(char *out, const unsigned char *der, size_t len)
{
	size_t	o = 0, i;

	o += (size_t)sprintf(out, "-----BEGIN CERTIFICATE-----\n");
	for (i = 0; i < len; i += 48) {
		o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, der + i,
		    (int)(len - i < 48 ? len - i : 48));
		out[o++] = '\n';
	}
	o += (size_t)sprintf(out + o, "-----END CERTIFICATE-----\n");
	return o;
}

static int
open_dir(const char *a, const char *b)
{
	char	path[4096];
	int	fd;

	snprintf(path, sizeof(path), "%s/%s%s%s", root, a, b ? "/" : "", b ? b : "");
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die("open", path);
	return fd;
}

static void
blob(int recfd, const char *name, const unsigned char *buf, size_t len, int link_blobs,
    int tfd)
{
	if (buf == NULL)
		return;
	if (link_blobs) {
		if (linkat(tfd, name, recfd, name, 0) == -1)
			die("link", name);
	} else
		put(recfd, name, buf, len);
}

static void
fill_job(const char *prefix, long n, long pend, int job, int jobs, unsigned long s0,
    int link_blobs, long long now)
{
	int		 issued = open_dir("issued", NULL), pending = open_dir("pending", NULL);
	int		 certs = open_dir("certs", NULL), bydn = open_dir("bydn", NULL);
	int		 tfd = open_dir("issued", tid), tfd0 = tfd, recfd, dfd;
	long		 nlinks = 0;
	char		 meta[8192], name[128], idtext[200], pem[12000];
	size_t		 ml, pl;
	long		 i;
	struct item	 it;

	for (i = job; i < n + pend; i += jobs) {
		if (i < n)
			make_item(&it, prefix, s0 + (unsigned long)i, i);
		else {
			/* pending: the template's subject with a fresh CN, no certificate */
			snprintf(it.txid, sizeof(it.txid), "%s-p%07ld", prefix, i - n);
			sha256_hex(it.id, it.txid, strlen(it.txid));
		}
		if (mkdirat(i < n ? issued : pending, it.id, 0750) == -1)
			die("mkdir", it.id);
		if ((recfd = openat(i < n ? issued : pending, it.id,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
			die("open", it.id);
		if (i < n) {
			ml = make_meta(meta, sizeof(meta), it.id, it.txid, it.subject, it.serial,
			    NULL, now);
			put(recfd, "meta", meta, ml);
		} else {
			char subj[160];

			snprintf(subj, sizeof(subj), "/CN=%s/O=Test", it.txid);
			ml = make_meta(meta, sizeof(meta), it.id, it.txid, subj, NULL, "none",
			    now);
			put(recfd, "meta", meta, ml);
		}
		/*
		 * ext4 allows 65000 links to a file, and every job starts from the template:
		 * every 60000 / JOBS records of a job, the record gets copies and becomes the
		 * job's new link source.
		 */
		if (link_blobs && ++nlinks % (60000 / jobs) == 0) {
			blob(recfd, "request.der", treq, treqlen, 0, -1);
			blob(recfd, "csr.der", tcsr, tcsrlen, 0, -1);
			blob(recfd, "signer.der", tsigner, tsignerlen, 0, -1);
			if (tfd != tfd0)
				close(tfd);
			if ((tfd = dup(recfd)) == -1)
				die("dup", it.id);
		} else {
			blob(recfd, "request.der", treq, treqlen, link_blobs, tfd);
			blob(recfd, "csr.der", tcsr, tcsrlen, link_blobs, tfd);
			blob(recfd, "signer.der", tsigner, tsignerlen, link_blobs, tfd);
		}
		if (i >= n) {
			close(recfd);
			continue;
		}
		put(recfd, "cert.der", it.der, (size_t)fderlen);
		close(recfd);
		pl = pem_cert(pem, it.der, (size_t)fderlen);
		snprintf(name, sizeof(name), "%s.pem", it.serial);
		put(certs, name, pem, pl);
		snprintf(name, sizeof(name), "%s.id", it.serial);
		snprintf(idtext, sizeof(idtext), "%s\n%s\n", it.id, it.dnkey);
		put(certs, name, idtext, strlen(idtext));
		if (mkdirat(bydn, it.dnkey, 0750) == -1 && errno != EEXIST)
			die("mkdir bydn", it.dnkey);
		if ((dfd = openat(bydn, it.dnkey, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
			die("open bydn", it.dnkey);
		put(dfd, it.serial, "", 0);
		close(dfd);
	}
}

int
main(int argc, char **argv)
{
	const char	*prefix = "fill";
	long		 n = 0, pend = 0, jobs = 2, i;
	int		 link_blobs = 0, sync_ = 1, lockfd, st, bad = 0;
	unsigned char	*sbuf;
	size_t		 slen;
	char		 path[4096], tmp[4096], *end;
	unsigned long	 s0, base;
	struct flock	 fl;
	long long	 now = (long long)time(NULL);
	struct timespec	 t0, t1, t2;
	pid_t		 pids[16];
	FILE		*ix;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--link-blobs") == 0) { link_blobs = 1; continue; }
		if (strcmp(a, "--no-sync") == 0) { sync_ = 0; continue; }
		if (v == NULL) {
			fprintf(stderr, "usage: fillrepo -r REPO -n N [-p P] [-x PREFIX] [-j JOBS] "
			    "[--link-blobs] [--no-sync]\n");
			return 2;
		}
		if (strcmp(a, "-r") == 0) root = v;
		else if (strcmp(a, "-n") == 0) n = atol(v);
		else if (strcmp(a, "-p") == 0) pend = atol(v);
		else if (strcmp(a, "-x") == 0) prefix = v;
		else if (strcmp(a, "-j") == 0) jobs = atol(v);
		else {
			fprintf(stderr, "fillrepo: unknown option %s\n", a);
			return 2;
		}
		i++;
	}
	if (root == NULL || n < 0 || pend < 0 || jobs < 1 || jobs > 16) {
		fprintf(stderr, "fillrepo: need -r REPO -n N (1 <= JOBS <= 16)\n");
		return 2;
	}
	umask(027);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	snprintf(path, sizeof(path), "%s/.lock", root);
	if ((lockfd = open(path, O_RDWR | O_CLOEXEC)) == -1)
		die("open", path);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(lockfd, F_SETLKW, &fl) == -1)
		die("lock", path);
	load_template();
	snprintf(path, sizeof(path), "%s/serial", root);
	if ((sbuf = slurp(path, &slen)) == NULL)
		die("read", path);
	while (slen > 0 && (sbuf[slen - 1] == '\n' || sbuf[slen - 1] == '\r'))
		sbuf[--slen] = '\0';
	errno = 0;
	s0 = strtoul((char *)sbuf, &end, 16);
	if (errno != 0 || *end != '\0' || slen == 0 || slen > 8)
		die("serial is not hex of at most 8 digits:", path);
	/*
	 * Filled serials are 4 octets (01000000 .. 7FFFFFFF), so every filled certificate has
	 * the template's length; serials below 01000000 are skipped (a gap is allowed).
	 */
	base = s0 < 0x01000000UL ? 0x01000000UL : s0;
	if (base + (unsigned long)n > 0x7fffffffUL) {
		errno = ERANGE;
		die("no room for that many 4-octet serials after", (char *)sbuf);
	}
	make_fill_template(prefix);
	/* bydn/ exists once a certificate was stored; the template's was. */
	fflush(NULL);
	for (i = 0; i < jobs; i++) {
		if ((pids[i] = fork()) == 0) {
			fill_job(prefix, n, pend, (int)i, (int)jobs, base, link_blobs, now);
			_exit(0);
		}
		if (pids[i] == -1)
			die("fork", NULL);
	}
	/* index.txt lines meanwhile, in serial order (the parent computes the subjects too). */
	snprintf(path, sizeof(path), "%s/index.txt", root);
	if ((ix = fopen(path, "a")) == NULL)
		die("open", path);
	for (i = 0; i < n; i++)
		fprintf(ix, "V\t%s\t\t%08lX\tunknown\t%s%s-%08ld%s\n", texpiry,
		    base + (unsigned long)i, oneline_pre, prefix, i, oneline_post);
	if (fclose(ix) != 0)
		die("write", path);
	for (i = 0; i < jobs; i++)
		if (waitpid(pids[i], &st, 0) == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad = 1;
	if (bad) {
		errno = 0;
		die("a fill job failed", NULL);
	}
	/* serial: the next free one, replaced atomically. */
	snprintf(path, sizeof(path), "%s/serial", root);
	snprintf(tmp, sizeof(tmp), "%s/.tmp-fillrepo", root);
	{
		FILE *f = fopen(tmp, "w");

		if (f == NULL || fprintf(f, "%08lX\n", base + (unsigned long)n) < 0 || fclose(f) != 0 ||
		    rename(tmp, path) == -1)
			die("write", path);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (sync_ && syncfs(lockfd) == -1)
		die("syncfs", root);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	printf("filled=%ld pending=%ld first_serial=%08lX next_serial=%08lX template=%s "
	    "link_blobs=%d write_s=%.1f sync_s=%.1f\n", n, pend, base, base + (unsigned long)n,
	    tid, link_blobs,
	    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	    (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_nsec - t1.tv_nsec) / 1e9);
	return 0;
}
