/*
 * scep: the SCEP responder. One program for FastCGI (when started by a process manager
 * with a listening socket on stdin it serves requests until stopped) and plain CGI (it
 * answers the one request in its environment and exits). Configuration: $SCEP_CONF, else
 * /etc/scep/scep.conf. Logs go to stderr, which both web servers put in their error log.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "scep.h"
#include "config.h"
#include "http.h"
#include "server.h"

int
main(int argc, char *argv[])
{
	struct server	*s;
	int		 rc;

	(void)argc;
	log_init(argv[0], 0, LOG_LVL_INFO);
	signal(SIGPIPE, SIG_IGN);
	/* Configuration, CA key and repository are loaded once per worker, not per request. */
	s = server_new(config_path(NULL));
	rc = http_serve(server_handle, s);
	server_free(s);
	return rc;
}
