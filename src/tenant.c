/*
 * tenant: one worker, one configuration (tenant.h). A FastCGI worker loads its
 * configuration, CA and repository once; the SCEP_CONF a web server location passes with
 * each request can only be checked against that, never obeyed: several CAs behind one web
 * server are several worker pools, one per configuration (scep@NAME). Under plain CGI the
 * program is started with the request's own environment, so the two always agree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "scep.h"
#include "config.h"
#include "proxy.h"
#include "server.h"
#include "tenant.h"

#define LOG_CONF_MAX	(4 * 256 + 1)	/* escaped SCEP_CONF in a log line */

struct tenant {
	struct server	*s;
	char		*conf;		/* the path it was started with */
	struct stat	 st;		/* of conf, when have_st */
	int		 have_st;
};

void
tenant_name(const char *confpath, char *buf, size_t len)
{
	const char	*b;
	size_t		 n;

	b = strrchr(confpath, '/');
	b = b != NULL ? b + 1 : confpath;
	n = strlen(b);
	if (n > 5 && strcmp(b + n - 5, ".conf") == 0)
		n -= 5;
	if (n >= len)
		n = len - 1;
	memcpy(buf, b, n);
	buf[n] = '\0';
}

struct tenant *
tenant_new(const char *confpath)
{
	struct tenant	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if ((t->conf = strdup(confpath)) == NULL) {
		free(t);
		return NULL;
	}
	t->have_st = stat(confpath, &t->st) == 0;
	t->s = server_new(confpath);
	return t;
}

void
tenant_free(struct tenant *t)
{
	if (t == NULL)
		return;
	server_free(t->s);
	free(t->conf);
	free(t);
}

const char *
tenant_error(const struct tenant *t)
{
	return t->s == NULL ? "out of memory" : server_error(t->s);
}

/* 1 if PATH is the tenant's configuration file (same name, or the same file). */
static int
same_conf(const struct tenant *t, const char *path)
{
	struct stat	st;

	if (strcmp(path, t->conf) == 0)
		return 1;
	return t->have_st && stat(path, &st) == 0 && st.st_dev == t->st.st_dev &&
	    st.st_ino == t->st.st_ino;
}

void
tenant_handle(const struct http_req *req, struct http_resp *r, void *arg)
{
	struct tenant		*t = arg;
	const struct config	*cfg = server_config(t->s);
	struct http_req		 in = *req;
	char			 client[4 * MAX_ADDR_TEXT + 1], esc[LOG_CONF_MAX];
	char			*op;
	size_t			 oplen;
	int			 bad = 0;

	proxy_client(cfg != NULL ? &cfg->trusted_proxies : NULL, req->remote_addr,
	    req->forwarded_for, client, sizeof(client));
	log_req_begin(client);
	if ((op = query_param(req->query, "operation", &oplen, &bad)) != NULL && !bad &&
	    strlen(op) == oplen)
		log_req_op(op);
	free(op);

	if (req->conf != NULL && req->conf[0] != '\0' && !same_conf(t, req->conf)) {
		log_escape(esc, sizeof(esc), req->conf, strlen(req->conf));
		logx(LOG_LVL_ERR, "refused: the web server passed SCEP_CONF %s, this worker "
		    "serves %s; give each configuration its own worker pool and socket",
		    esc, t->conf);
		log_req_outcome("wrong-configuration");
		resp_text(r, 500, "SCEP service misconfigured; see the server log\n");
	} else {
		if (req->remote_addr != NULL)
			in.remote_addr = client;
		server_handle(&in, r, t->s);
	}
	log_req_end(r->status != 0 ? r->status : 500);
}
