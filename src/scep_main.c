/*
 * scep: the SCEP responder. Started by a FastCGI process manager (a listening socket on
 * stdin) it serves requests until SIGTERM; started as a plain CGI it answers the one
 * request in its environment and exits; with --workers N it supervises N such FastCGI
 * workers on one socket (pool.c). Configuration: -c FILE, else $SCEP_CONF, else
 * /etc/scep/scep.conf. Logs go to stderr, or to the file given with --log.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "scep.h"
#include "config.h"
#include "http.h"
#include "pool.h"
#include "server.h"

#ifndef SCEP_VERSION
#define SCEP_VERSION	"unknown"
#endif

#define EXIT_USAGE	2

static const char	*conf_path;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: scep [-c FILE] [--log FILE]\n"
	    "       scep [-c FILE] [--log FILE] --workers N [--socket PATH|HOST:PORT]"
	    " [--socket-mode MODE]\n"
	    "       scep --version | --help\n"
	    "\n"
	    "Without --workers: one FastCGI worker (a listening socket on stdin) or, run as\n"
	    "a CGI program, one request. With --workers: a supervisor that keeps N FastCGI\n"
	    "workers on one socket, replaces any that dies, passes SIGHUP on (reopen the log)\n"
	    "and stops them gracefully on SIGTERM.\n"
	    "\n"
	    "  -c, --config FILE       configuration (default $SCEP_CONF, else %s)\n"
	    "  -l, --log FILE          append the log to FILE instead of stderr; reopened on SIGHUP\n"
	    "  -w, --workers N         supervise N workers (1..%d)\n"
	    "  -s, --socket SPEC       listen on a unix socket PATH or on HOST:PORT; default: the\n"
	    "                          socket from systemd socket activation, else stdin\n"
	    "  -m, --socket-mode MODE  mode of the unix socket, octal (default 0660)\n"
	    "  -V, --version           print the version and exit\n"
	    "  -h, --help              print this help and exit\n",
	    DEFAULT_CONF_PATH, POOL_MAX_WORKERS);
}

/* One FastCGI worker, or one CGI request. */
static int
serve(void *unused)
{
	struct server	*s;
	int		 rc;

	(void)unused;
	http_on_hup(pool_reopen_log);
	/* Configuration, CA key and repository are loaded once per worker, not per request. */
	s = server_new(conf_path);
	rc = http_serve(server_handle, s);
	server_free(s);
	return rc;
}

/*
 * The configuration, CA and repository load: checked once before any worker starts, in a
 * child process, so that the supervisor never opens the CA keys: a key in a token would
 * leave the PKCS#11 module initialised in the process that forks the workers. Each worker
 * opens its own (serve()). The reason is logged here, once.
 */
static int
serve_check(void)
{
	struct server	*s;
	pid_t		 pid;
	int		 st, ok;

	fflush(NULL);
	if ((pid = fork()) == -1) {
		logx(LOG_LVL_ERR, "pool: cannot check the configuration: fork: %s",
		    strerror(errno));
		return 0;
	}
	if (pid == 0) {
		s = server_new(conf_path);
		if (!(ok = server_ok(s)))
			logx(LOG_LVL_ERR, "pool: not starting: %s cannot be served: %s",
			    conf_path, server_error(s));
		server_free(s);
		exit(ok ? 0 : 1);
	}
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR) {
			logx(LOG_LVL_ERR, "pool: cannot check the configuration: waitpid: %s",
			    strerror(errno));
			return 0;
		}
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config",	 required_argument, NULL, 'c' },
		{ "log",	 required_argument, NULL, 'l' },
		{ "workers",	 required_argument, NULL, 'w' },
		{ "socket",	 required_argument, NULL, 's' },
		{ "socket-mode", required_argument, NULL, 'm' },
		{ "version",	 no_argument,	    NULL, 'V' },
		{ "help",	 no_argument,	    NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct pool_opts o = { .workers = 0, .socket = NULL, .socket_mode = 0660 };
	const char	*logfile = NULL, *mode = NULL;
	char		 err[512], *end;
	unsigned long	 m;
	int		 c, lfd, made;

	log_init(argv[0], 0, LOG_LVL_INFO);
	signal(SIGPIPE, SIG_IGN);
	/* Until http_serve() handles it: a SIGHUP (log rotation) never kills a worker. */
	signal(SIGHUP, SIG_IGN);
	conf_path = config_path(NULL);
	/*
	 * A web server passes the words of a CGI query without '=' as arguments (RFC 3875
	 * §4.4): a request must never be read as options.
	 */
	if (argc < 2 || getenv("GATEWAY_INTERFACE") != NULL)
		return serve(NULL);

	while ((c = getopt_long(argc, argv, "c:l:w:s:m:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf_path = optarg;
			break;
		case 'l':
			logfile = optarg;
			break;
		case 'w':
			if (!parse_decimal(optarg, 1, POOL_MAX_WORKERS, &o.workers)) {
				fprintf(stderr, "scep: --workers: a number from 1 to %d\n",
				    POOL_MAX_WORKERS);
				return EXIT_USAGE;
			}
			break;
		case 's':
			o.socket = optarg;
			break;
		case 'm':
			mode = optarg;
			break;
		case 'V':
			printf("scep %s\n", SCEP_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "scep: unexpected argument %s\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (mode != NULL) {
		m = strtoul(mode, &end, 8);
		if (*mode == '\0' || *end != '\0' || m > 0777) {
			fprintf(stderr, "scep: --socket-mode: an octal mode such as 0660\n");
			return EXIT_USAGE;
		}
		o.socket_mode = (mode_t)m;
	}
	if (o.workers == 0 && (o.socket != NULL || mode != NULL)) {
		fprintf(stderr, "scep: --socket and --socket-mode need --workers\n");
		return EXIT_USAGE;
	}
	if (logfile != NULL && !pool_log_open(logfile, err, sizeof(err))) {
		fprintf(stderr, "scep: %s\n", err);
		return 1;
	}
	if (o.workers == 0)
		return serve(NULL);

	if (!serve_check())
		return 1;
	if (!pool_listen(&o, &lfd, &made, err, sizeof(err))) {
		logx(LOG_LVL_ERR, "pool: not starting: %s", err);
		return 1;
	}
	return pool_run(&o, lfd, made, serve, NULL);
}
