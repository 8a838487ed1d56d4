/*
 * Running an administrator's program with argv, a fresh environment and a time limit
 * (command.h).
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "config.h"
#include "fileio.h"
#include "scep.h"

#define COMMAND_POLL_MS	10	/* how often a running program is looked at */

void
command_env_init(struct command_env *e)
{
	memset(e, 0, sizeof(*e));
	e->v[e->n++] = strdup(COMMAND_PATH);
}

int
command_env_add(struct command_env *e, const char *name, const char *value)
{
	char	*s, *esc;
	size_t	 len;
	int	 rc;

	if (value == NULL)
		return 1;
	if (e->n >= COMMAND_MAX_ENV + 1)
		return 0;
	len = strlen(value) * 4 + 1;
	if ((esc = malloc(len)) == NULL)
		return 0;
	log_escape(esc, len, value, strlen(value));
	rc = asprintf(&s, "%s=%s", name, esc);
	free(esc);
	if (rc == -1)
		return 0;
	e->v[e->n++] = s;
	return 1;
}

void
command_env_free(struct command_env *e)
{
	size_t	i;

	for (i = 0; i < e->n; i++)
		free(e->v[i]);
	memset(e, 0, sizeof(*e));
}

static long long
mono_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child: the descriptors and signals the program starts with, then execve(2). */
static void
child_exec(char **argv, const struct command_env *e, int report)
{
	sigset_t	none;
	int		fd, sig, saved;

	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	if ((fd = open("/dev/null", O_RDONLY)) != -1 && fd != STDIN_FILENO) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	dup2(STDERR_FILENO, STDOUT_FILENO);
	/* Everything else goes, but the exec-failure pipe (close-on-exec). */
	for (fd = 3; fd < 1024; fd++)
		if (fd != report)
			close(fd);
	execve(argv[0], argv, (char *const *)e->v);
	saved = errno;
	(void)!write(report, &saved, sizeof(saved));
	_exit(127);
}

int
command_run(const char *line, const struct command_env *e, int timeout, int *status,
    long *ms, char *err, size_t errlen)
{
	char		 buf[MAX_COMMAND + 1], *argv[MAX_COMMAND_ARGS + 1], *w, *save = NULL;
	long long	 start = mono_ms();
	struct timespec	 nap = { 0, COMMAND_POLL_MS * 1000000L };
	size_t		 n = 0;
	ssize_t		 got;
	pid_t		 pid, r;
	int		 pfd[2], st = 0, child_errno = 0, killed = 0;

	if (strlen(line) > MAX_COMMAND)
		return errf(err, errlen, "command too long");
	memcpy(buf, line, strlen(line) + 1);
	for (w = strtok_r(buf, " \t", &save); w != NULL && n < MAX_COMMAND_ARGS;
	    w = strtok_r(NULL, " \t", &save))
		argv[n++] = w;
	argv[n] = NULL;
	if (n == 0 || argv[0][0] != '/')
		return errf(err, errlen, "%s: not an absolute program path", line);
	if (pipe2(pfd, O_CLOEXEC) == -1)
		return errf_sys(err, errlen, "%s: pipe", argv[0]);
	if ((pid = fork()) == -1) {
		close(pfd[0]);
		close(pfd[1]);
		return errf_sys(err, errlen, "%s: fork", argv[0]);
	}
	if (pid == 0)
		child_exec(argv, e, pfd[1]);
	close(pfd[1]);
	setpgid(pid, pid);	/* as the child does: whichever runs first */
	got = read(pfd[0], &child_errno, sizeof(child_errno));
	close(pfd[0]);
	if (got == (ssize_t)sizeof(child_errno)) {
		waitpid(pid, NULL, 0);
		errno = child_errno;
		return errf_sys(err, errlen, "%s: cannot run", argv[0]);
	}
	for (;;) {
		r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		if (r == -1 && errno != EINTR)
			return errf_sys(err, errlen, "%s: waitpid", argv[0]);
		if (mono_ms() - start >= (long long)timeout * 1000) {
			/* The program and what it started in its group. */
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
				;
			killed = 1;
			break;
		}
		nanosleep(&nap, NULL);
	}
	*status = !killed && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	*ms = (long)(mono_ms() - start);
	return 1;
}

int
command_spawn(const char *line, const struct command_env *e, int timeout, const char *what,
    char *err, size_t errlen)
{
	char	 why[512];
	long	 ms;
	pid_t	 pid, sup;
	int	 st, status, fd;

	if ((pid = fork()) == -1)
		return errf_sys(err, errlen, "%s: fork", what);
	if (pid == 0) {
		/*
		 * The intermediate child: start the supervisor and leave at once, so that the
		 * supervisor belongs to init and the caller reaps only this one.
		 */
		if ((sup = fork()) != 0)
			_exit(sup == -1 ? 1 : 0);
		/* The supervisor holds nothing of the request: not the response, not the
		 * listening socket. */
		setsid();
		if ((fd = open("/dev/null", O_RDWR)) != -1) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
			if (fd > STDERR_FILENO)
				close(fd);
		}
		for (fd = 3; fd < 1024; fd++)
			close(fd);
		if (!command_run(line, e, timeout, &status, &ms, why, sizeof(why)))
			logx(LOG_LVL_ERR, "%s: %s", what, why);
		else if (status == -1)
			logx(LOG_LVL_ERR, "%s: killed after %ld ms (limit %d s)", what, ms,
			    timeout);
		else if (status != 0)
			logx(LOG_LVL_ERR, "%s: exit status %d", what, status);
		_exit(0);
	}
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return errf_sys(err, errlen, "%s: waitpid", what);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return errf(err, errlen, "%s: cannot start the supervisor", what);
	return 1;
}
