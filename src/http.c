/*
 * http: CGI and FastCGI transport. One binary serves both: libfcgi tells whether stdin is
 * a FastCGI listening socket; if not, we are a plain CGI and answer one request.
 * The query string is taken raw and decoded here, never by a form decoder (a form decoder
 * turns '+' into ' ', which breaks base64: scep-notes §2.4).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <fastcgi.h>
#include <fcgiapp.h>
#include <openssl/evp.h>

#include "scep.h"
#include "http.h"

/* Percent-decode [s, s+n) into a new NUL-terminated buffer. '+' is kept as '+'. */
static char *
pct_decode(const char *s, size_t n, size_t *outlen, int *bad)
{
	char	*out;
	size_t	 i, o = 0;

	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi, lo;

			if (i + 2 >= n) {
				*bad = 1;
				free(out);
				return NULL;
			}
			hi = hex_digit((unsigned char)s[i + 1]);
			lo = hex_digit((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0) {
				*bad = 1;
				free(out);
				return NULL;
			}
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			out[o++] = s[i];
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

char *
query_param(const char *query, const char *key, size_t *len, int *bad)
{
	const char	*p, *end, *eq, *amp;
	size_t		 klen = strlen(key);
	int		 dummy = 0;

	if (bad == NULL)
		bad = &dummy;
	*bad = 0;
	if (query == NULL)
		return NULL;
	p = query;
	end = query + strlen(query);
	while (p < end) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq != NULL && (size_t)(eq - p) == klen &&
		    strncasecmp(p, key, klen) == 0)
			return pct_decode(eq + 1, (size_t)(amp - eq - 1), len, bad);
		if (eq == NULL && (size_t)(amp - p) == klen &&
		    strncasecmp(p, key, klen) == 0) {
			*len = 0;
			return strdup("");
		}
		p = amp + 1;
	}
	return NULL;
}

unsigned char *
scep_b64_decode(const char *in, size_t inlen, size_t *outlen)
{
	EVP_ENCODE_CTX	*ctx = NULL;
	char		*clean = NULL;
	unsigned char	*out = NULL, *ret = NULL;
	size_t		 i, n = 0;
	int		 l1 = 0, l2 = 0;

	if (inlen > MAX_QUERY)
		goto out;
	if ((clean = malloc(inlen + 4)) == NULL)
		goto out;
	for (i = 0; i < inlen; i++) {
		char c = in[i];

		switch (c) {
		case '\r': case '\n': case '\t':
			continue;		/* sscep and Cisco break lines (%0A) */
		case ' ':
			c = '+';		/* a proxy form-decoded a '+' */
			break;
		case '-':
			c = '+';		/* base64url: scepclient 2.1.0 GET */
			break;
		case '_':
			c = '/';
			break;
		default:
			break;
		}
		if (!(isalnum((unsigned char)c) || c == '+' || c == '/' || c == '='))
			goto out;
		clean[n++] = c;
	}
	/* Strip padding, then pad to a multiple of four (base64url senders drop it). */
	while (n > 0 && clean[n - 1] == '=')
		n--;
	if (n % 4 == 1 || n == 0)
		goto out;
	while (n % 4 != 0)
		clean[n++] = '=';
	if ((out = malloc(n / 4 * 3 + 3)) == NULL)
		goto out;
	if ((ctx = EVP_ENCODE_CTX_new()) == NULL)
		goto out;
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, out, &l1, (unsigned char *)clean, (int)n) < 0)
		goto out;
	if (EVP_DecodeFinal(ctx, out + l1, &l2) < 0)
		goto out;
	*outlen = (size_t)(l1 + l2);
	ret = out;
	out = NULL;
out:
	EVP_ENCODE_CTX_free(ctx);
	free(clean);
	free(out);
	return ret;
}

void
resp_clear(struct http_resp *r)
{
	if (!r->body_static)
		free(r->body);
	memset(r, 0, sizeof(*r));
}

void
resp_text(struct http_resp *r, int status, const char *text)
{
	size_t n = strlen(text);

	resp_clear(r);
	r->status = status;
	r->ctype = "text/plain";
	if ((r->body = malloc(n + 1)) != NULL) {
		memcpy(r->body, text, n + 1);
		r->len = n;
	}
}

void
resp_bytes(struct http_resp *r, int status, const char *ctype, unsigned char *body,
    size_t len)
{
	resp_clear(r);
	r->status = status;
	r->ctype = ctype;
	r->body = body;
	r->len = len;
}

static const char *
status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/* The CGI/FastCGI response head: Status, exact Content-Type, Content-Length. */
static int
format_head(char *buf, size_t buflen, const struct http_resp *r)
{
	int n;

	n = snprintf(buf, buflen, "Status: %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\n%s%s%s\r\n",
	    r->status, status_text(r->status), r->ctype ? r->ctype : "text/plain",
	    r->len, r->extra_header ? r->extra_header : "",
	    r->extra_header ? "\r\n" : "", "");
	return n > 0 && (size_t)n < buflen ? n : -1;
}

/* Read at most MAX_BODY bytes of body from a reader; flag larger bodies. */
typedef long (*read_fn)(void *ctx, unsigned char *buf, size_t len);

static int
read_body(struct http_req *req, const char *clen, read_fn rd, void *ctx)
{
	unsigned char	*buf = NULL;
	size_t		 want, got = 0;
	char		*end;
	unsigned long	 v;

	if (clen == NULL || *clen == '\0')
		return 1;
	/* Digits only: strtoul() would take "-1", " 5" and "+5" (and negate modulo 2^64). */
	if (strspn(clen, "0123456789") != strlen(clen))
		return 0;
	errno = 0;
	v = strtoul(clen, &end, 10);
	if (errno || *end != '\0')
		return 0;
	if (v > MAX_BODY) {
		req->body_too_large = 1;
		return 1;
	}
	want = v;
	if (want == 0)
		return 1;
	if ((buf = malloc(want)) == NULL)
		return 0;
	while (got < want) {
		long n = rd(ctx, buf + got, want - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	req->body = buf;
	req->body_len = got;
	return 1;
}

static long
fcgi_read(void *ctx, unsigned char *buf, size_t len)
{
	return FCGX_GetStr((char *)buf, (int)(len > 65536 ? 65536 : len), ctx);
}

static long
stdin_read(void *ctx, unsigned char *buf, size_t len)
{
	ssize_t n;

	(void)ctx;
	do
		n = read(STDIN_FILENO, buf, len);
	while (n < 0 && errno == EINTR);
	return (long)n;
}

static int
write_all_fd(int fd, const void *p, size_t len)
{
	const unsigned char *b = p;

	while (len > 0) {
		ssize_t n = write(fd, b, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		b += n;
		len -= (size_t)n;
	}
	return 1;
}

/*
 * One request, CGI or FastCGI alike: METHOD, QUERY, REMOTE and CLEN are its CGI variables
 * (NULL if unset), RD reads its body from CTX. The answer is left in R.
 */
static void
serve_one(const char *method, const char *query, const char *remote, const char *clen,
    read_fn rd, void *ctx, http_handler h, void *arg, struct http_resp *r)
{
	struct http_req	 req;

	memset(&req, 0, sizeof(req));
	memset(r, 0, sizeof(*r));
	req.method = method != NULL ? method : "GET";
	req.query = query != NULL ? query : "";
	req.remote_addr = remote;
	if (strlen(req.query) > MAX_QUERY)
		resp_text(r, 414, "request too long\n");
	else if (!read_body(&req, clen, rd, ctx))
		resp_text(r, 400, "bad Content-Length\n");
	else {
		log_set_client(req.remote_addr);
		h(&req, r, arg);
		if (r->status == 0)
			resp_text(r, 500, "internal error\n");
	}
	free(req.body);
}

/*
 * FastCGI worker signals. SIGTERM and SIGINT end the loop after the request in hand;
 * SIGHUP runs the hook set with http_on_hup() (default: nothing). All three are blocked
 * while a request is read, handled and answered, and delivered only while the worker
 * waits for the next one, so a signal never interrupts a request half-way.
 */
static volatile sig_atomic_t	 serve_stop;
static void			(*serve_hup)(void);

static void
on_stop(int sig)
{
	(void)sig;
	serve_stop = 1;
}

static void
on_hup(int sig)
{
	(void)sig;
	if (serve_hup != NULL)
		serve_hup();
}

void
http_on_hup(void (*fn)(void))
{
	serve_hup = fn;
}

/*
 * Install the handlers (without SA_RESTART, so that they end the wait), block the three
 * signals and fill *waitmask with the mask to wait under. 1 ok, 0 error.
 */
static int
serve_signals(sigset_t *waitmask)
{
	struct sigaction sa;
	sigset_t	 block;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	if (sigaction(SIGTERM, &sa, NULL) == -1 || sigaction(SIGINT, &sa, NULL) == -1)
		return 0;
	sa.sa_handler = on_hup;
	if (sigaction(SIGHUP, &sa, NULL) == -1)
		return 0;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &block, waitmask) == -1)
		return 0;
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGINT);
	sigdelset(waitmask, SIGHUP);
	return 1;
}

/*
 * Wait until FD is readable (a connection to accept, or the next request on a kept
 * connection) with the signals unblocked. 1 readable, 0 stop or error.
 */
static int
serve_wait(int fd, const sigset_t *waitmask)
{
	struct pollfd	 pfd;

	for (;;) {
		if (serve_stop)
			return 0;
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (ppoll(&pfd, 1, NULL, waitmask) > 0)
			return 1;
		if (errno != EINTR)
			return 0;
	}
}

/*
 * Serve. CGI: one request from the environment. FastCGI: until SIGTERM or SIGINT. The
 * listening socket is made non-blocking: the workers sharing it all wake up for a
 * connection, one accepts it, the others go back to waiting.
 */
int
http_serve(http_handler h, void *arg)
{
	struct http_resp r;
	FCGX_Request	 fr;
	sigset_t	 waitmask;
	char		 head[512];
	int		 n, fl, rc;

	if (FCGX_IsCGI()) {
		serve_one(getenv("REQUEST_METHOD"), getenv("QUERY_STRING"),
		    getenv("REMOTE_ADDR"), getenv("CONTENT_LENGTH"), stdin_read, NULL, h, arg,
		    &r);
		if ((n = format_head(head, sizeof(head), &r)) > 0) {
			write_all_fd(STDOUT_FILENO, head, (size_t)n);
			if (r.len)
				write_all_fd(STDOUT_FILENO, r.body, r.len);
		}
		resp_clear(&r);
		return 0;
	}

	if (FCGX_Init() != 0 || !serve_signals(&waitmask))
		return 1;
	if ((fl = fcntl(FCGI_LISTENSOCK_FILENO, F_GETFL)) == -1 ||
	    fcntl(FCGI_LISTENSOCK_FILENO, F_SETFL, fl | O_NONBLOCK) == -1)
		return 1;
	if (FCGX_InitRequest(&fr, FCGI_LISTENSOCK_FILENO, 0) != 0)
		return 1;
	for (;;) {
		/* A kept connection (FCGI_KEEP_CONN) carries the next request itself. */
		if (!serve_wait(fr.ipcFd >= 0 ? fr.ipcFd : FCGI_LISTENSOCK_FILENO, &waitmask))
			break;
		if ((rc = FCGX_Accept_r(&fr)) < 0) {
			if (rc == -EAGAIN || rc == -EWOULDBLOCK || rc == -EINTR)
				continue;	/* another worker took the connection */
			break;
		}
		serve_one(FCGX_GetParam("REQUEST_METHOD", fr.envp),
		    FCGX_GetParam("QUERY_STRING", fr.envp), FCGX_GetParam("REMOTE_ADDR", fr.envp),
		    FCGX_GetParam("CONTENT_LENGTH", fr.envp), fcgi_read, fr.in, h, arg, &r);
		if ((n = format_head(head, sizeof(head), &r)) > 0) {
			FCGX_PutStr(head, n, fr.out);
			if (r.len)
				FCGX_PutStr((const char *)r.body, (int)r.len, fr.out);
		}
		resp_clear(&r);
		FCGX_Finish_r(&fr);
		log_set_client(NULL);
	}
	FCGX_Free(&fr, 1);
	return serve_stop ? 0 : 1;
}
