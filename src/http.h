/*
 * http: the transport. One request in (CGI environment or FastCGI params, body with a cap),
 * one response out with an exact Content-Type and a Content-Length. Knows nothing of CMS.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

struct http_req {
	const char	*method;	/* "GET", "POST", ... */
	const char	*query;		/* raw QUERY_STRING, never form-decoded ("" if none) */
	const char	*remote_addr;
	const char	*forwarded_for;	/* X-Forwarded-For header, or NULL */
	const char	*conf;		/* SCEP_CONF passed with the request, or NULL */
	unsigned char	*body;		/* POST body (NULL if none) */
	size_t		 body_len;
	int		 body_too_large;
};

struct http_resp {
	int		 status;	/* 200, 400, ... */
	const char	*ctype;		/* exact, no parameters */
	unsigned char	*body;		/* owned (free()) unless body_static */
	size_t		 len;
	int		 body_static;
	const char	*extra_header;	/* optional "Name: value" */
};

/*
 * Value of KEY in a raw query string, percent-decoded only (a '+' stays '+').
 * First match, key compared case-insensitively. Returns malloc'd bytes (NUL-terminated,
 * length in *len) or NULL if the key is absent or the query is malformed (*bad set).
 */
char	*query_param(const char *query, const char *key, size_t *len, int *bad);

/*
 * Decode a GET PKIOperation message value (already percent-decoded): drop CR/LF/TAB,
 * space -> '+', base64url -> base64, pad, decode. Every variant of scep-notes §2.4.
 * Returns malloc'd bytes or NULL.
 */
unsigned char *scep_b64_decode(const char *in, size_t inlen, size_t *outlen);

/* Set a response; text helpers copy the string. */
void	 resp_text(struct http_resp *, int status, const char *text);
void	 resp_bytes(struct http_resp *, int status, const char *ctype,
	    unsigned char *body, size_t len);		/* takes ownership (OPENSSL_free-compatible? no: free()) */
void	 resp_clear(struct http_resp *);

/*
 * Serve: in CGI mode answer one request; in FastCGI mode (a listening socket on stdin)
 * loop until SIGTERM or SIGINT, which end the loop after the request in hand. handler is
 * called once per request. Returns 0 after a clean stop, 1 on error.
 */
typedef void (*http_handler)(const struct http_req *, struct http_resp *, void *arg);
int	 http_serve(http_handler, void *arg);
/* 1 when started as a CGI program (one request), 0 as a FastCGI worker. */
int	 http_is_cgi(void);

/*
 * FastCGI mode: call FN on SIGHUP, between requests, from the signal handler (so FN must
 * be async-signal-safe). Without it SIGHUP is ignored (it never kills a worker).
 */
void	 http_on_hup(void (*fn)(void));

#endif
