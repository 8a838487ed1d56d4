/*
 * tenant: the one configuration, hence the one CA, that a worker serves, and the gate in
 * front of server_handle() that keeps every request to it.
 */
#ifndef TENANT_H
#define TENANT_H

#include <stddef.h>

#include "http.h"

#define MAX_TENANT_NAME	64	/* bytes of a tenant name in the log */

struct tenant;

/*
 * The tenant of the configuration at CONFPATH: its server (server_new(), which may have
 * failed: server_ok()) and the identity of the file. NULL only when out of memory.
 */
struct tenant	*tenant_new(const char *confpath);
void		 tenant_free(struct tenant *);
/* Why it cannot serve ("" when it can). */
const char	*tenant_error(const struct tenant *);

/*
 * The tenant's name, for the log: the configuration's file name without a final ".conf"
 * (/etc/scep/tenant-a.conf is "tenant-a", the default /etc/scep/scep.conf is "scep").
 */
void		 tenant_name(const char *confpath, char *buf, size_t len);

/*
 * An http_handler. A request whose SCEP_CONF (set by the web server location) names
 * another file than the tenant's is refused with HTTP 500 and one log line: it never
 * reaches this CA. Otherwise the client address is resolved (ScepTrustedProxies,
 * proxy.h) and the request is served. Either way one "request" line is logged.
 */
void		 tenant_handle(const struct http_req *, struct http_resp *, void *tenant);

#endif
