/*
 * scepbench: the load generator of `make bench` (tests/load/bench.sh). Test code only; it
 * shares tests/unit/mkmsg.h with the unit tests and nothing with the server.
 *
 *   scepbench prepare -c CA.pem -n N -o DIR [-k KEYS] [-p CHALLENGE] [-x PREFIX] [-j JOBS]
 *       N PKCSReq pkiMessages (CSR subject CN=PREFIX-i/O=Test, challenge PW, AES-128,
 *       SHA-256), encrypted to CA.pem and signed by a self-signed certificate for one of
 *       KEYS RSA-2048 client keys (request i uses key i % KEYS). JOBS processes (default
 *       2) each write DIR/reqs-J.bin and DIR/keys-J.pem; the RSA work is done here,
 *       before anything is timed.
 *   scepbench run -u URL -r DIR [-f FIRST] [-n COUNT] [-c CONC] [-t SECONDS] [-o REPLIES]
 *       POSTs requests FIRST .. FIRST+COUNT-1 of DIR (PKIOperation, pre-encoded, one
 *       epoll thread, CONC keep-alive connections) until they are used up or SECONDS
 *       have passed (no new request is sent then; those in flight finish). Each reply's
 *       pkiStatus is read from its signed attributes without decrypting. SUCCESS replies
 *       go to REPLIES (for `verify`). Prints one line of key=value figures.
 *   scepbench get -u URL [-c CONC] [-t SECONDS] [-n MAX]
 *       GETs URL (any path and query) as fast as CONC connections allow; counts 200s.
 *   scepbench verify -r DIR -c CA.pem -i REPLIES [-s SAMPLE_DIR] [-m MAX_SAMPLES]
 *       Verifies each saved reply's signature (by CA.pem), decrypts it with the request's
 *       key, checks the certificate's subject, counts duplicate serials, and writes up to
 *       MAX_SAMPLES certificates to SAMPLE_DIR for `openssl verify`.
 *   scepbench pkeycost RECORD [N]
 *       CPU microseconds per call of the OpenSSL calls that decode or encode a public key,
 *       on an issued record's request, CSR and certificate (the "request=", "csr=" and
 *       "cert=" lines of the record file, e.g. REPO/issued/<id>; tests/load/PROFILE.md).
 *
 * Only 127.0.0.1 (or any IPv4 literal) URLs: the bench never leaves the machine.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/provider.h>

#include "mkmsg.h"

#define MAX_CONC	1024
#define REQ_TIMEOUT_S	60.0
#define GRACE_S		90.0	/* after the deadline, for replies still in flight */

static void
die(const char *fmt, const char *arg)
{
	fprintf(stderr, "scepbench: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static X509 *
load_cert(const char *path)
{
	FILE	*f = fopen(path, "r");
	X509	*x;

	if (f == NULL)
		die("cannot open %s", path);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		die("%s: not a PEM certificate", path);
	return x;
}

/* ------------------------------------------------------------------ request files */

/*
 * DIR/reqs-J.bin: records of { u32 idx, u32 key, u32 txidlen, txid, u32 derlen, der }.
 * DIR/keys-J.pem: for each key made by job J, "# key K" then the key and its signer
 * certificate (PEM).
 */
struct req {
	uint32_t	 key;
	char		*txid;
	unsigned char	*der;
	uint32_t	 derlen;
	int		 present;
};

struct reqset {
	struct req	*r;
	size_t		 n;
	EVP_PKEY	**keys;
	X509		**signers;
	size_t		 nkeys;
};

static int
put_u32(FILE *f, uint32_t v)
{
	return fwrite(&v, sizeof(v), 1, f) == 1;
}

static int
get_u32(FILE *f, uint32_t *v)
{
	return fread(v, sizeof(*v), 1, f) == 1;
}

static int
prepare_job(const char *dir, int job, int jobs, X509 *ca, long n, long nkeys,
    const char *pw, const char *prefix)
{
	char		 path[4096], cn[256];
	FILE		*fr, *fk;
	EVP_PKEY	**keys = calloc((size_t)nkeys, sizeof(*keys));
	X509		**signers = calloc((size_t)nkeys, sizeof(*signers));
	long		 i, k;

	snprintf(path, sizeof(path), "%s/reqs-%d.bin", dir, job);
	if ((fr = fopen(path, "wb")) == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/keys-%d.pem", dir, job);
	if ((fk = fopen(path, "w")) == NULL)
		return 0;
	for (k = job; k < nkeys; k += jobs) {
		snprintf(cn, sizeof(cn), "%s signer %ld", prefix, k);
		if ((keys[k] = mk_rsa(2048)) == NULL ||
		    (signers[k] = mk_selfsigned(keys[k], cn)) == NULL)
			return 0;
		fprintf(fk, "# key %ld\n", k);
		PEM_write_PrivateKey(fk, keys[k], NULL, NULL, 0, NULL, NULL);
		PEM_write_X509(fk, signers[k]);
	}
	for (i = 0; i < n; i++) {
		struct mk_opts	 o;
		X509_REQ	*csr;
		unsigned char	*inner = NULL, *msg;
		size_t		 mlen = 0;
		int		 ilen;
		char		 txid[256];

		k = i % nkeys;
		if (k % jobs != job)
			continue;
		snprintf(cn, sizeof(cn), "%s-%ld", prefix, i);
		snprintf(txid, sizeof(txid), "%s-%ld", prefix, i);
		if ((csr = mk_csr(keys[k], cn, pw, NULL)) == NULL ||
		    (ilen = i2d_X509_REQ(csr, &inner)) <= 0)
			return 0;
		memset(&o, 0, sizeof(o));
		o.msgtype = 19;
		o.txid = txid;
		o.recip = ca;
		o.signer = signers[k];
		o.signkey = keys[k];
		if ((msg = mk_pkimsg(&o, inner, (size_t)ilen, &mlen)) == NULL)
			return 0;
		if (!put_u32(fr, (uint32_t)i) || !put_u32(fr, (uint32_t)k) ||
		    !put_u32(fr, (uint32_t)strlen(txid)) ||
		    fwrite(txid, 1, strlen(txid), fr) != strlen(txid) ||
		    !put_u32(fr, (uint32_t)mlen) || fwrite(msg, 1, mlen, fr) != mlen)
			return 0;
		OPENSSL_free(msg);
		OPENSSL_free(inner);
		X509_REQ_free(csr);
	}
	return fclose(fr) == 0 && fclose(fk) == 0;
}

static int
cmd_prepare(int argc, char **argv)
{
	const char	*ca_path = NULL, *dir = NULL, *pw = NULL, *prefix = "bench";
	long		 n = 0, nkeys = 16, jobs = 2;
	int		 i, j, st, bad = 0;
	X509		*ca;
	pid_t		 pids[64];

	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
			die("missing value after %s", a);
		if (strcmp(a, "-c") == 0) ca_path = v;
		else if (strcmp(a, "-o") == 0) dir = v;
		else if (strcmp(a, "-p") == 0) pw = v;
		else if (strcmp(a, "-x") == 0) prefix = v;
		else if (strcmp(a, "-n") == 0) n = atol(v);
		else if (strcmp(a, "-k") == 0) nkeys = atol(v);
		else if (strcmp(a, "-j") == 0) jobs = atol(v);
		else die("prepare: unknown option %s", a);
		i++;
	}
	if (ca_path == NULL || dir == NULL || n <= 0 || nkeys <= 0 || jobs <= 0 || jobs > 64)
		die("prepare: need -c CA.pem -o DIR -n N (and sane -k, -j)%s", "");
	if (nkeys % jobs != 0)
		nkeys += jobs - nkeys % jobs;
	mkdir(dir, 0755);
	ca = load_cert(ca_path);
	for (j = 0; j < jobs; j++) {
		if ((pids[j] = fork()) == 0)
			_exit(prepare_job(dir, j, (int)jobs, ca, n, nkeys, pw, prefix) ? 0 : 1);
		if (pids[j] == -1)
			die("fork: %s", strerror(errno));
	}
	for (j = 0; j < jobs; j++)
		if (waitpid(pids[j], &st, 0) == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad = 1;
	if (bad) {
		ERR_print_errors_fp(stderr);
		die("prepare: a job failed%s", "");
	}
	X509_free(ca);
	return 0;
}

static void
load_reqset(const char *dir, struct reqset *s, int with_keys)
{
	char		 path[4096], line[256];
	FILE		*f;
	int		 j;
	uint32_t	 idx, key, tl, dl;

	memset(s, 0, sizeof(*s));
	for (j = 0;; j++) {
		snprintf(path, sizeof(path), "%s/reqs-%d.bin", dir, j);
		if ((f = fopen(path, "rb")) == NULL)
			break;
		while (get_u32(f, &idx)) {
			struct req *r;

			if (!get_u32(f, &key) || !get_u32(f, &tl) || tl > 1024)
				die("%s: truncated", path);
			if (idx >= s->n) {
				size_t nn = (size_t)idx + 1;

				if ((s->r = realloc(s->r, nn * sizeof(*s->r))) == NULL)
					die("out of memory%s", "");
				memset(s->r + s->n, 0, (nn - s->n) * sizeof(*s->r));
				s->n = nn;
			}
			r = &s->r[idx];
			r->key = key;
			r->txid = calloc(1, tl + 1);
			if (fread(r->txid, 1, tl, f) != tl || !get_u32(f, &dl) ||
			    dl > 1024 * 1024 || (r->der = malloc(dl)) == NULL ||
			    fread(r->der, 1, dl, f) != dl)
				die("%s: truncated", path);
			r->derlen = dl;
			r->present = 1;
			if (key + 1 > s->nkeys)
				s->nkeys = key + 1;
		}
		fclose(f);
	}
	if (s->n == 0)
		die("%s: no requests (scepbench prepare)", dir);
	if (!with_keys)
		return;
	s->keys = calloc(s->nkeys, sizeof(*s->keys));
	s->signers = calloc(s->nkeys, sizeof(*s->signers));
	for (j = 0;; j++) {
		snprintf(path, sizeof(path), "%s/keys-%d.pem", dir, j);
		if ((f = fopen(path, "r")) == NULL)
			break;
		while (fgets(line, sizeof(line), f) != NULL) {
			unsigned long k;

			if (sscanf(line, "# key %lu", &k) != 1 || k >= s->nkeys)
				continue;
			s->keys[k] = PEM_read_PrivateKey(f, NULL, NULL, NULL);
			s->signers[k] = PEM_read_X509(f, NULL, NULL, NULL);
		}
		fclose(f);
	}
}

/* -------------------------------------------------------------------- HTTP engine */

struct target {
	struct sockaddr_in	 sa;
	char			 host[128];
	char			 path[2048];	/* path and query */
};

static void
parse_url(const char *url, struct target *t)
{
	const char	*p, *slash;
	char		 hostport[128], *colon;
	int		 port = 80;

	memset(t, 0, sizeof(*t));
	if (strncmp(url, "http://", 7) != 0)
		die("only http:// URLs: %s", url);
	p = url + 7;
	slash = strchr(p, '/');
	if (slash == NULL || (size_t)(slash - p) >= sizeof(hostport))
		die("bad URL %s", url);
	memcpy(hostport, p, (size_t)(slash - p));
	hostport[slash - p] = '\0';
	snprintf(t->host, sizeof(t->host), "%s", hostport);
	if ((colon = strchr(hostport, ':')) != NULL) {
		*colon = '\0';
		port = atoi(colon + 1);
	}
	t->sa.sin_family = AF_INET;
	t->sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, hostport, &t->sa.sin_addr) != 1)
		die("the host must be an IPv4 literal: %s", url);
	snprintf(t->path, sizeof(t->path), "%s", slash);
}

enum { ST_IDLE, ST_CONNECTING, ST_BUSY };

struct conn {
	int		 fd, state, reused;
	const char	*out;		/* request bytes */
	size_t		 outlen, outoff;
	unsigned char	*in;
	size_t		 inlen, incap;
	long		 req;		/* index into the job list, -1 if none */
	double		 t0;
};

/* One finished exchange as the engine reports it. */
struct reply {
	int		 http;		/* 0: network error */
	const unsigned char *body;
	size_t		 bodylen;
};

typedef void on_reply_fn(void *arg, long req, double latency, const struct reply *);
typedef long next_req_fn(void *arg, const char **buf, size_t *len);	/* -1: none */

struct engine {
	struct target	*t;
	int		 ep, conc;
	struct conn	*c;
	double		 deadline, hard;
	next_req_fn	*next;
	on_reply_fn	*done;
	void		*arg;
	long		 inflight, neterr;
};

static int
conn_open(struct engine *e, struct conn *c)
{
	struct epoll_event	ev;
	int			one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1)
		return 0;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->reused = 0;
	if (connect(c->fd, (struct sockaddr *)&e->t->sa, sizeof(e->t->sa)) == -1 &&
	    errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return 0;
	}
	c->state = ST_CONNECTING;
	ev.events = EPOLLOUT | EPOLLIN;
	ev.data.ptr = c;
	epoll_ctl(e->ep, EPOLL_CTL_ADD, c->fd, &ev);
	return 1;
}

static void
conn_close(struct engine *e, struct conn *c)
{
	if (c->fd != -1) {
		epoll_ctl(e->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->state = ST_IDLE;
}

static void
want(struct engine *e, struct conn *c, uint32_t events)
{
	struct epoll_event ev;

	ev.events = events;
	ev.data.ptr = c;
	epoll_ctl(e->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Give C its next request (opening a connection if needed). 0 if there is none. */
static int
conn_start(struct engine *e, struct conn *c, double t)
{
	long	r;

	if (t >= e->deadline)
		return 0;
	if ((r = e->next(e->arg, &c->out, &c->outlen)) < 0)
		return 0;
	c->req = r;
	c->outoff = 0;
	c->inlen = 0;
	c->t0 = t;
	e->inflight++;
	if (c->fd == -1) {
		if (!conn_open(e, c)) {
			struct reply rp = { 0, NULL, 0 };

			e->inflight--;
			e->neterr++;
			e->done(e->arg, r, 0, &rp);
			return 0;
		}
		return 1;
	}
	c->state = ST_BUSY;
	c->reused = 1;
	want(e, c, EPOLLOUT | EPOLLIN);
	return 1;
}

static size_t
find_crlfcrlf(const unsigned char *b, size_t n)
{
	size_t i;

	for (i = 3; i < n; i++)
		if (b[i] == '\n' && b[i - 1] == '\r' && b[i - 2] == '\n' && b[i - 3] == '\r')
			return i + 1;
	return 0;
}

/* A header's value (case-insensitive name), NUL-terminated copy in out. */
static int
header(const unsigned char *h, size_t hl, const char *name, char *out, size_t outlen)
{
	size_t	i = 0, nl = strlen(name);

	while (i < hl) {
		size_t	e = i;

		while (e < hl && h[e] != '\n')
			e++;
		if (e - i > nl + 1 && strncasecmp((const char *)h + i, name, nl) == 0 &&
		    h[i + nl] == ':') {
			size_t	s = i + nl + 1, l;

			while (s < e && (h[s] == ' ' || h[s] == '\t'))
				s++;
			l = e - s;
			if (l > 0 && h[s + l - 1] == '\r')
				l--;
			if (l >= outlen)
				l = outlen - 1;
			memcpy(out, h + s, l);
			out[l] = '\0';
			return 1;
		}
		i = e + 1;
	}
	return 0;
}

/*
 * Is the response in c->in complete? 1 yes (body/bodylen/close set), 0 not yet, -1
 * malformed. Chunked bodies are decoded in place.
 */
static int
parse_response(struct conn *c, int eof, int *status, size_t *bstart, size_t *blen, int *close_)
{
	size_t	he = find_crlfcrlf(c->in, c->inlen);
	char	v[64];

	if (he == 0)
		return eof ? -1 : 0;
	if (c->inlen < 12 || memcmp(c->in, "HTTP/1.", 7) != 0)
		return -1;
	*status = atoi((const char *)c->in + 9);
	*close_ = header(c->in, he, "Connection", v, sizeof(v)) && strcasecmp(v, "close") == 0;
	if (memcmp(c->in, "HTTP/1.0", 8) == 0 &&
	    !(header(c->in, he, "Connection", v, sizeof(v)) && strcasecmp(v, "keep-alive") == 0))
		*close_ = 1;
	*bstart = he;
	if (header(c->in, he, "Content-Length", v, sizeof(v))) {
		size_t	cl = (size_t)strtoull(v, NULL, 10);

		if (c->inlen - he < cl)
			return eof ? -1 : 0;
		*blen = cl;
		return 1;
	}
	if (header(c->in, he, "Transfer-Encoding", v, sizeof(v)) && strcasecmp(v, "chunked") == 0) {
		size_t	p = he, out = he;

		for (;;) {
			size_t		 ls = p, sz;
			char		*end;

			while (p + 1 < c->inlen && !(c->in[p] == '\r' && c->in[p + 1] == '\n'))
				p++;
			if (p + 1 >= c->inlen)
				return eof ? -1 : 0;
			sz = (size_t)strtoull((const char *)c->in + ls, &end, 16);
			p += 2;
			if (sz == 0) {
				/* trailers end with an empty line */
				if (c->inlen - p < 2)
					return eof ? -1 : 0;
				break;
			}
			if (c->inlen - p < sz + 2)
				return eof ? -1 : 0;
			p += sz + 2;
		}
		/* Complete: decode (second pass, in place). */
		p = he;
		for (;;) {
			size_t	ls = p, sz;

			while (!(c->in[p] == '\r' && c->in[p + 1] == '\n'))
				p++;
			sz = (size_t)strtoull((const char *)c->in + ls, NULL, 16);
			p += 2;
			if (sz == 0)
				break;
			memmove(c->in + out, c->in + p, sz);
			out += sz;
			p += sz + 2;
		}
		*blen = out - he;
		return 1;
	}
	if (*status == 204 || *status == 304) {
		*blen = 0;
		return 1;
	}
	/* Delimited by close. */
	*close_ = 1;
	if (!eof)
		return 0;
	*blen = c->inlen - he;
	return 1;
}

static void
finish(struct engine *e, struct conn *c, int http, const unsigned char *body, size_t blen,
    double t)
{
	struct reply	rp = { http, body, blen };

	e->inflight--;
	if (http == 0)
		e->neterr++;
	e->done(e->arg, c->req, t - c->t0, &rp);
	c->req = -1;
}

static void
on_event(struct engine *e, struct conn *c, uint32_t ev, double t)
{
	ssize_t	n;
	int	eof = 0, rc, status = 0, cl = 0;
	size_t	bs = 0, bl = 0;

	if (c->req < 0) {
		/* An idle kept-alive connection: the server closed it, or spoke unasked. */
		conn_close(e, c);
		return;
	}
	if (c->state == ST_CONNECTING) {
		int		err = 0;
		socklen_t	len = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err != 0) {
			conn_close(e, c);
			finish(e, c, 0, NULL, 0, t);
			return;
		}
		c->state = ST_BUSY;
	}
	if ((ev & EPOLLOUT) && c->outoff < c->outlen) {
		n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
		if (n == -1 && errno != EAGAIN) {
			conn_close(e, c);
			finish(e, c, 0, NULL, 0, t);
			return;
		}
		if (n > 0)
			c->outoff += (size_t)n;
		if (c->outoff == c->outlen)
			want(e, c, EPOLLIN);
	}
	if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		if (c->incap - c->inlen < 16384) {
			c->incap = c->incap ? c->incap * 2 : 65536;
			if ((c->in = realloc(c->in, c->incap)) == NULL)
				die("out of memory%s", "");
		}
		n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, 0);
		if (n > 0) {
			c->inlen += (size_t)n;
			continue;
		}
		if (n == 0)
			eof = 1;
		else if (errno != EAGAIN) {
			conn_close(e, c);
			finish(e, c, 0, NULL, 0, t);
			return;
		}
		break;
	}
	rc = parse_response(c, eof, &status, &bs, &bl, &cl);
	if (rc == 0)
		return;
	if (rc < 0) {
		conn_close(e, c);
		finish(e, c, 0, NULL, 0, t);
		return;
	}
	finish(e, c, status, c->in + bs, bl, t);
	if (cl || eof)
		conn_close(e, c);
	conn_start(e, c, t);
}

static void
engine_run(struct engine *e, double seconds)
{
	struct epoll_event	 evs[256];
	double			 t0 = now_s(), t;
	int			 i, n;

	e->ep = epoll_create1(EPOLL_CLOEXEC);
	e->c = calloc((size_t)e->conc, sizeof(*e->c));
	e->deadline = t0 + seconds;
	e->hard = e->deadline + GRACE_S;
	for (i = 0; i < e->conc; i++) {
		e->c[i].fd = -1;
		e->c[i].req = -1;
		conn_start(e, &e->c[i], t0);
	}
	while (e->inflight > 0) {
		n = epoll_wait(e->ep, evs, 256, 200);
		t = now_s();
		for (i = 0; i < n; i++)
			on_event(e, evs[i].data.ptr, evs[i].events, t);
		if (t > e->hard)
			break;
		/* Per-request timeout; idle connections pick up work dropped by errors. */
		for (i = 0; i < e->conc; i++) {
			struct conn *c = &e->c[i];

			if (c->req >= 0 && t - c->t0 > REQ_TIMEOUT_S) {
				conn_close(e, c);
				finish(e, c, 0, NULL, 0, t);
			}
			if (c->req < 0)
				conn_start(e, c, t);
		}
	}
	for (i = 0; i < e->conc; i++) {
		conn_close(e, &e->c[i]);
		free(e->c[i].in);
	}
	free(e->c);
	close(e->ep);
}

/* ------------------------------------------------------------------------ figures */

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(double *v, size_t n, double p)
{
	size_t	k;

	if (n == 0)
		return 0;
	k = (size_t)(p / 100.0 * (double)n + 0.5);
	if (k > 0)
		k--;
	if (k >= n)
		k = n - 1;
	return v[k];
}

static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---------------------------------------------------------------------------- run */

/* pkiStatus attribute OID (2.16.840.1.113733.1.9.3), DER. */
static const unsigned char status_oid[] = {
	0x06, 0x0a, 0x60, 0x86, 0x48, 0x01, 0x86, 0xf8, 0x45, 0x01, 0x09, 0x03
};

/* pkiStatus of a CertRep from its signed attributes: 0, 2, 3; -1 if none. */
static int
pki_status(const unsigned char *b, size_t n)
{
	const unsigned char	*p = n >= sizeof(status_oid) ?
	    memmem(b, n, status_oid, sizeof(status_oid)) : NULL;
	size_t			 j;

	if (p == NULL)
		return -1;
	j = (size_t)(p - b) + sizeof(status_oid);
	/* SET { PrintableString "N" } */
	if (j + 5 > n || b[j] != 0x31 || (b[j + 2] != 0x13 && b[j + 2] != 0x0c) ||
	    b[j + 3] != 1)
		return -1;
	return b[j + 4] - '0';
}

struct run {
	char		**bufs;		/* pre-encoded HTTP requests */
	size_t		 *lens;
	long		  first, count, next;
	double		 *lat;
	size_t		  nlat;
	long		  success, failure, pending, other, httperr, sent;
	double		  t_last;
	FILE		 *replies;
};

static long
run_next(void *arg, const char **buf, size_t *len)
{
	struct run	*r = arg;
	long		 i;

	if (r->next >= r->first + r->count)
		return -1;
	i = r->next++;
	*buf = r->bufs[i - r->first];
	*len = r->lens[i - r->first];
	r->sent++;
	return i;
}

static void
run_done(void *arg, long req, double lat, const struct reply *rp)
{
	struct run	*r = arg;
	int		 st;

	r->t_last = now_s();
	if (rp->http == 0)
		return;
	r->lat[r->nlat++] = lat;
	if (rp->http != 200) {
		r->httperr++;
		return;
	}
	st = pki_status(rp->body, rp->bodylen);
	if (st == 0) {
		uint32_t i = (uint32_t)req, l = (uint32_t)rp->bodylen;

		r->success++;
		if (r->replies != NULL && (fwrite(&i, 4, 1, r->replies) != 1 ||
		    fwrite(&l, 4, 1, r->replies) != 1 ||
		    fwrite(rp->body, 1, rp->bodylen, r->replies) != rp->bodylen))
			die("cannot write the replies file%s", "");
	} else if (st == 2)
		r->failure++;
	else if (st == 3)
		r->pending++;
	else
		r->other++;
}

static int
cmd_run(int argc, char **argv)
{
	const char	*url = NULL, *dir = NULL, *out = NULL;
	long		 first = 0, count = -1, conc = 1;
	double		 seconds = 10, t0, c0, wall, cpu;
	struct target	 t;
	struct reqset	 s;
	struct run	 r;
	struct engine	 e;
	int		 i;
	long		 k;

	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
			die("missing value after %s", a);
		if (strcmp(a, "-u") == 0) url = v;
		else if (strcmp(a, "-r") == 0) dir = v;
		else if (strcmp(a, "-o") == 0) out = v;
		else if (strcmp(a, "-f") == 0) first = atol(v);
		else if (strcmp(a, "-n") == 0) count = atol(v);
		else if (strcmp(a, "-c") == 0) conc = atol(v);
		else if (strcmp(a, "-t") == 0) seconds = atof(v);
		else die("run: unknown option %s", a);
		i++;
	}
	if (url == NULL || dir == NULL || conc < 1 || conc > MAX_CONC)
		die("run: need -u URL -r DIR, 1 <= -c <= 1024%s", "");
	parse_url(url, &t);
	load_reqset(dir, &s, 0);
	if (count < 0 || first + count > (long)s.n)
		count = (long)s.n - first;
	if (first < 0 || count <= 0)
		die("run: no requests in that range%s", "");
	memset(&r, 0, sizeof(r));
	r.first = r.next = first;
	r.count = count;
	r.bufs = calloc((size_t)count, sizeof(*r.bufs));
	r.lens = calloc((size_t)count, sizeof(*r.lens));
	r.lat = calloc((size_t)count, sizeof(*r.lat));
	for (k = 0; k < count; k++) {
		struct req	*q = &s.r[first + k];
		char		 head[3072];
		int		 hl;

		if (!q->present)
			die("run: a request is missing from %s", dir);
		hl = snprintf(head, sizeof(head), "POST %s?operation=PKIOperation HTTP/1.1\r\n"
		    "Host: %s\r\nContent-Type: application/x-pki-message\r\n"
		    "Content-Length: %u\r\n\r\n", t.path, t.host, q->derlen);
		r.lens[k] = (size_t)hl + q->derlen;
		r.bufs[k] = malloc(r.lens[k]);
		memcpy(r.bufs[k], head, (size_t)hl);
		memcpy(r.bufs[k] + hl, q->der, q->derlen);
	}
	if (out != NULL && (r.replies = fopen(out, "wb")) == NULL)
		die("cannot create %s", out);
	memset(&e, 0, sizeof(e));
	e.t = &t;
	e.conc = (int)(conc < count ? conc : count);
	e.next = run_next;
	e.done = run_done;
	e.arg = &r;
	c0 = cpu_s();
	t0 = now_s();
	r.t_last = t0;
	engine_run(&e, seconds);
	wall = r.t_last - t0;
	cpu = cpu_s() - c0;
	if (r.replies != NULL && fclose(r.replies) != 0)
		die("cannot write %s", out);
	qsort(r.lat, r.nlat, sizeof(*r.lat), dcmp);
	printf("sent=%ld success=%ld failure=%ld pending=%ld other=%ld httperr=%ld neterr=%ld "
	    "seconds=%.3f success_per_s=%.1f p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f "
	    "driver_cpu_s=%.3f driver_cpu_pct=%.2f\n",
	    r.sent, r.success, r.failure, r.pending, r.other, r.httperr, e.neterr, wall,
	    wall > 0 ? (double)r.success / wall : 0, pct(r.lat, r.nlat, 50) * 1e3,
	    pct(r.lat, r.nlat, 90) * 1e3, pct(r.lat, r.nlat, 99) * 1e3,
	    pct(r.lat, r.nlat, 100) * 1e3, cpu, wall > 0 ? 100.0 * cpu / wall : 0);
	return 0;
}

/* ---------------------------------------------------------------------------- get */

struct get {
	char	*buf;
	size_t	 len;
	long	 max, sent, ok, bad;
	double	*lat;
	size_t	 nlat, cap;
	double	 t_last;
	size_t	 bytes;
};

static long
get_next(void *arg, const char **buf, size_t *len)
{
	struct get *g = arg;

	if (g->max >= 0 && g->sent >= g->max)
		return -1;
	*buf = g->buf;
	*len = g->len;
	return g->sent++;
}

static void
get_done(void *arg, long req, double lat, const struct reply *rp)
{
	struct get *g = arg;

	(void)req;
	g->t_last = now_s();
	if (g->nlat == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 65536;
		if ((g->lat = realloc(g->lat, g->cap * sizeof(*g->lat))) == NULL)
			die("out of memory%s", "");
	}
	g->lat[g->nlat++] = lat;
	if (rp->http == 200) {
		g->ok++;
		g->bytes = rp->bodylen;
	} else
		g->bad++;
}

static int
cmd_get(int argc, char **argv)
{
	const char	*url = NULL;
	long		 conc = 16, max = -1;
	double		 seconds = 3, t0, c0, wall, cpu;
	struct target	 t;
	struct get	 g;
	struct engine	 e;
	char		 buf[4096];
	int		 i;

	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
			die("missing value after %s", a);
		if (strcmp(a, "-u") == 0) url = v;
		else if (strcmp(a, "-c") == 0) conc = atol(v);
		else if (strcmp(a, "-n") == 0) max = atol(v);
		else if (strcmp(a, "-t") == 0) seconds = atof(v);
		else die("get: unknown option %s", a);
		i++;
	}
	if (url == NULL || conc < 1 || conc > MAX_CONC)
		die("get: need -u URL, 1 <= -c <= 1024%s", "");
	parse_url(url, &t);
	memset(&g, 0, sizeof(g));
	g.max = max;
	g.len = (size_t)snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
	    t.path, t.host);
	g.buf = buf;
	memset(&e, 0, sizeof(e));
	e.t = &t;
	e.conc = (int)conc;
	e.next = get_next;
	e.done = get_done;
	e.arg = &g;
	c0 = cpu_s();
	t0 = now_s();
	g.t_last = t0;
	engine_run(&e, seconds);
	wall = g.t_last - t0;
	cpu = cpu_s() - c0;
	qsort(g.lat, g.nlat, sizeof(*g.lat), dcmp);
	printf("sent=%ld ok=%ld bad=%ld neterr=%ld bytes=%zu seconds=%.3f per_s=%.1f p50_ms=%.2f "
	    "p99_ms=%.2f driver_cpu_pct=%.2f\n", g.sent, g.ok, g.bad, e.neterr, g.bytes, wall,
	    wall > 0 ? (double)g.ok / wall : 0, pct(g.lat, g.nlat, 50) * 1e3,
	    pct(g.lat, g.nlat, 99) * 1e3, wall > 0 ? 100.0 * cpu / wall : 0);
	return 0;
}

/* ------------------------------------------------------------------------- verify */

struct issued {
	char	serial[80];
	long	req;
};

static int
icmp(const void *a, const void *b)
{
	return strcmp(((const struct issued *)a)->serial, ((const struct issued *)b)->serial);
}

static int
cmd_verify(int argc, char **argv)
{
	const char	*dir = NULL, *ca_path = NULL, *in = NULL, *sdir = NULL;
	long		 maxs = 10, n = 0, bad = 0, cnbad = 0, dups = 0, samples = 0, every;
	struct reqset	 s;
	struct issued	*iss = NULL;
	size_t		 niss = 0, cap = 0, k;
	X509		*ca;
	FILE		*f;
	uint32_t	 idx, len;
	unsigned char	*der;
	int		 i;

	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
			die("missing value after %s", a);
		if (strcmp(a, "-r") == 0) dir = v;
		else if (strcmp(a, "-c") == 0) ca_path = v;
		else if (strcmp(a, "-i") == 0) in = v;
		else if (strcmp(a, "-s") == 0) sdir = v;
		else if (strcmp(a, "-m") == 0) maxs = atol(v);
		else die("verify: unknown option %s", a);
		i++;
	}
	if (dir == NULL || ca_path == NULL || in == NULL)
		die("verify: need -r DIR -c CA.pem -i REPLIES%s", "");
	load_reqset(dir, &s, 1);
	ca = load_cert(ca_path);
	if ((f = fopen(in, "rb")) == NULL)
		die("cannot open %s", in);
	/* Count first, to spread the samples over the run. */
	while (get_u32(f, &idx) && get_u32(f, &len) && fseek(f, (long)len, SEEK_CUR) == 0)
		n++;
	every = maxs > 0 && n > maxs ? n / maxs : 1;
	rewind(f);
	if (sdir != NULL)
		mkdir(sdir, 0755);
	n = 0;
	while (get_u32(f, &idx) && get_u32(f, &len)) {
		struct mk_reply	 rp;
		struct req	*q;
		X509		*x;
		char		 cn[256], *hex;
		BIGNUM		*bn;

		if ((der = malloc(len)) == NULL || fread(der, 1, len, f) != len)
			die("%s: truncated", in);
		n++;
		if (idx >= s.n || !s.r[idx].present || s.r[idx].key >= s.nkeys ||
		    s.keys[s.r[idx].key] == NULL) {
			bad++;
			free(der);
			continue;
		}
		q = &s.r[idx];
		if (!mk_read_reply(der, len, ca, s.signers[q->key], s.keys[q->key], &rp) ||
		    rp.status != 0 || rp.certs == NULL || sk_X509_num(rp.certs) < 1 ||
		    strcmp(rp.txid, q->txid) != 0) {
			bad++;
			mk_reply_free(&rp);
			free(der);
			continue;
		}
		x = sk_X509_value(rp.certs, 0);
		cn[0] = '\0';
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
		if (strcmp(cn, q->txid) != 0)
			cnbad++;
		bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
		hex = BN_bn2hex(bn);
		if (niss == cap) {
			cap = cap ? cap * 2 : 4096;
			if ((iss = realloc(iss, cap * sizeof(*iss))) == NULL)
				die("out of memory%s", "");
		}
		snprintf(iss[niss].serial, sizeof(iss[niss].serial), "%s", hex);
		iss[niss++].req = (long)idx;
		if (sdir != NULL && samples < maxs && (n - 1) % every == 0) {
			char	 path[4096];
			FILE	*o;

			snprintf(path, sizeof(path), "%s/%ld.pem", sdir, (long)idx);
			if ((o = fopen(path, "w")) != NULL) {
				PEM_write_X509(o, x);
				fclose(o);
				samples++;
			}
		}
		OPENSSL_free(hex);
		BN_free(bn);
		mk_reply_free(&rp);
		free(der);
	}
	fclose(f);
	qsort(iss, niss, sizeof(*iss), icmp);
	for (k = 1; k < niss; k++)
		if (strcmp(iss[k].serial, iss[k - 1].serial) == 0)
			dups++;
	printf("replies=%ld decrypted=%zu bad=%ld cn_mismatch=%ld dup_serials=%ld samples=%ld\n",
	    n, niss, bad, cnbad, dups, samples);
	free(iss);
	X509_free(ca);
	return 0;
}

/* ------------------------------------------------------------------------ pkeycost */

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The blob KEY of the record file PATH: its "KEY=<base64>" line, decoded. */
static unsigned char *
read_blob(const char *path, const char *key, long *len)
{
	FILE		*f;
	char		*line = NULL;
	size_t		 cap = 0, kl = strlen(key);
	ssize_t		 n;
	unsigned char	*b = NULL;
	int		 d;

	if ((f = fopen(path, "r")) == NULL)
		die("cannot open %s", path);
	while ((n = getline(&line, &cap, f)) > 0) {
		if ((size_t)n <= kl + 1 || strncmp(line, key, kl) != 0 || line[kl] != '=')
			continue;
		while (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		n -= (ssize_t)kl + 1;
		if ((b = malloc((size_t)n)) == NULL ||
		    (d = EVP_DecodeBlock(b, (unsigned char *)line + kl + 1, (int)n)) < 0)
			die("cannot decode the record's %s", key);
		*len = d - (n >= 1 && line[kl + n] == '=') - (n >= 2 && line[kl + n - 1] == '=');
		break;
	}
	fclose(f);
	free(line);
	if (b == NULL)
		die("no %s in the record", key);
	return b;
}

static int
cmd_pkeycost(int argc, char **argv)
{
	const unsigned char	*p;
	unsigned char		*csr, *crt, *req, *o;
	long			 nc, nx, nr, n = argc > 3 ? atol(argv[3]) : 2000, i;
	double			 t;
	X509			*x, *y;
	EVP_PKEY		*k;

	if (argc < 3 || n <= 0)
		die("pkeycost: need a record file%s", "");
	csr = read_blob(argv[2], "csr", &nc);
	crt = read_blob(argv[2], "cert", &nx);
	req = read_blob(argv[2], "request", &nr);
#define LOOP(what, body) \
	t = cpu_now(); \
	for (i = 0; i < n; i++) { body; } \
	printf("%-36s %8.1f us\n", what, (cpu_now() - t) / (double)n * 1e6);
	LOOP("d2i_CMS_ContentInfo(request.der)", p = req;
	    CMS_ContentInfo_free(d2i_CMS_ContentInfo(NULL, &p, nr)))
	LOOP("d2i_X509_REQ(csr.der)", p = csr; X509_REQ_free(d2i_X509_REQ(NULL, &p, nc)))
	LOOP("d2i_X509(cert.der)", p = crt; X509_free(d2i_X509(NULL, &p, nx)))
	p = crt;
	if ((x = d2i_X509(NULL, &p, nx)) == NULL || (k = X509_get0_pubkey(x)) == NULL)
		die("pkeycost: cert.der does not parse%s", "");
	LOOP("i2d_PUBKEY(EVP_PKEY)", o = NULL; i2d_PUBKEY(k, &o); OPENSSL_free(o))
	LOOP("i2d_X509_PUBKEY(cert's, cached)", o = NULL;
	    i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &o); OPENSSL_free(o))
	LOOP("X509_set_pubkey(new X509, EVP_PKEY)", y = X509_new(); X509_set_pubkey(y, k);
	    X509_free(y))
	LOOP("X509_get_pubkey (cached, up_ref)", EVP_PKEY_free(X509_get_pubkey(x)))
#undef LOOP
	X509_free(x);
	free(csr);
	free(crt);
	free(req);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: scepbench prepare|run|get|verify|pkeycost ... (see scepbench.c)\n");
		return 2;
	}
	OSSL_PROVIDER_load(NULL, "legacy");
	OSSL_PROVIDER_load(NULL, "default");
	if (strcmp(argv[1], "prepare") == 0)
		return cmd_prepare(argc, argv);
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc, argv);
	if (strcmp(argv[1], "get") == 0)
		return cmd_get(argc, argv);
	if (strcmp(argv[1], "verify") == 0)
		return cmd_verify(argc, argv);
	if (strcmp(argv[1], "pkeycost") == 0)
		return cmd_pkeycost(argc, argv);
	fprintf(stderr, "scepbench: unknown command %s\n", argv[1]);
	return 2;
}
