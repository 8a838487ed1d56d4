/*
 * server: one SCEP request in, one HTTP response out. Holds what a FastCGI worker loads
 * once (configuration, CA key, repository handle) and dispatches the operations.
 */
#ifndef SERVER_H
#define SERVER_H

#include "http.h"

struct server;

/*
 * Load the configuration at CONFPATH, the CA (its keys opened once, for the life of the
 * server) and the repository. Never NULL unless out of memory: a server that failed to
 * start answers every request with HTTP 500 and one log line saying why, so that a broken
 * policy is never half-applied. It logs nothing itself: server_error() says why.
 */
struct server	*server_new(const char *confpath);
void		 server_free(struct server *);
int		 server_ok(const struct server *);
/* Why the server cannot serve ("" when it can). */
const char	*server_error(const struct server *);
void		 server_handle(const struct http_req *, struct http_resp *, void *server);

/* The GetCACaps body (RFC 8894 §3.5.2), exact spelling, CRLF separated. */
const char	*server_caps(const struct server *);

#endif
