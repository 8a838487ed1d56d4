/*
 * pool: the supervised FastCGI worker pool of `scep --workers N`. The supervisor does no
 * SCEP work: it holds the listening socket, forks the workers (each serves requests on
 * the socket as its stdin, see http_serve()), waits for signals synchronously and
 *   - starts a new worker whenever one dies (after a growing delay when workers fail
 *     by themselves right after they start, so that a broken setup does not fork in a
 *     loop; a worker killed from outside is replaced at once);
 *   - on SIGHUP reopens its log and passes the signal on: a worker reopens its log
 *     between requests and goes on;
 *   - on SIGTERM or SIGINT passes SIGTERM on, waits up to POOL_GRACE_SECONDS for the
 *     workers to finish the request in hand, kills what is left, removes the socket
 *     file it made and exits 0.
 * Workers get SIGTERM too if the supervisor itself dies.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "scep.h"
#include "pool.h"

#define LISTEN_FDS_START	3	/* sd_listen_fds(3): the first passed descriptor */
#define FAST_DEATH_MS		2000	/* a worker that fails sooner makes the next start wait */
#define MAX_BACKOFF_MS		30000

struct slot {
	pid_t		 pid;		/* 0: empty */
	long long	 started;	/* ms, monotonic */
	long long	 start_at;	/* empty slot: when to start its next worker */
};

static char	log_path[MAX_PATH_LEN];

static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
pool_log_open(const char *path, char *err, size_t errlen)
{
	int	fd;

	if (path[0] != '/' || strlen(path) >= sizeof(log_path))
		return errf(err, errlen, "log file %s: not an absolute path", path);
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) == -1)
		return errf_sys(err, errlen, "log file %s", path);
	if (fd != STDERR_FILENO) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	snprintf(log_path, sizeof(log_path), "%s", path);
	return 1;
}

void
pool_reopen_log(void)
{
	int	fd, saved = errno;

	if (log_path[0] != '\0' &&
	    (fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) != -1) {
		if (fd != STDERR_FILENO) {
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
	}
	errno = saved;
}

static int
is_listening(int fd)
{
	int		v = 0;
	socklen_t	len = sizeof(v);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v != 0;
}

/*
 * *FDP = a unix socket at PATH with MODE; a stale socket file is replaced, a live one is
 * not. 1 ok, 0 error.
 */
static int
listen_unix(const char *path, mode_t mode, int *fdp, int *made, char *err, size_t errlen)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	mode_t			 um;
	int			 fd, c, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return errf(err, errlen, "socket %s: path too long", path);
	memcpy(sun.sun_path, path, strlen(path));
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return errf(err, errlen, "%s exists and is not a socket", path);
		if ((c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
			return errf_sys(err, errlen, "socket");
		rc = connect(c, (struct sockaddr *)&sun, sizeof(sun));
		close(c);
		if (rc == 0)
			return errf(err, errlen, "socket %s is in use by another server",
			    path);
		if (unlink(path) == -1)
			return errf_sys(err, errlen, "remove stale socket %s", path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return errf_sys(err, errlen, "socket");
	um = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(um);
	if (rc == -1) {
		errf_sys(err, errlen, "bind %s", path);
		close(fd);
		return 0;
	}
	if (chmod(path, mode) == -1 || listen(fd, SOMAXCONN) == -1) {
		errf_sys(err, errlen, "socket %s", path);
		close(fd);
		unlink(path);
		return 0;
	}
	*fdp = fd;
	*made = 1;
	return 1;
}

/* *FDP = a TCP socket on HOST:PORT or [V6ADDR]:PORT. 1 ok, 0 error. */
static int
listen_inet(const char *spec, int *fdp, char *err, size_t errlen)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	char		 host[256];
	const char	*colon, *port, *h = host;
	size_t		 hl;
	int		 fd = -1, one = 1, gai;

	if ((colon = strrchr(spec, ':')) == NULL || colon == spec || colon[1] == '\0')
		return errf(err, errlen, "socket %s: neither a path nor HOST:PORT", spec);
	port = colon + 1;
	if ((hl = (size_t)(colon - spec)) >= sizeof(host))
		return errf(err, errlen, "socket %s: host too long", spec);
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		h = host + 1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((gai = getaddrinfo(h, port, &hints, &res)) != 0)
		return errf(err, errlen, "socket %s: %s", spec, gai_strerror(gai));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			continue;
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0)
			break;
		errf_sys(err, errlen, "socket %s", spec);
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		return 0;
	*fdp = fd;
	return 1;
}

/*
 * *FDP = the socket systemd passed (exactly one), or stdin if it is a listening socket.
 * 1 ok, 0 none.
 */
static int
listen_inherited(int *fdp, char *err, size_t errlen)
{
	const char	*pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char		 self[32];
	int		 n;

	snprintf(self, sizeof(self), "%ld", (long)getpid());
	if (pid != NULL && fds != NULL && strcmp(pid, self) == 0) {
		if (!parse_decimal(fds, 0, INT_MAX, &n) || n != 1)
			return errf(err, errlen, "systemd passed LISTEN_FDS=%s sockets, "
			    "one is expected", fds);
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		if (!is_listening(LISTEN_FDS_START))
			return errf(err, errlen, "descriptor %d from systemd is not a "
			    "listening socket", LISTEN_FDS_START);
		*fdp = LISTEN_FDS_START;
		return 1;
	}
	if (is_listening(STDIN_FILENO)) {
		*fdp = STDIN_FILENO;
		return 1;
	}
	return errf(err, errlen, "no listening socket: give --socket PATH or HOST:PORT, or "
	    "start under systemd socket activation");
}

int
pool_listen(const struct pool_opts *o, int *fd, int *made, char *err, size_t errlen)
{
	*made = 0;
	if (o->socket == NULL)
		return listen_inherited(fd, err, errlen);
	if (o->socket[0] == '/')
		return listen_unix(o->socket, o->socket_mode, fd, made, err, errlen);
	return listen_inet(o->socket, fd, err, errlen);
}

static void
on_hup(int sig)
{
	(void)sig;
}

/* Fork one worker into W. 1 started, 0 fork failed (logged). */
static int
start_worker(struct slot *w, int lfd, const sigset_t *workmask, pid_t parent,
    int (*worker)(void *), void *arg)
{
	pid_t	pid;

	fflush(NULL);
	if ((pid = fork()) == -1) {
		logx(LOG_LVL_ERR, "pool: cannot start a worker: fork: %s", strerror(errno));
		return 0;
	}
	if (pid == 0) {
		signal(SIGHUP, SIG_IGN);	/* until http_serve() handles it */
		sigprocmask(SIG_SETMASK, workmask, NULL);
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
			_exit(0);
		if (lfd != STDIN_FILENO) {
			if (dup2(lfd, STDIN_FILENO) == -1)
				_exit(1);
			close(lfd);
		}
		exit(worker(arg));
	}
	w->pid = pid;
	w->started = now_ms();
	return 1;
}

static void
signal_all(const struct slot *ws, int n, int sig)
{
	int	i;

	for (i = 0; i < n; i++)
		if (ws[i].pid > 0)
			kill(ws[i].pid, sig);
}

/*
 * A worker that failed by itself (an exit status other than 0, a crash), as opposed to one
 * stopped or killed from outside (exit 0 after SIGTERM, SIGKILL from an administrator or
 * the OOM killer): only failures right after the start slow the next start down.
 */
static int
failed(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st) != 0;
	return !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL;
}

/* Collect dead workers; empty their slots and say when each may be started again. */
static void
reap(struct slot *ws, int n, int stopping, long long *backoff)
{
	pid_t		pid;
	int		st, i;
	long long	now, lived;
	char		how[64];

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < n && ws[i].pid != pid; i++)
			;
		if (i == n)
			continue;
		now = now_ms();
		lived = now - ws[i].started;
		ws[i].pid = 0;
		if (WIFSIGNALED(st))
			snprintf(how, sizeof(how), "killed by signal %d (%s)", WTERMSIG(st),
			    strsignal(WTERMSIG(st)));
		else
			snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(st));
		if (stopping) {
			logx(LOG_LVL_INFO, "pool: worker %ld %s", (long)pid, how);
			continue;
		}
		if (lived < FAST_DEATH_MS && failed(st))
			*backoff = *backoff == 0 ? 1000 :
			    *backoff * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : *backoff * 2;
		else
			*backoff = 0;
		ws[i].start_at = now + *backoff;
		if (*backoff > 0)
			logx(LOG_LVL_WARN, "pool: worker %ld %s %lld ms after it started; "
			    "starting another in %lld s", (long)pid, how, lived, *backoff / 1000);
		else
			logx(LOG_LVL_WARN, "pool: worker %ld %s; starting another", (long)pid,
			    how);
	}
}

int
pool_run(const struct pool_opts *o, int lfd, int made, int (*worker)(void *), void *arg)
{
	struct slot	 ws[POOL_MAX_WORKERS];
	struct timespec	 ts;
	siginfo_t	 si;
	sigset_t	 set, workmask;
	pid_t		 parent = getpid();
	long long	 now, wake, backoff = 0, deadline = 0;
	int		 i, n = o->workers, live, sig, stopping = 0, killed = 0;

	memset(ws, 0, sizeof(ws));
	/* Taken with sigwaitinfo() below; a handler, not SIG_IGN, so that none is discarded. */
	signal(SIGCHLD, SIG_DFL);
	signal(SIGHUP, on_hup);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, &workmask) == -1) {
		logx(LOG_LVL_ERR, "pool: sigprocmask: %s", strerror(errno));
		return 1;
	}
	logx(LOG_LVL_INFO, "pool: %d workers on %s", n,
	    o->socket != NULL ? o->socket : lfd == STDIN_FILENO ? "stdin" : "the systemd socket");
	for (;;) {
		reap(ws, n, stopping, &backoff);
		now = now_ms();
		live = 0;
		wake = -1;
		for (i = 0; i < n; i++) {
			if (ws[i].pid == 0 && !stopping && ws[i].start_at <= now &&
			    !start_worker(&ws[i], lfd, &workmask, parent, worker, arg))
				ws[i].start_at = now + 1000;
			if (ws[i].pid > 0)
				live++;
			else if (!stopping && (wake < 0 || ws[i].start_at < wake))
				wake = ws[i].start_at;
		}
		if (stopping && live == 0)
			break;
		if (stopping && !killed)
			wake = deadline;
		if (wake >= 0) {
			wake = wake > now ? wake - now : 0;
			ts.tv_sec = (time_t)(wake / 1000);
			ts.tv_nsec = (long)(wake % 1000) * 1000000;
			sig = sigtimedwait(&set, &si, &ts);
		} else
			sig = sigwaitinfo(&set, &si);
		if (sig == SIGTERM || sig == SIGINT) {
			if (!stopping) {
				logx(LOG_LVL_INFO, "pool: %s: stopping %d workers",
				    strsignal(sig), live);
				stopping = 1;
				deadline = now_ms() + POOL_GRACE_SECONDS * 1000LL;
				signal_all(ws, n, SIGTERM);
			}
		} else if (sig == SIGHUP) {
			pool_reopen_log();
			logx(LOG_LVL_INFO, "pool: SIGHUP: log reopened, passed on to %d workers",
			    live);
			signal_all(ws, n, SIGHUP);
		} else if (sig == -1 && stopping && !killed && now_ms() >= deadline) {
			logx(LOG_LVL_WARN, "pool: workers still busy after %d s: killing them",
			    POOL_GRACE_SECONDS);
			signal_all(ws, n, SIGKILL);
			killed = 1;
		}
	}
	if (made && unlink(o->socket) == -1)
		logx(LOG_LVL_WARN, "pool: cannot remove %s: %s", o->socket, strerror(errno));
	close(lfd);
	logx(LOG_LVL_INFO, "pool: stopped");
	return 0;
}
