/*
 * Running an administrator's program (ScepNotifyCommand, ScepChallengeCommand): never
 * through a shell. The command line is split at blanks into argv (config.c has already
 * refused quotes and backslashes); the program gets a fresh environment (a fixed PATH and
 * the SCEP_* facts given, nothing of the caller's, in particular no client-supplied
 * CGI variable), /dev/null on standard input, the caller's standard error on standard
 * output and standard error (never the HTTP response), no other descriptor, and its own
 * process group, killed whole with SIGKILL when the time limit passes.
 */
#ifndef COMMAND_H
#define COMMAND_H

#include <stddef.h>

#define COMMAND_MAX_ENV		24	/* SCEP_* variables passed */
#define COMMAND_PATH		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The facts handed to a program: up to COMMAND_MAX_ENV "NAME=value" strings. */
struct command_env {
	char	*v[COMMAND_MAX_ENV + 2];	/* PATH, the variables, NULL */
	size_t	 n;
};

void	command_env_init(struct command_env *);
/*
 * Add NAME=VALUE (VALUE NULL: nothing added), VALUE escaped as log_escape() does (no
 * control characters reach the program). 1 ok, 0 full or no memory.
 */
int	command_env_add(struct command_env *, const char *name, const char *value);
void	command_env_free(struct command_env *);

/*
 * Run LINE with ENV and wait at most TIMEOUT seconds. 1 when it ran: *STATUS is its exit
 * status, or -1 if it was killed (by the time limit or a signal), and *MS how long it took
 * in milliseconds; 0 if it could not be started (ERR says why).
 */
int	command_run(const char *line, const struct command_env *, int timeout, int *status,
	    long *ms, char *err, size_t errlen);

/*
 * Run LINE with ENV in the background and return at once: a detached process (not a
 * child of the caller, which has nothing to reap) runs it with the time limit and logs
 * one line (logx) if it could not start, exited non-zero or was killed; WHAT names the
 * run in that line. 1 started, 0 not (ERR says why).
 */
int	command_spawn(const char *line, const struct command_env *, int timeout,
	    const char *what, char *err, size_t errlen);

#endif
