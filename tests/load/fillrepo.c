/*
 * fillrepo: add N issued certificates (and P pending requests) to a CA repository quickly,
 * in the on-disk format of repo-layout/README.md, for the 1,000,000-certificate bench
 * (BENCH_FILL=N tests/load/bench.sh). Test code only: it links libcrypto, not the server.
 *
 *   fillrepo -r REPO -n N [-p P] [-x PREFIX] [-j JOBS] [--no-sync]
 *
 * The template is the first record in REPO/issued/ (make one real enrollment first; its
 * serial must be 16 octets, as the server makes them). For each i < N, with txid =
 * PREFIX-<i, 8 digits>, id = SHA-256(txid) and a 16-octet serial (8 octets random for the
 * run, then i; the first octet in 01..7F, as the server's):
 *   issued/<id>              the template record with id, transaction_id(_hex), subject,
 *                            serial, created, updated and cert replaced; its csr, signer
 *                            and request lines are the template's
 *   cert                     the template certificate, encoded once with a placeholder
 *                            serial and CN, then those bytes overwritten per certificate;
 *                            NOT re-signed (its signature no longer verifies:
 *                            repo_check() never verifies signatures; see PROFILE.md)
 *   certs/<SERIAL>.pem       "record=<id>" and the certificate (created with O_EXCL: a
 *                            serial already there stops the fill)
 *   bydn/<b>/<dnkey>.<SERIAL>  a hard link of it; and one index.txt line
 * then P pending records (no certificate). Runs as the repository owner, under the
 * repository's fcntl() write lock on .lock (no server may write meanwhile). Files are
 * written without fsync; one syncfs() at the end (not with --no-sync). Modes 0640 and
 * 0750, as repo.c makes them.
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
#include <openssl/rand.h>
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

/* The template record: its meta lines, the blob lines it keeps, its certificate. */
static char		 tid[65];
static char		*tmeta, *tblobs;	/* NUL-terminated text */
static X509		*tcert;
static char		 texpiry[32];

/* The template record TEXT into its meta lines, its kept blob lines and its certificate. */
static void
split_record(char *text)
{
	char	*p = text, *e, *blobs = NULL, *meta = NULL;
	size_t	 mo = 0, bo = 0, len = strlen(text);

	if ((meta = malloc(len + 1)) == NULL || (blobs = malloc(len + 1)) == NULL)
		die("malloc", NULL);
	while (*p != '\0') {
		if ((e = strchr(p, '\n')) == NULL)
			e = p + strlen(p);
		if (strncmp(p, "cert=", 5) == 0) {
			unsigned char	*der = malloc((size_t)(e - p));
			const unsigned char *q;
			int		 n, pad = (e[-1] == '=') + (e[-2] == '=');

			if (der == NULL || (n = EVP_DecodeBlock(der, (unsigned char *)p + 5,
			    (int)(e - p - 5))) < 0)
				die("template cert line", tid);
			q = der;
			if ((tcert = d2i_X509(NULL, &q, n - pad)) == NULL)
				die("template certificate", tid);
			free(der);
		} else if (strncmp(p, "csr=", 4) == 0 || strncmp(p, "signer=", 7) == 0 ||
		    strncmp(p, "request=", 8) == 0) {
			memcpy(blobs + bo, p, (size_t)(e - p));
			bo += (size_t)(e - p);
			blobs[bo++] = '\n';
		} else {
			memcpy(meta + mo, p, (size_t)(e - p));
			mo += (size_t)(e - p);
			meta[mo++] = '\n';
		}
		p = *e ? e + 1 : e;
	}
	meta[mo] = blobs[bo] = '\0';
	tmeta = meta;
	tblobs = blobs;
}

static void
load_template(void)
{
	char		 path[4096];
	DIR		*d;
	struct dirent	*de;
	unsigned char	*text;
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
	snprintf(path, sizeof(path), "%s/issued/%s", root, tid);
	if ((text = slurp(path, &len)) == NULL)
		die("read", path);
	split_record((char *)text);
	free(text);
	if (tcert == NULL)
		die("template without a certificate", tid);
	if (!ASN1_TIME_to_tm(X509_get0_notAfter(tcert), &tm))
		die("template notAfter", tid);
	y = tm.tm_year + 1900;
	snprintf(texpiry, sizeof(texpiry), "%0*d%02d%02d%02d%02d%02dZ",
	    (y >= 1950 && y < 2050) ? 2 : 4, (y >= 1950 && y < 2050) ? y % 100 : y,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
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
 * The fill template: the template certificate with a 16-octet placeholder serial and a CN
 * of the fill's width, encoded once. Each filled certificate is this DER with the serial
 * octets and the CN bytes overwritten (same lengths, so no other byte moves); the
 * signature is the template's and no longer verifies.
 */
#define SERIAL_OCTETS	16
static unsigned char	*fder;
static int		 fderlen;
static size_t		 off_serial, off_cn, off_subj, subjlen, cnlen;
static char		 oneline_pre[512], oneline_post[512];	/* around the CN text */
static unsigned char	 run_serial[8];				/* the serials' first half */

static void
make_fill_template(const char *prefix)
{
	X509		*x = X509_dup(tcert), *y;
	X509_NAME	*nm = X509_NAME_dup(X509_get_subject_name(tcert));
	ASN1_INTEGER	*ai = NULL;
	BIGNUM		*bn = NULL;
	unsigned char	*nder = NULL, ser[2 + SERIAL_OCTETS];
	const unsigned char *p, *hit;
	char		 cn[128], *one, *c;
	int		 k, nl;

	cnlen = strlen(prefix) + 9;		/* PREFIX-%08ld */
	if (cnlen >= sizeof(cn))
		die("prefix too long", prefix);
	memset(cn, 'Q', cnlen);
	cn[cnlen] = '\0';
	ser[0] = 0x02;
	ser[1] = SERIAL_OCTETS;
	memset(ser + 2, 0x5a, SERIAL_OCTETS);
	ser[2] = 0x7a;
	if ((bn = BN_bin2bn(ser + 2, SERIAL_OCTETS, NULL)) == NULL ||
	    (ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL)
		die("placeholder serial", NULL);
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
	if (RAND_bytes(run_serial, sizeof(run_serial)) != 1)
		die("random", NULL);
	while ((run_serial[0] &= 0x7f) == 0)
		run_serial[0] = 0x11;
	OPENSSL_free(one);
	OPENSSL_free(nder);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	X509_NAME_free(nm);
	X509_free(x);
	X509_free(y);
}

struct item {
	char		txid[128], id[65], serial[2 * SERIAL_OCTETS + 1], dnkey[65];
	char		subject[1200];
	unsigned char	der[8192];
};

/* Serial I of the run: the run's 8 octets, then I (big-endian). */
static void
item_serial(unsigned char out[SERIAL_OCTETS], long i)
{
	int	k;

	memcpy(out, run_serial, 8);
	for (k = 0; k < 8; k++)
		out[15 - k] = (unsigned char)((unsigned long long)i >> (8 * k));
}

static void
make_item(struct item *it, const char *prefix, long i)
{
	unsigned char	sn[SERIAL_OCTETS];
	int		k;

	if ((size_t)fderlen > sizeof(it->der))
		die("template too large", NULL);
	snprintf(it->txid, sizeof(it->txid), "%s-%08ld", prefix, i);
	sha256_hex(it->id, it->txid, strlen(it->txid));
	item_serial(sn, i);
	hex(it->serial, sn, SERIAL_OCTETS);
	for (k = 0; it->serial[k] != '\0'; k++)
		if (it->serial[k] >= 'a')
			it->serial[k] = (char)(it->serial[k] - 'a' + 'A');
	memcpy(it->der, fder, (size_t)fderlen);
	memcpy(it->der + off_serial, sn, SERIAL_OCTETS);
	memcpy(it->der + off_cn, it->txid, cnlen);
	sha256_hex(it->dnkey, it->der + off_subj, subjlen);
	snprintf(it->subject, sizeof(it->subject), "%s%s%s", oneline_pre, it->txid,
	    oneline_post);
}

/* The certs/ file of DER into OUT: the record line, then the PEM. Returns the length. */
static size_t
cert_file(char *out, const char *id, const unsigned char *der, size_t len)
{
	size_t	o = 0, i;

	o += (size_t)sprintf(out, "record=%s\n-----BEGIN CERTIFICATE-----\n", id);
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

/* The 4096 buckets of bydn/, made (by the parent, before the jobs) and opened. */
static int	bucket[4096];

static void
open_buckets(int make)
{
	int	bydn = open_dir("bydn", NULL), b;
	char	name[8];

	for (b = 0; b < 4096; b++) {
		snprintf(name, sizeof(name), "%03x", b);
		if (make && mkdirat(bydn, name, 0750) == -1 && errno != EEXIST)
			die("mkdir bydn", name);
		if ((bucket[b] = openat(bydn, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
			die("open bydn", name);
	}
	close(bydn);
}

static void
fill_job(const char *prefix, long n, long pend, int job, int jobs, long long now)
{
	int		 issued = open_dir("issued", NULL), pending = open_dir("pending", NULL);
	int		 certs = open_dir("certs", NULL);
	char		 rec[16384], name[128], entry[200], pem[4096], b64[12000];
	size_t		 ml, bl = strlen(tblobs), pl;
	unsigned long	 b;
	long		 i;
	struct item	 it;

	for (i = job; i < n + pend; i += jobs) {
		if (i >= n) {
			/* pending: the template's subject with a fresh CN, no certificate */
			char subj[160];

			snprintf(it.txid, sizeof(it.txid), "%s-p%07ld", prefix, i - n);
			sha256_hex(it.id, it.txid, strlen(it.txid));
			snprintf(subj, sizeof(subj), "/CN=%s/O=Test", it.txid);
			ml = make_meta(rec, sizeof(rec), it.id, it.txid, subj, NULL, "none", now);
			if (ml + bl >= sizeof(rec))
				die("record too long", it.id);
			memcpy(rec + ml, tblobs, bl);
			put(pending, it.id, rec, ml + bl);
			continue;
		}
		make_item(&it, prefix, i);
		ml = make_meta(rec, sizeof(rec), it.id, it.txid, it.subject, it.serial, NULL, now);
		EVP_EncodeBlock((unsigned char *)b64, it.der, fderlen);
		ml += (size_t)snprintf(rec + ml, sizeof(rec) - ml, "cert=%s\n", b64);
		if (ml + bl >= sizeof(rec))
			die("record too long", it.id);
		memcpy(rec + ml, tblobs, bl);
		put(issued, it.id, rec, ml + bl);
		pl = cert_file(pem, it.id, it.der, (size_t)fderlen);
		snprintf(name, sizeof(name), "%s.pem", it.serial);
		put(certs, name, pem, pl);
		b = strtoul((char[4]){ it.dnkey[0], it.dnkey[1], it.dnkey[2], '\0' }, NULL, 16);
		snprintf(entry, sizeof(entry), "%s.%s", it.dnkey, it.serial);
		if (linkat(certs, name, bucket[b], entry, 0) == -1)
			die("link bydn", entry);
	}
}

int
main(int argc, char **argv)
{
	const char	*prefix = "fill";
	long		 n = 0, pend = 0, jobs = 2, i;
	int		 sync_ = 1, lockfd, st, bad = 0;
	char		 path[4096], sn[2 * SERIAL_OCTETS + 1];
	unsigned char	 raw[SERIAL_OCTETS];
	struct flock	 fl;
	long long	 now = (long long)time(NULL);
	struct timespec	 t0, t1, t2;
	pid_t		 pids[16];
	FILE		*ix;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--no-sync") == 0) { sync_ = 0; continue; }
		if (v == NULL) {
			fprintf(stderr, "usage: fillrepo -r REPO -n N [-p P] [-x PREFIX] [-j JOBS] "
			    "[--no-sync]\n");
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
	make_fill_template(prefix);
	open_buckets(1);
	fflush(NULL);
	for (i = 0; i < jobs; i++) {
		if ((pids[i] = fork()) == 0) {
			fill_job(prefix, n, pend, (int)i, (int)jobs, now);
			_exit(0);
		}
		if (pids[i] == -1)
			die("fork", NULL);
	}
	/* index.txt lines meanwhile, in fill order (the parent computes the subjects too). */
	snprintf(path, sizeof(path), "%s/index.txt", root);
	if ((ix = fopen(path, "a")) == NULL)
		die("open", path);
	for (i = 0; i < n; i++) {
		item_serial(raw, i);
		hex(sn, raw, SERIAL_OCTETS);
		for (st = 0; sn[st] != '\0'; st++)
			if (sn[st] >= 'a')
				sn[st] = (char)(sn[st] - 'a' + 'A');
		fprintf(ix, "V\t%s\t\t%s\tunknown\t%s%s-%08ld%s\n", texpiry, sn, oneline_pre,
		    prefix, i, oneline_post);
	}
	if (fclose(ix) != 0)
		die("write", path);
	for (i = 0; i < jobs; i++)
		if (waitpid(pids[i], &st, 0) == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad = 1;
	if (bad) {
		errno = 0;
		die("a fill job failed", NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (sync_ && syncfs(lockfd) == -1)
		die("syncfs", root);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	item_serial(raw, 0);
	hex(sn, raw, SERIAL_OCTETS);
	printf("filled=%ld pending=%ld first_serial=%s template=%s write_s=%.1f sync_s=%.1f\n",
	    n, pend, sn, tid,
	    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	    (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_nsec - t1.tv_nsec) / 1e9);
	return 0;
}
