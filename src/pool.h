/*
 * pool: a supervised pool of FastCGI workers on one listening socket. The supervising
 * process holds the socket, starts the workers, starts a new one whenever one dies,
 * forwards SIGHUP (reopen the log) and stops them gracefully on SIGTERM or SIGINT.
 */
#ifndef POOL_H
#define POOL_H

#include <stddef.h>
#include <sys/types.h>

#define POOL_MAX_WORKERS	256
#define POOL_GRACE_SECONDS	30	/* a stopping worker's time to finish its request */

struct pool_opts {
	int		 workers;	/* 1..POOL_MAX_WORKERS */
	const char	*socket;	/* unix socket path or HOST:PORT; NULL: inherited */
	mode_t		 socket_mode;	/* of a unix socket made here */
};

/*
 * *FD = the listening socket: made from o->socket, else the one systemd passed
 * (LISTEN_PID/LISTEN_FDS, fd 3), else stdin if it is a listening socket. *MADE is set
 * when a unix socket file was created here (pool_run() removes it when it stops).
 * 1 ok, 0 error (reason in ERR).
 */
int	 pool_listen(const struct pool_opts *o, int *fd, int *made, char *err,
	    size_t errlen);

/*
 * Run the pool on listening socket LFD until SIGTERM or SIGINT. Each worker runs
 * worker(arg) with LFD as its stdin and exits with what it returns. Returns the exit
 * status of the supervisor: 0 after a clean stop, 1 if no worker could be started.
 */
int	 pool_run(const struct pool_opts *o, int lfd, int made,
	    int (*worker)(void *), void *arg);

/*
 * Append stderr (the log of the supervisor and of every worker started afterwards) to
 * PATH. pool_reopen_log() opens it again: async-signal-safe, for a SIGHUP handler.
 * 1 ok, 0 error (reason in ERR).
 */
int	 pool_log_open(const char *path, char *err, size_t errlen);
void	 pool_reopen_log(void);

#endif
