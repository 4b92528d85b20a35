/*
 * rt_python.c - the python runtime: models served by a pool of Python worker
 * processes (sklearn and python_function MLflow models, xgboost models in
 * XGBoost's own binary format, plain modules exposing predict(batch), bare
 * pickles).
 *
 * Processes.  load() starts spec->workers (default 2) copies of
 * spec->python (default /usr/bin/python3), each under a guard process
 * (below; w->pid is the guard's pid), as
 *
 *     python3 -B -c BOOT mw-worker
 *
 * where BOOT is a three-line bootstrap that reads the worker program from the
 * child's stdin and exec()s it.  The program is src/serve/mw_worker.py,
 * embedded into the binary by CMake (gen/mw_worker_py.h): no install step, no
 * temporary file to clean up or to be swapped under us, no writable
 * directory needed, tracebacks that name mw_worker.py with real line
 * numbers, and a short command line in ps.  The child's descriptors are
 *
 *     0  the program (a pipe, closed after it; the worker reopens /dev/null)
 *     1  a copy of 2, so a model that prints cannot corrupt the protocol
 *     2  the server's stderr (tracebacks land in the server log)
 *     3  requests from us
 *     4  replies to us
 *
 * and nothing else: every descriptor we create is O_CLOEXEC and the guard
 * closes every other one, so workers of other models never hold our pipe
 * ends (a dead worker is seen as EOF / EPIPE at once).  Each worker runs in
 * its own process group (terminal signals meant for the server do not reach
 * it), with the signal mask emptied and every signal back to default.  A
 * worker exits by itself when its request pipe reaches EOF or hangs up; its
 * guard kills whatever it started (see "the guard" below), so no model
 * process outlives its version or the server, even one killed with SIGKILL.
 *
 * Confinement: the model files were checked by mlmodel.c; mw_worker.py
 * checks every path again before it opens, imports or unpickles it.  The
 * features and outputs a worker reports are capped (MW_SERVE_MAX_*).
 *
 * Protocol (both directions; mw_worker.py repeats it).  One frame:
 *
 *     u32 LE  H = header length (1 .. 16 MiB)
 *     u32 LE  P = payload length (0 .. 1 GiB here)
 *     H bytes JSON object      P bytes payload (little-endian float32, row-major)
 *
 *     -> {"op":"load","dir":D,"file":F|null,"mlmodel":{..}|null}          P = 0
 *     <- {"ok":true,"info":{"features":n,"outputs":k,"feature_names":[..]|null,
 *                           "kind":..,"class":..,"method":..,"classes":[..]?}}
 *     -> {"op":"predict","id":N,"rows":R,"cols":C}                        P = R*C*4
 *     <- {"ok":true,"id":N,"rows":R,"outputs":k}                         P = R*k*4
 *     <- {"ok":false,"id":N,"code":"invalid"|"unsupported"|"internal","error":"..."}
 *
 * A reply whose id, rows, outputs or length do not match is a protocol
 * failure: the stream can no longer be trusted, so the worker is killed.
 *
 * Pool.  Each worker slot is DEAD, STARTING, IDLE or BUSY, under one mutex;
 * predict() takes an IDLE worker (waiting on a condition variable while all
 * are busy or restarting), runs one request/reply exchange on it without the
 * lock, and gives it back.  predict blocks the calling (batcher) thread for
 * the length of the batch; that is the design.  Several threads may predict
 * at once: each gets its own worker, so replies never mix.
 *
 * Timeouts and failures.  All pipe I/O is non-blocking behind poll(2) with a
 * deadline: an exchange (writing the batch, computing, reading the reply)
 * gets spec->timeout_ms (default 30000); a load gets max(timeout_ms, 120 s).
 * A worker that hits EOF (crashed), the deadline (hung: SIGKILL), or breaks
 * the protocol is reaped with waitpid (never a zombie) and its slot marked
 * DEAD; the batch fails at once with MW_E_UNAVAILABLE naming what happened
 * ("python worker crashed (signal 9)", "python worker timed out after
 * 30000 ms").  A supervisor thread per model restarts DEAD slots (backing off
 * from 100 ms to 5 s while restarts fail); while no worker can run, predict
 * fails fast with the last restart error instead of waiting.  A worker found
 * dead while idle is replaced and the batch retried once on another worker.
 * Errors the model raises (bad input, NaN for a model that refuses it, a
 * wrong output shape) leave the worker running: MW_E_INVALID, or
 * MW_E_INTERNAL for the model's own bugs.
 *
 * SIGPIPE.  Pipes have no MSG_NOSIGNAL: writes run with SIGPIPE blocked in
 * the calling thread and a SIGPIPE they raise is consumed with sigtimedwait,
 * so EPIPE is an ordinary error even in a process that does not ignore it.
 *
 * unload() refuses new work, waits for batches in flight, stops the
 * supervisor, closes the pipes (workers exit on EOF), sends SIGTERM (the
 * guards pass it on), has the guards kill whatever is left after 2 s
 * (SIGUSR2), and reaps every guard.
 *
 * Limits: the host must be little-endian (checked at compile time); a batch
 * is at most 1 GiB each way; a worker's stderr is not captured (it goes to
 * the server's stderr); SIGCHLD must not be ignored by the server (then exit
 * statuses are unknown and messages say so).
 */
#include "serve/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mw_worker_py.h" /* static const unsigned char mw_worker_py[] (generated) */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rt_python.c sends float32 payloads in host order; the protocol is little-endian"
#endif

extern char **environ;

#define PY_DEFAULT "/usr/bin/python3"
#define PY_WORKERS_DEFAULT 2
#define PY_WORKERS_MAX 64
#define PY_TIMEOUT_DEFAULT_MS 30000
#define PY_LOAD_TIMEOUT_MS 120000
#define PY_STOP_GRACE_MS 2000
#define PY_EXIT_WAIT_MS 1000      /* after EOF, wait this long for an exit status */
#define PY_MAX_HEADER (16u << 20)
#define PY_MAX_PAYLOAD (1u << 30)
#define PY_BACKOFF_MIN_MS 100
#define PY_BACKOFF_MAX_MS 5000
#define PY_CHILD_FD_MIN 10        /* child pipe ends live above 0..4 until dup2 */
#define PY_GUARD_WAIT_MS 3000     /* a guard's cleanup takes at most ~2 s */
#define PY_EXEC_WAIT_MS 10000     /* for the worker's exec to succeed or fail */

/* The bootstrap: read the program from stdin, drop '' (the server's working
 * directory) from sys.path so no stray numpy.py there can shadow a module,
 * and run it as __main__. */
static const char boot[] = "import sys\n"
			   "if sys.path and sys.path[0] == '': del sys.path[0]\n"
			   "exec(compile(sys.stdin.buffer.read(), 'mw_worker.py', 'exec'))\n";

enum wstate { W_DEAD, W_STARTING, W_IDLE, W_BUSY };

struct worker {
	enum wstate state;
	pid_t pid;          /* > 0 while a process exists (until reaped) */
	int req_fd;         /* our end of the worker's fd 3 (non-blocking) */
	int rep_fd;         /* our end of the worker's fd 4 (non-blocking) */
	int prog_fd;        /* our end of the worker's stdin, until the program is sent */
	int life_fd;        /* the guard's lifeline: EOF when we close it or die */
	int slot;
	uint64_t seq;       /* request ids on this process */
	pid_t kill_pid;     /* under mu: a restart in progress that unload may cut short */
};

struct pymodel {
	pthread_mutex_t mu;
	pthread_cond_t cv;         /* any slot changed state, or closing */
	struct worker *w;
	int nw;
	int active;                /* threads inside predict */
	bool closing;
	bool restart_failed;       /* the last restart attempt failed and no worker runs */
	char last_err[sizeof(((struct mw_err *)0)->msg)];
	uint64_t backoff_until;    /* mono ns: no restart attempt before this */
	int backoff_ms;
	pthread_t sup;
	bool sup_started;
	unsigned long restarts;

	/* immutable after load */
	char *python;
	char *name;                /* for messages: the model directory's last part */
	char *load_hdr;            /* the load request header, reused on restart */
	size_t load_len;
	int64_t timeout_ms;
	int64_t load_timeout_ms;
	size_t features;           /* 0: the model does not say */
	size_t outputs;
	json_t *desc;              /* what describe returns (a copy of it) */
	struct mw_py_sandbox sb;   /* limits and user (zeros: none) */
	char **envp;               /* the workers' scrubbed environment (owned) */
	char limits[200];          /* the guard's limits argument (see guard_entry) */
	int dir_fd;                /* O_PATH of the model directory: the worker's fd 5 */
};

enum xfail { X_KEEP, X_LOST_BEFORE, X_CRASHED, X_TIMEOUT, X_PROTOCOL };

/* ------------------------------------------------------------ time, I/O */

static uint64_t deadline_after(int64_t ms)
{
	return mw_mono_ns() + (uint64_t)ms * 1000000ull;
}

/* Milliseconds left until deadline, rounded up; 0 when it has passed. */
static int ms_left(uint64_t deadline)
{
	uint64_t now = mw_mono_ns();
	if (now >= deadline)
		return 0;
	uint64_t ms = (deadline - now + 999999ull) / 1000000ull;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

enum io_rc { IO_OK = 0, IO_EOF = -1, IO_TIMEOUT = -2, IO_ERR = -3 };

/* Write n bytes to a non-blocking fd before deadline.  SIGPIPE is blocked in
 * this thread meanwhile and one it raised is consumed: a reader that went
 * away is IO_EOF, never a signal. */
static int io_write(int fd, const void *p, size_t n, uint64_t deadline, int *eno)
{
	sigset_t pipe_set, old, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	bool was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);

	const char *c = p;
	int rc = IO_OK;
	while (n > 0) {
		ssize_t k = write(fd, c, n > (size_t)SSIZE_MAX ? (size_t)SSIZE_MAX : n);
		if (k > 0) {
			c += k;
			n -= (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int ms = ms_left(deadline);
			if (ms == 0) {
				rc = IO_TIMEOUT;
				break;
			}
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			if (poll(&pfd, 1, ms) < 0 && errno != EINTR) {
				*eno = errno;
				rc = IO_ERR;
				break;
			}
			continue; /* writable, timed out, or POLLERR: the write says which */
		}
		if (k < 0 && errno == EPIPE) {
			rc = IO_EOF;
			break;
		}
		*eno = k < 0 ? errno : EIO;
		rc = IO_ERR;
		break;
	}

	if (rc == IO_EOF && !was_pending) {
		struct timespec zero = {0, 0};
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* Read exactly n bytes from a non-blocking fd before deadline. */
static int io_read(int fd, void *p, size_t n, uint64_t deadline, int *eno)
{
	char *c = p;
	while (n > 0) {
		ssize_t k = read(fd, c, n > (size_t)SSIZE_MAX ? (size_t)SSIZE_MAX : n);
		if (k > 0) {
			c += k;
			n -= (size_t)k;
			continue;
		}
		if (k == 0)
			return IO_EOF;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			*eno = errno;
			return IO_ERR;
		}
		int ms = ms_left(deadline);
		if (ms == 0)
			return IO_TIMEOUT;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, ms) < 0 && errno != EINTR) {
			*eno = errno;
			return IO_ERR;
		}
	}
	return IO_OK;
}

/* ------------------------------------------------------------ processes */

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static void worker_close_fds(struct worker *w)
{
	close_fd(&w->req_fd);
	close_fd(&w->rep_fd);
	close_fd(&w->prog_fd);
}

static void status_text(int status, bool have, char *buf, size_t n)
{
	if (!have)
		snprintf(buf, n, "exit status unknown");
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU)
		snprintf(buf, n, "signal %d: over its CPU time limit, python-worker-cpu-seconds",
			 SIGXCPU);
	else if (WIFSIGNALED(status))
		snprintf(buf, n, "signal %d", WTERMSIG(status));
	else if (WIFEXITED(status))
		snprintf(buf, n, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(buf, n, "wait status %d", status);
}

/* Reap w->pid (the guard).  Waits up to grace_ms for it to exit by itself
 * (peeking with WNOWAIT, so the pid stays ours), then has it kill the worker
 * and everything the model started (SIGUSR2; SIGKILL to the guard if it is
 * not gone after PY_GUARD_WAIT_MS) and collects the status, which is the
 * worker's.  Closes the lifeline.  Leaves w->pid = -1; never leaves a
 * zombie. */
static void worker_reap(struct worker *w, int grace_ms, int *status, bool *have)
{
	*have = false;
	*status = 0;
	if (w->pid <= 0)
		return;
	uint64_t end = deadline_after(grace_ms);
	for (;;) {
		siginfo_t si;
		memset(&si, 0, sizeof si);
		int r = waitid(P_PID, (id_t)w->pid, &si, WEXITED | WNOHANG | WNOWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break; /* ECHILD: someone reaped it (SIGCHLD ignored) */
		if (si.si_pid == w->pid || ms_left(end) == 0)
			break;
		sleep_ms(2);
	}
	/* the guard kills the worker and everything it started, then exits
	 * with the worker's status; if the guard itself does not go in time, it
	 * is killed (what it guarded still dies: the worker by its death signal,
	 * the guard's lifeline is closed below) */
	kill(w->pid, SIGUSR2);
	end = deadline_after(PY_GUARD_WAIT_MS);
	pid_t r = 0;
	for (;;) {
		r = waitpid(w->pid, status, WNOHANG);
		if (r < 0 && errno == EINTR)
			continue;
		if (r != 0 || ms_left(end) == 0)
			break;
		sleep_ms(2);
	}
	if (r == 0) {
		kill(w->pid, SIGKILL);
		while ((r = waitpid(w->pid, status, 0)) < 0 && errno == EINTR)
			;
	}
	*have = r == w->pid;
	w->pid = -1;
	close_fd(&w->life_fd);
}

/* ------------------------------------------------------------ the guard
 *
 * Every worker runs under a guard: a child of the server forked without
 * exec, which forks the worker and then only waits.  The guard is a child
 * subreaper (PR_SET_CHILD_SUBREAPER), so whatever the model starts, even a
 * process that calls setsid and double-forks, stays its descendant; when the
 * worker exits, when the server asks (SIGUSR2), or when the server is gone
 * (its lifeline pipe reaches EOF: the server closed it or died, even by
 * SIGKILL), the guard kills the worker's process group and every process
 * left under it, reaps them all and exits with the worker's status (the
 * same exit code, or killed by the same signal).  SIGTERM is passed on to
 * the worker's group.  The worker has PR_SET_PDEATHSIG = SIGKILL with the
 * guard as its parent (single-threaded, so the "parent thread" never exits
 * before the guard does), checked with getppid() after prctl.
 *
 * The guard is forked from a multithreaded process and re-executes the
 * running binary (/proc/self/exe) as "mw-python-guard" with MW_PY_GUARD=1
 * in its environment: guard_entry, a constructor of this file, runs it
 * before main.  So a guard is a small fresh process, not a copy of the
 * server that would keep the server's old pages alive as the server writes
 * to them.  Should that exec fail, the forked child runs guard_main itself.
 * From the fork on, the guard makes only async-signal-safe calls (system
 * calls, memset) on data prepared before the fork (after the exec it keeps
 * to the same code).  Its descriptors: 3 program,
 * 4 requests, 5 replies (the worker's ends, closed in the guard once the
 * worker has them), 6 the lifeline, 7 the exec-error pipe, 8 the model
 * directory (O_PATH; the worker's fd 5); every other descriptor is closed,
 * so no guard holds another worker's pipes.
 *
 * The sandbox.  Between its fork and its exec the worker sets its limits
 * (RLIMIT_AS, RLIMIT_NOFILE, RLIMIT_CORE 0, RLIMIT_CPU for the load; with a
 * user switch RLIMIT_NPROC too), sets PR_SET_NO_NEW_PRIVS, and, when the
 * server runs as root, becomes the worker user: setgroups to that user's
 * group alone, setgid, setuid, then checks that setuid(0) fails.  Any of
 * these failing is an exec failure reported through the error pipe (the
 * worker never runs model code with less confinement than asked for).  The
 * guard itself stays as the server's user (it runs no model code and must
 * be able to kill what the model starts).  The worker's environment is the
 * scrubbed one built by build_env before anything forks.  The worker user
 * reads the model through fd 5 (/proc/self/fd/5/...), so it needs no access
 * to the data directory or its parents: only the model files, which are
 * world-readable blobs (0444) in 0755 directories. */

#define G_PROG 3
#define G_REQ 4
#define G_REP 5
#define G_LIFE 6
#define G_ERR 7
#define G_DIR 8
#define G_NFD 6
#define W_DIR 5 /* the model directory in the worker */

static volatile sig_atomic_t g_term, g_die;

static void g_on_term(int sig)
{
	(void)sig;
	g_term = 1;
}

static void g_on_die(int sig)
{
	(void)sig;
	g_die = 1;
}

static void g_on_chld(int sig)
{
	(void)sig;
}

static void g_handle(int sig, void (*fn)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static void g_all_default(void)
{
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			g_handle(sig, SIG_DFL);
}

static void g_report(int e)
{
	ssize_t k = write(G_ERR, &e, sizeof e);
	(void)k;
}

static void g_close_from(int lo)
{
	if (close_range((unsigned)lo, ~0u, 0) == 0)
		return;
	struct rlimit rl;
	rlim_t max = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
	if (max > 65536)
		max = 65536;
	for (int fd = lo; (rlim_t)fd < max; fd++)
		close(fd);
}

/* Kill and reap every process under the guard (orphans are re-parented to
 * it) until none is left; at most about 2 s. */
static void g_kill_all(pid_t worker, int *wst, bool *have)
{
	kill(-worker, SIGKILL);
	kill(worker, SIGKILL);
	for (int round = 0; round < 400; round++) {
		int st;
		pid_t r;
		while ((r = waitpid(-1, &st, WNOHANG)) > 0)
			if (r == worker) {
				*wst = st;
				*have = true;
			}
		if (r < 0 && errno == ECHILD)
			return;
		int fd = open("/proc/thread-self/children", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			char buf[4096];
			ssize_t n = read(fd, buf, sizeof buf - 1);
			close(fd);
			for (ssize_t i = 0; i < n;) {
				long p = 0;
				while (i < n && buf[i] >= '0' && buf[i] <= '9')
					p = p * 10 + (buf[i++] - '0');
				while (i < n && (buf[i] < '0' || buf[i] > '9'))
					i++;
				if (p > 1) {
					kill((pid_t)-p, SIGKILL); /* its group, if it leads one */
					kill((pid_t)p, SIGKILL);
				}
			}
		}
		struct timespec ts = {0, 5000000L};
		nanosleep(&ts, NULL);
	}
}

/* What the guard needs, prepared before the fork.  Limits of 0 are not set. */
struct spawn_plan {
	const char *exe;
	char *const *argv;
	char *const *envp;
	unsigned long long mem, cpu, files, procs;
	long long uid, gid; /* -1: no switch */
};

/* Parse "mem,cpu,files,procs,uid,gid" (decimal; uid/gid may be -1) without
 * the C library (the fallback guard runs it after a fork). */
static int parse_limits(const char *p, struct spawn_plan *plan)
{
	unsigned long long *u[4] = {&plan->mem, &plan->cpu, &plan->files, &plan->procs};
	long long *i2[2] = {&plan->uid, &plan->gid};
	for (int k = 0; k < 6; k++) {
		bool neg = false;
		if (k >= 4 && *p == '-') {
			neg = true;
			p++;
		}
		if (*p < '0' || *p > '9')
			return -1;
		unsigned long long v = 0;
		while (*p >= '0' && *p <= '9') {
			if (v > (~0ull - 9) / 10)
				return -1;
			v = v * 10 + (unsigned long long)(*p++ - '0');
		}
		if (k < 4)
			*u[k] = v;
		else
			*i2[k - 4] = neg ? -(long long)(v & 0x7fffffffull)
					 : (long long)(v & 0xffffffffull);
		if (k < 5 && *p++ != ',')
			return -1;
	}
	return *p ? -1 : 0;
}

/* Soft and hard limit v (0: leave it), never above the hard limit in force
 * (which an unprivileged server could not raise). */
static int g_limit(int res, unsigned long long v)
{
	if (!v)
		return 0;
	struct rlimit rl;
	if (getrlimit(res, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && (rlim_t)v > rl.rlim_max)
		v = (unsigned long long)rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = (rlim_t)v;
	return setrlimit(res, &rl);
}

/* The worker's confinement, between fork and exec: limits, then the user. */
static int g_confine(const struct spawn_plan *plan)
{
	struct rlimit nocore = {0, 0};
	if (setrlimit(RLIMIT_CORE, &nocore) || g_limit(RLIMIT_AS, plan->mem) ||
	    g_limit(RLIMIT_NOFILE, plan->files))
		return errno;
	if (plan->cpu) { /* soft: SIGXCPU; the worker re-arms it per request */
		struct rlimit cpu = {(rlim_t)plan->cpu, RLIM_INFINITY};
		if (getrlimit(RLIMIT_CPU, &cpu) == 0 && cpu.rlim_max != RLIM_INFINITY &&
		    cpu.rlim_max < (rlim_t)plan->cpu)
			cpu.rlim_cur = cpu.rlim_max;
		else
			cpu.rlim_cur = (rlim_t)plan->cpu;
		if (setrlimit(RLIMIT_CPU, &cpu))
			return errno;
	}
	if (plan->uid >= 0) {
		if (g_limit(RLIMIT_NPROC, plan->procs))
			return errno;
		gid_t g = (gid_t)plan->gid;
		if (setgroups(1, &g) || setgid(g) || setuid((uid_t)plan->uid))
			return errno;
		if (plan->uid != 0 && setuid(0) == 0)
			return EPERM; /* could get root back: refuse to run */
		if (chdir("/"))
			return errno;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L))
		return errno;
	return 0;
}

static _Noreturn void guard_main(const struct spawn_plan *plan)
{
	/* the exec'd guard starts with every signal blocked (the server's
	 * mask at the fork) and dispositions reset by the exec */
	sigset_t none, waitset;
	sigemptyset(&none);
	sigemptyset(&waitset);
	sigaddset(&waitset, SIGCHLD);
	sigaddset(&waitset, SIGTERM);
	sigaddset(&waitset, SIGUSR2);
	g_all_default();
	g_handle(SIGPIPE, SIG_IGN);
	g_handle(SIGHUP, SIG_IGN);
	g_handle(SIGINT, SIG_IGN);
	g_handle(SIGQUIT, SIG_IGN);
	g_handle(SIGTERM, g_on_term);
	g_handle(SIGUSR2, g_on_die);
	g_handle(SIGCHLD, g_on_chld);
	sigprocmask(SIG_SETMASK, &waitset, NULL); /* delivered only inside ppoll */
	prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L);
	pid_t self = getpid();
	pid_t w = fork();
	if (w < 0) {
		g_report(errno);
		_exit(127);
	}
	if (w == 0) { /* the worker */
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, (long)SIGKILL, 0L, 0L, 0L);
		if (getppid() != self)
			_exit(127); /* the guard is already gone */
		g_all_default();
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(G_PROG, 0) < 0 || dup2(2, 1) < 0 || dup2(G_REQ, 3) < 0 ||
		    dup2(G_REP, 4) < 0) {
			g_report(errno);
			_exit(127);
		}
		close(G_REP);
		close(G_LIFE);
		if (dup2(G_DIR, W_DIR) < 0) {
			g_report(errno);
			_exit(127);
		}
		close(G_DIR);
		fcntl(G_ERR, F_SETFD, FD_CLOEXEC);
		int ce = g_confine(plan);
		if (ce) {
			g_report(-ce); /* negative: confinement, not exec */
			_exit(127);
		}
		execve(plan->exe, plan->argv, plan->envp);
		g_report(errno);
		_exit(127);
	}
	setpgid(w, w); /* also here: no window where kill(-w) misses it */
	close(G_PROG);
	close(G_REQ);
	close(G_REP);
	close(G_ERR);
	close(G_DIR);
	int wst = 0;
	bool have = false;
	for (;;) {
		int st;
		pid_t r;
		while ((r = waitpid(-1, &st, WNOHANG)) > 0)
			if (r == w) {
				wst = st;
				have = true;
			}
		if (have || g_die)
			break;
		if (g_term) {
			g_term = 0;
			kill(-w, SIGTERM);
		}
		struct pollfd pfd = {.fd = G_LIFE, .events = POLLIN};
		if (ppoll(&pfd, 1, NULL, &none) > 0)
			break; /* EOF: the server closed the lifeline or is gone */
	}
	g_kill_all(w, &wst, &have);
	if (have && WIFSIGNALED(wst)) {
		int sig = WTERMSIG(wst);
		struct rlimit nocore = {0, 0};
		setrlimit(RLIMIT_CORE, &nocore);
		g_handle(sig, SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		kill(self, sig);
	}
	_exit(have && WIFEXITED(wst) ? WEXITSTATUS(wst) : 127);
}

/* A re-executed guard: "mw-python-guard LIMITS EXE ARGV0 ARGS..." with
 * MW_PY_GUARD=1, descriptors 3..8 set up by worker_spawn, LIMITS as
 * parse_limits reads them.  glibc passes argc, argv and envp to ELF
 * constructors. */
__attribute__((constructor)) static void guard_entry(int argc, char **argv, char **envp)
{
	(void)envp;
	const char *g = getenv("MW_PY_GUARD");
	if (argc < 4 || !argv || !argv[0] || strcmp(argv[0], "mw-python-guard") || !g ||
	    strcmp(g, "1"))
		return;
	unsetenv("MW_PY_GUARD"); /* the worker does not inherit it */
	struct spawn_plan plan = {.exe = argv[2], .argv = argv + 3, .envp = environ};
	if (parse_limits(argv[1], &plan)) {
		g_report(EINVAL);
		_exit(127);
	}
	guard_main(&plan);
}

/* The interpreter as execve needs it: a name without '/' is looked up in
 * PATH here, before the fork (execvp is not async-signal-safe). */
static char *resolve_exe(const char *name)
{
	if (strchr(name, '/'))
		return mw_xstrdup(name);
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *c = path; *c;) {
		size_t n = strcspn(c, ":");
		char buf[4096];
		int k = snprintf(buf, sizeof buf, "%.*s/%s", (int)n, n ? c : ".", name);
		if (k > 0 && (size_t)k < sizeof buf && access(buf, X_OK) == 0)
			return mw_xstrdup(buf);
		c += n;
		if (*c == ':')
			c++;
	}
	return mw_xstrdup(name); /* execve fails with ENOENT, reported as such */
}

/* Start one worker process (under its guard, whose pid is w->pid); on
 * success its fds are open and the program and load request are not yet
 * sent. */
static int worker_spawn(struct pymodel *m, struct worker *w, struct mw_err *err)
{
	int prog[2] = {-1, -1}, req[2] = {-1, -1}, rep[2] = {-1, -1};
	int life[2] = {-1, -1}, errp[2] = {-1, -1};
	int child[3] = {-1, -1, -1}; /* prog read, req read, rep write, above fd 4 */
	int rc = 0;
	char *exe = NULL;
	char **genvp = NULL;
	if (pipe2(prog, O_CLOEXEC) || pipe2(req, O_CLOEXEC) || pipe2(rep, O_CLOEXEC) ||
	    pipe2(life, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
		rc = mw_err_set(err, MW_E_INTERNAL, "cannot create pipes for a python worker: %s",
				strerror(errno));
		goto out;
	}
	int ends[3] = {prog[0], req[0], rep[1]};
	for (int i = 0; i < 3; i++) {
		child[i] = fcntl(ends[i], F_DUPFD_CLOEXEC, PY_CHILD_FD_MIN);
		if (child[i] < 0) {
			rc = mw_err_set(err, MW_E_INTERNAL, "cannot set up a python worker: %s",
					strerror(errno));
			goto out;
		}
	}
	close_fd(&prog[0]);
	close_fd(&req[0]);
	close_fd(&rep[1]);

	exe = resolve_exe(m->python);
	char *gargv[] = {(char *)"mw-python-guard",
			 m->limits,
			 exe,
			 m->python,
			 (char *)"-B",
			 (char *)"-c",
			 (char *)boot,
			 (char *)"mw-worker",
			 NULL};
	struct spawn_plan plan = {.exe = exe, .argv = gargv + 3, .envp = m->envp};
	if (parse_limits(m->limits, &plan)) {
		rc = mw_err_set(err, MW_E_INTERNAL, "bad python worker limits '%s'", m->limits);
		goto out;
	}
	size_t nenv = 0;
	while (m->envp[nenv])
		nenv++;
	genvp = mw_xcalloc(nenv + 2, sizeof *genvp);
	size_t ge = 0;
	for (size_t i = 0; i < nenv; i++)
		genvp[ge++] = m->envp[i];
	genvp[ge++] = (char *)"MW_PY_GUARD=1";
	genvp[ge] = NULL;
	int src[G_NFD] = {child[0], child[1], child[2], life[0], errp[1], m->dir_fd};
	int hi = G_DIR + 1;
	for (int i = 0; i < G_NFD; i++)
		if (src[i] >= hi)
			hi = src[i] + 1;

	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old); /* no server handler runs in the child */
	pid_t pid = fork();
	if (pid == 0) {
		/* the guard: descriptors to 3..7, everything else closed */
		int tmp[G_NFD];
		for (int i = 0; i < G_NFD; i++)
			if ((tmp[i] = fcntl(src[i], F_DUPFD, hi)) < 0)
				_exit(127);
		for (int i = 0; i < G_NFD; i++)
			if (dup2(tmp[i], G_PROG + i) < 0)
				_exit(127);
		g_close_from(G_DIR + 1);
		setpgid(0, 0);
		execve("/proc/self/exe", gargv, genvp);
		guard_main(&plan); /* no /proc: the forked copy guards */
	}
	int fork_errno = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close_fd(&life[0]);
	close_fd(&errp[1]);
	if (pid < 0) {
		rc = mw_err_set(err, MW_E_INTERNAL, "cannot start python worker '%s': %s",
				m->python, strerror(fork_errno));
		goto out;
	}
	w->pid = pid;
	w->life_fd = life[1];
	life[1] = -1;
	/* the exec's outcome: EOF once the worker runs python, else its errno */
	int e = 0, eno = 0;
	if (fcntl(errp[0], F_SETFL, O_NONBLOCK) == 0 &&
	    io_read(errp[0], &e, sizeof e, deadline_after(PY_EXEC_WAIT_MS), &eno) == IO_OK) {
		int st;
		bool have;
		worker_reap(w, PY_EXIT_WAIT_MS, &st, &have);
		if (e < 0)
			rc = mw_err_set(err, MW_E_INTERNAL,
					"cannot confine python worker '%s' (its limits%s%s): %s",
					m->python, m->sb.switch_user ? " or user " : "",
					m->sb.switch_user ? m->sb.user : "", strerror(-e));
		else
			rc = mw_err_set(err, MW_E_INTERNAL, "cannot start python worker '%s': %s",
					m->python, strerror(e));
		goto out;
	}
	w->prog_fd = prog[1];
	w->req_fd = req[1];
	w->rep_fd = rep[0];
	prog[1] = req[1] = rep[0] = -1;
	w->seq = 0;
	if (fcntl(w->prog_fd, F_SETFL, O_NONBLOCK) || fcntl(w->req_fd, F_SETFL, O_NONBLOCK) ||
	    fcntl(w->rep_fd, F_SETFL, O_NONBLOCK)) {
		rc = mw_err_set(err, MW_E_INTERNAL, "cannot set up a python worker: %s",
				strerror(errno));
		int st;
		bool have;
		worker_close_fds(w);
		worker_reap(w, 0, &st, &have);
	}
out:
	free(exe);
	free(genvp);
	for (int i = 0; i < 2; i++) {
		close_fd(&prog[i]);
		close_fd(&req[i]);
		close_fd(&rep[i]);
		close_fd(&life[i]);
		close_fd(&errp[i]);
	}
	for (int i = 0; i < 3; i++)
		close_fd(&child[i]);
	return rc;
}

/* Write one frame: prefix and header, then the payload in place. */
static int frame_write(struct worker *w, const char *hdr, size_t hlen, const void *payload,
		       size_t plen, uint64_t deadline, int *eno)
{
	unsigned char *buf = mw_xmalloc(8 + hlen);
	put_u32(buf, (uint32_t)hlen);
	put_u32(buf + 4, (uint32_t)plen);
	memcpy(buf + 8, hdr, hlen);
	int rc = io_write(w->req_fd, buf, 8 + hlen, deadline, eno);
	free(buf);
	if (rc == IO_OK && plen)
		rc = io_write(w->req_fd, payload, plen, deadline, eno);
	return rc;
}

/* Read one frame's header (parsed) and its payload length.  *why describes
 * a protocol failure (IO_ERR with *eno 0). */
static int frame_read_header(struct worker *w, uint64_t deadline, json_t **hdr, uint32_t *plen,
			     int *eno, const char **why)
{
	unsigned char pre[8];
	*hdr = NULL;
	int rc = io_read(w->rep_fd, pre, sizeof pre, deadline, eno);
	if (rc)
		return rc;
	uint32_t hlen = get_u32(pre);
	*plen = get_u32(pre + 4);
	if (hlen == 0 || hlen > PY_MAX_HEADER || *plen > PY_MAX_PAYLOAD) {
		*eno = 0;
		*why = "bad frame lengths";
		return IO_ERR;
	}
	char *buf = mw_xmalloc(hlen);
	rc = io_read(w->rep_fd, buf, hlen, deadline, eno);
	if (rc == IO_OK) {
		json_error_t je;
		*hdr = json_loadb(buf, hlen, 0, &je);
		if (!json_is_object(*hdr)) {
			json_decref(*hdr);
			*hdr = NULL;
			*eno = 0;
			*why = "a reply header that is not a JSON object";
			rc = IO_ERR;
		}
	}
	free(buf);
	return rc;
}

static int code_of(json_t *reply)
{
	const char *c = json_string_value(json_object_get(reply, "code"));
	if (c && !strcmp(c, "invalid"))
		return MW_E_INVALID;
	if (c && !strcmp(c, "unsupported"))
		return MW_E_NOT_IMPLEMENTED;
	return MW_E_INTERNAL;
}

/* Send the program and the load request. */
static int worker_send_load(struct pymodel *m, struct worker *w, uint64_t deadline, int *eno)
{
	int rc = io_write(w->prog_fd, mw_worker_py, sizeof mw_worker_py - 1, deadline, eno);
	close_fd(&w->prog_fd);
	if (rc == IO_OK)
		rc = frame_write(w, m->load_hdr, m->load_len, NULL, 0, deadline, eno);
	return rc;
}

/* From here on only the owning thread may signal the process. */
static void disarm(struct pymodel *m, struct worker *w)
{
	pthread_mutex_lock(&m->mu);
	w->kill_pid = 0;
	pthread_mutex_unlock(&m->mu);
}

/* Wait for the load reply.  On failure the worker is reaped and err says
 * why (the model's own load error, or how the process ended). */
static int worker_await_load(struct pymodel *m, struct worker *w, uint64_t deadline,
			     json_t **info, struct mw_err *err)
{
	json_t *hdr = NULL;
	uint32_t plen = 0;
	int eno = 0;
	const char *why = NULL;
	int rc = frame_read_header(w, deadline, &hdr, &plen, &eno, &why);
	disarm(m, w);
	if (rc == IO_OK && plen != 0) {
		rc = IO_ERR;
		why = "a load reply with a payload";
	}
	if (rc == IO_OK && json_is_true(json_object_get(hdr, "ok"))) {
		json_t *i = json_object_get(hdr, "info");
		if (json_is_object(i)) {
			*info = json_incref(i);
			json_decref(hdr);
			return 0;
		}
		rc = IO_ERR;
		why = "a load reply without info";
	}
	int st;
	bool have;
	char stx[96];
	if (rc == IO_OK) { /* the model did not load: the worker says why */
		const char *msg = json_string_value(json_object_get(hdr, "error"));
		int code = code_of(hdr);
		rc = mw_err_set(err, code, "%s", msg ? msg : "cannot load model (no reason given)");
		worker_close_fds(w);
		worker_reap(w, PY_EXIT_WAIT_MS, &st, &have);
	} else if (rc == IO_TIMEOUT) {
		worker_close_fds(w);
		worker_reap(w, 0, &st, &have);
		rc = mw_err_set(err, MW_E_UNAVAILABLE,
				"python worker did not load the model within %lld ms (killed)",
				(long long)m->load_timeout_ms);
	} else {
		worker_close_fds(w);
		worker_reap(w, PY_EXIT_WAIT_MS, &st, &have);
		status_text(st, have, stx, sizeof stx);
		if (why)
			rc = mw_err_set(err, MW_E_INTERNAL,
					"python worker sent %s while loading the model (%s)", why,
					stx);
		else
			rc = mw_err_set(err, MW_E_UNAVAILABLE,
					"cannot load model: python worker exited (%s) before "
					"answering; its traceback is in the server log",
					stx);
	}
	json_decref(hdr);
	return rc;
}

/* Spawn, send, await: one worker from nothing (restarts). */
static int worker_start(struct pymodel *m, struct worker *w, json_t **info, struct mw_err *err)
{
	int rc = worker_spawn(m, w, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&m->mu);
	bool closing = m->closing;
	if (!closing)
		w->kill_pid = w->pid;
	pthread_mutex_unlock(&m->mu);
	uint64_t deadline = deadline_after(m->load_timeout_ms);
	int eno = 0;
	if (closing || worker_send_load(m, w, deadline, &eno) == IO_TIMEOUT) {
		int st;
		bool have;
		disarm(m, w);
		worker_close_fds(w);
		worker_reap(w, 0, &st, &have);
		return mw_err_set(err, MW_E_UNAVAILABLE, closing ? "model is being unloaded"
								 : "python worker did not start");
	}
	/* any other send failure shows up as EOF on the reply pipe */
	return worker_await_load(m, w, deadline, info, err);
}

/* ------------------------------------------------------------ describe info */

static int read_info(struct pymodel *m, json_t *info, struct mw_err *err)
{
	json_t *f = json_object_get(info, "features"), *o = json_object_get(info, "outputs");
	json_t *names = json_object_get(info, "feature_names");
	if (!json_is_integer(f) || json_integer_value(f) < 0 || !json_is_integer(o) ||
	    json_integer_value(o) < 1)
		return mw_err_set(err, MW_E_INTERNAL, "python worker described the model badly");
	if (json_integer_value(f) > (json_int_t)MW_SERVE_MAX_FEATURES ||
	    json_integer_value(o) > (json_int_t)MW_SERVE_MAX_OUTPUTS ||
	    json_array_size(names) > MW_SERVE_MAX_FEATURES)
		return mw_err_set(err, MW_E_INVALID,
				  "the model has %lld features and %lld outputs per row; mw serves "
				  "at most %u and %u",
				  (long long)(json_integer_value(f)
						      ? json_integer_value(f)
						      : (json_int_t)json_array_size(names)),
				  (long long)json_integer_value(o), MW_SERVE_MAX_FEATURES,
				  MW_SERVE_MAX_OUTPUTS);
	m->features = (size_t)json_integer_value(f);
	m->outputs = (size_t)json_integer_value(o);
	bool names_ok = json_is_array(names) && json_array_size(names) > 0;
	for (size_t i = 0; names_ok && i < json_array_size(names); i++)
		names_ok = json_is_string(json_array_get(names, i));
	if (names_ok && m->features && json_array_size(names) != m->features)
		names_ok = false;
	if (names_ok && !m->features)
		m->features = json_array_size(names);

	json_int_t nf = m->features ? (json_int_t)m->features : -1;
	json_t *d = json_pack("{s:[{s:s,s:s,s:[i,I]}],s:[{s:s,s:s,s:[i,I]}],s:I,s:I,s:s,s:i}",
			      "inputs", "name", "input-0", "datatype", "FP32", "shape", -1, nf,
			      "outputs", "name", "output-0", "datatype", "FP32", "shape", -1,
			      (json_int_t)m->outputs, "features", (json_int_t)m->features,
			      "outputs_per_row", (json_int_t)m->outputs, "runtime", "python",
			      "workers", m->nw);
	if (names_ok)
		json_object_set(d, "feature_names", names);
	static const char *const copy[] = {"kind", "flavor", "class", "method", "classes",
					   "python", "numpy"};
	for (size_t i = 0; i < sizeof copy / sizeof copy[0]; i++) {
		json_t *v = json_object_get(info, copy[i]);
		if (v && !json_is_null(v))
			json_object_set(d, copy[i], v);
	}
	m->desc = d;
	return 0;
}

/* A restarted worker must describe the same model as the first ones. */
static bool info_matches(const struct pymodel *m, json_t *info)
{
	json_t *f = json_object_get(info, "features"), *o = json_object_get(info, "outputs");
	json_int_t fv = json_integer_value(f);
	if (!json_is_integer(o) || (size_t)json_integer_value(o) != m->outputs)
		return false;
	return fv == 0 || (size_t)fv == m->features || m->features == 0;
}

/* ------------------------------------------------------------ the pool */

static int count_state(const struct pymodel *m, enum wstate s)
{
	int n = 0;
	for (int i = 0; i < m->nw; i++)
		n += m->w[i].state == s;
	return n;
}

/* Whether an idle worker is gone: it never writes unprompted, so anything
 * readable (EOF, stray bytes) or an error means it cannot be used. */
static bool idle_worker_broken(const struct worker *w)
{
	struct pollfd pfd = {.fd = w->rep_fd, .events = POLLIN};
	return poll(&pfd, 1, 0) != 0;
}

/* Mark a BUSY worker dead (reaped by the caller already) and wake the
 * supervisor.  Called with the lock not held. */
static void worker_dead(struct pymodel *m, struct worker *w)
{
	pthread_mutex_lock(&m->mu);
	w->state = W_DEAD;
	m->restarts++;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

/* Take an idle worker.  Waits while every worker is busy or (re)starting;
 * fails at once when none can run (every restart failing) or when closing. */
static int acquire(struct pymodel *m, uint64_t deadline, struct worker **out, struct mw_err *err)
{
	pthread_mutex_lock(&m->mu);
	for (;;) {
		if (m->closing) {
			pthread_mutex_unlock(&m->mu);
			return mw_err_set(err, MW_E_UNAVAILABLE, "model %s is being unloaded",
					  m->name);
		}
		struct worker *w = NULL;
		for (int i = 0; i < m->nw && !w; i++)
			if (m->w[i].state == W_IDLE)
				w = &m->w[i];
		if (w) {
			w->state = W_BUSY;
			pthread_mutex_unlock(&m->mu);
			if (!idle_worker_broken(w)) {
				*out = w;
				return 0;
			}
			int st;
			bool have;
			char stx[96];
			worker_close_fds(w);
			worker_reap(w, PY_EXIT_WAIT_MS, &st, &have);
			status_text(st, have, stx, sizeof stx);
			mw_warn("python runtime: %s: idle worker %d had exited (%s); restarting it",
				m->name, w->slot, stx);
			worker_dead(m, w);
			pthread_mutex_lock(&m->mu);
			continue;
		}
		if (m->restart_failed && count_state(m, W_BUSY) == 0 &&
		    count_state(m, W_STARTING) == 0) {
			int rc = mw_err_set(err, MW_E_UNAVAILABLE,
					    "no python worker is running for %s: %s", m->name,
					    m->last_err);
			pthread_mutex_unlock(&m->mu);
			return rc;
		}
		int ms = ms_left(deadline);
		if (ms == 0) {
			int rc = mw_err_set(err, MW_E_UNAVAILABLE,
					    "no python worker became free for %s (%d busy, %d "
					    "starting)",
					    m->name, count_state(m, W_BUSY),
					    count_state(m, W_STARTING) + count_state(m, W_DEAD));
			pthread_mutex_unlock(&m->mu);
			return rc;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)(ms < 1000 ? ms : 1000) * 1000000ull;
		ts.tv_sec += (time_t)(ns / 1000000000ull);
		ts.tv_nsec = (long)(ns % 1000000000ull);
		pthread_cond_timedwait(&m->cv, &m->mu, &ts);
	}
}

static void release(struct pymodel *m, struct worker *w)
{
	pthread_mutex_lock(&m->mu);
	w->state = W_IDLE;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

/* One request/reply exchange on a BUSY worker.  Returns the outcome kind;
 * *rc and err hold the result for X_KEEP (0 or the model's error). */
static enum xfail exchange(struct pymodel *m, struct worker *w, const float *x, size_t rows,
			   size_t cols, float *y, int *rc, struct mw_err *err, char *why,
			   size_t whylen)
{
	uint64_t deadline = deadline_after(m->timeout_ms);
	uint64_t id = ++w->seq;
	char hdr[160];
	int hlen = snprintf(hdr, sizeof hdr,
			    "{\"op\":\"predict\",\"id\":%llu,\"rows\":%zu,\"cols\":%zu}",
			    (unsigned long long)id, rows, cols);
	int eno = 0;
	int io = frame_write(w, hdr, (size_t)hlen, x, rows * cols * sizeof(float), deadline, &eno);
	if (io == IO_EOF)
		return X_LOST_BEFORE;
	if (io == IO_TIMEOUT)
		return X_TIMEOUT;
	if (io) {
		snprintf(why, whylen, "write: %s", strerror(eno));
		return X_PROTOCOL;
	}

	json_t *r = NULL;
	uint32_t plen = 0;
	const char *pwhy = NULL;
	io = frame_read_header(w, deadline, &r, &plen, &eno, &pwhy);
	if (io == IO_EOF)
		return X_CRASHED;
	if (io == IO_TIMEOUT)
		return X_TIMEOUT;
	if (io) {
		snprintf(why, whylen, "%s", pwhy ? pwhy : strerror(eno));
		return X_PROTOCOL;
	}
	enum xfail out = X_KEEP;
	json_t *rid = json_object_get(r, "id");
	if (!json_is_integer(rid) || (uint64_t)json_integer_value(rid) != id) {
		snprintf(why, whylen, "a reply to another request");
		out = X_PROTOCOL;
	} else if (!json_is_true(json_object_get(r, "ok"))) {
		if (plen) {
			snprintf(why, whylen, "an error reply with a payload");
			out = X_PROTOCOL;
		} else {
			const char *msg = json_string_value(json_object_get(r, "error"));
			*rc = mw_err_set(err, code_of(r), "%s", msg ? msg : "prediction failed");
		}
	} else if (json_integer_value(json_object_get(r, "rows")) != (json_int_t)rows ||
		   json_integer_value(json_object_get(r, "outputs")) != (json_int_t)m->outputs ||
		   (size_t)plen != rows * m->outputs * sizeof(float)) {
		snprintf(why, whylen, "a reply of the wrong size");
		out = X_PROTOCOL;
	} else {
		io = io_read(w->rep_fd, y, plen, deadline, &eno);
		if (io == IO_EOF)
			out = X_CRASHED;
		else if (io == IO_TIMEOUT)
			out = X_TIMEOUT;
		else if (io) {
			snprintf(why, whylen, "read: %s", strerror(eno));
			out = X_PROTOCOL;
		} else {
			*rc = 0;
		}
	}
	json_decref(r);
	return out;
}

static int py_predict(void *model, const float *x, size_t rows, size_t cols, float *y,
		      struct mw_err *err)
{
	struct pymodel *m = model;
	struct mw_err local;
	if (!err)
		err = &local;
	if (rows == 0)
		return 0;
	if (!x || !y || cols == 0)
		return mw_err_set(err, MW_E_INVALID, "predict needs rows of at least one feature");
	if (m->features && cols != m->features)
		return mw_err_set(err, MW_E_INVALID, "model %s takes %zu features, got %zu",
				  m->name, m->features, cols);
	if (rows > PY_MAX_PAYLOAD / sizeof(float) / cols ||
	    rows > PY_MAX_PAYLOAD / sizeof(float) / m->outputs)
		return mw_err_set(err, MW_E_TOO_LARGE,
				  "a batch of %zu rows is over the python runtime's 1 GiB limit",
				  rows);

	pthread_mutex_lock(&m->mu);
	m->active++;
	pthread_mutex_unlock(&m->mu);

	int rc = 0;
	uint64_t wait_deadline = deadline_after(m->load_timeout_ms);
	for (int attempt = 0;; attempt++) {
		struct worker *w = NULL;
		if ((rc = acquire(m, wait_deadline, &w, err)))
			break;
		char why[160] = "";
		enum xfail f = exchange(m, w, x, rows, cols, y, &rc, err, why, sizeof why);
		if (f == X_KEEP) {
			release(m, w);
			break;
		}
		/* the worker is lost: reap it, say what happened, let it restart */
		int st;
		bool have;
		char stx[96];
		worker_close_fds(w);
		worker_reap(w, f == X_TIMEOUT || f == X_PROTOCOL ? 0 : PY_EXIT_WAIT_MS, &st, &have);
		status_text(st, have, stx, sizeof stx);
		switch (f) {
		case X_TIMEOUT:
			rc = mw_err_set(err, MW_E_UNAVAILABLE,
					"python worker timed out after %lld ms (killed; it is "
					"being restarted)",
					(long long)m->timeout_ms);
			break;
		case X_PROTOCOL:
			rc = mw_err_set(err, MW_E_UNAVAILABLE,
					"python worker sent %s (killed; it is being restarted)", why);
			break;
		case X_LOST_BEFORE:
			rc = mw_err_set(err, MW_E_UNAVAILABLE,
					"python worker had exited (%s) before taking the batch", stx);
			break;
		default:
			rc = mw_err_set(err, MW_E_UNAVAILABLE,
					"python worker crashed (%s) during the batch; it is being "
					"restarted",
					stx);
			break;
		}
		mw_warn("python runtime: %s: worker %d: %s", m->name, w->slot, err->msg);
		worker_dead(m, w);
		if (f != X_LOST_BEFORE || attempt > 0)
			break;
		/* it died while idle and never saw this batch: try another */
	}

	pthread_mutex_lock(&m->mu);
	m->active--;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* The supervisor: restarts DEAD slots, with backoff while restarts fail. */
static void *supervise(void *arg)
{
	struct pymodel *m = arg;
	pthread_mutex_lock(&m->mu);
	for (;;) {
		if (m->closing)
			break;
		struct worker *w = NULL;
		for (int i = 0; i < m->nw && !w; i++)
			if (m->w[i].state == W_DEAD)
				w = &m->w[i];
		uint64_t now = mw_mono_ns();
		if (!w || now < m->backoff_until) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t wait_ns = !w ? 1000000000ull : m->backoff_until - now;
			uint64_t ns = (uint64_t)ts.tv_nsec + wait_ns;
			ts.tv_sec += (time_t)(ns / 1000000000ull);
			ts.tv_nsec = (long)(ns % 1000000000ull);
			pthread_cond_timedwait(&m->cv, &m->mu, &ts);
			continue;
		}
		w->state = W_STARTING;
		pthread_mutex_unlock(&m->mu);

		struct mw_err e;
		mw_err_clear(&e);
		json_t *info = NULL;
		int rc = worker_start(m, w, &info, &e);
		if (!rc && !info_matches(m, info)) {
			int st;
			bool have;
			worker_close_fds(w);
			worker_reap(w, 0, &st, &have);
			rc = mw_err_set(&e, MW_E_INTERNAL,
					"a restarted worker describes another model (the files "
					"changed on disk?)");
		}
		json_decref(info);

		pthread_mutex_lock(&m->mu);
		if (!rc && m->closing) {
			pthread_mutex_unlock(&m->mu);
			int st;
			bool have;
			worker_close_fds(w);
			worker_reap(w, 0, &st, &have);
			pthread_mutex_lock(&m->mu);
			rc = -MW_E_UNAVAILABLE;
		}
		if (!rc) {
			w->state = W_IDLE;
			m->restart_failed = false;
			m->backoff_ms = 0;
			mw_info("python runtime: %s: worker %d restarted (pid %d)", m->name,
				w->slot, (int)w->pid);
		} else {
			w->state = W_DEAD;
			if (!m->closing) {
				m->restart_failed = count_state(m, W_IDLE) == 0;
				snprintf(m->last_err, sizeof m->last_err, "%s", e.msg);
				m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : PY_BACKOFF_MIN_MS;
				if (m->backoff_ms > PY_BACKOFF_MAX_MS)
					m->backoff_ms = PY_BACKOFF_MAX_MS;
				m->backoff_until = deadline_after(m->backoff_ms);
				mw_warn("python runtime: %s: cannot restart worker %d: %s (next try "
					"in %d ms)",
					m->name, w->slot, e.msg, m->backoff_ms);
			}
		}
		pthread_cond_broadcast(&m->cv);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

/* ------------------------------------------------------------ the sandbox */

int mw_py_sandbox_from_settings(const struct mw_settings *set, struct mw_py_sandbox *sb,
				struct mw_err *err)
{
	long long mem, cpu, files, procs;
	memset(sb, 0, sizeof *sb);
	if (mw_settings_get_int(set, "python-worker-memory", 0, 1ll << 44, &mem, err) ||
	    mw_settings_get_int(set, "python-worker-cpu-seconds", 0, 86400, &cpu, err) ||
	    mw_settings_get_int(set, "python-worker-max-files", 0, 1048576, &files, err) ||
	    mw_settings_get_int(set, "python-worker-max-procs", 0, 4194304, &procs, err))
		return -err->code;
	sb->memory = (uint64_t)mem;
	sb->cpu_seconds = cpu;
	sb->max_files = files;
	sb->max_procs = procs;
	const char *user = mw_settings_get(set, "python-worker-user");
	if (geteuid() != 0 || !user || !*user)
		return 0;
	if (strlen(user) >= sizeof sb->user)
		return mw_err_set(err, MW_E_INVALID, "python-worker-user: the name is too long");
	struct passwd pw, *res = NULL;
	char buf[4096];
	int e = getpwnam_r(user, &pw, buf, sizeof buf, &res);
	if (e || !res)
		return mw_err_set(err, MW_E_INVALID,
				  "python-worker-user: no user '%s' on this system (the server runs "
				  "as root and runs model code only as an unprivileged user; create "
				  "it, or name another with --python-worker-user)",
				  user);
	sb->switch_user = true;
	sb->uid = (uint32_t)pw.pw_uid;
	sb->gid = (uint32_t)pw.pw_gid;
	snprintf(sb->user, sizeof sb->user, "%s", user);
	snprintf(sb->home, sizeof sb->home, "%s", pw.pw_dir && *pw.pw_dir ? pw.pw_dir : "/");
	return 0;
}

/* Whether an environment variable may reach model code.  An allow-list
 * (what Python, numpy and the BLAS/OpenMP thread pools read), then a deny
 * list that wins over it (anything that looks like a credential). */
static bool env_allowed(const char *kv)
{
	size_t n = strcspn(kv, "=");
	if (!kv[n] || n == 0 || n > 128)
		return false;
	char name[130];
	for (size_t i = 0; i < n; i++)
		name[i] = (char)(kv[i] >= 'a' && kv[i] <= 'z' ? kv[i] - 32 : kv[i]);
	name[n] = 0;
	static const char *const deny[] = {"TOKEN",      "PASSWORD", "PASSWD", "SECRET", "KEY",
					   "CREDENTIAL", "AUTH",     "COOKIE", "SESSION"};
	for (size_t i = 0; i < sizeof deny / sizeof *deny; i++)
		if (strstr(name, deny[i]))
			return false;
	static const char *const exact[] =
		{"PATH",   "LANG",        "LANGUAGE",         "TZ",
		 "TMPDIR", "VIRTUAL_ENV", "GOTO_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"};
	for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
		if (!strcmp(name, exact[i]))
			return true;
	static const char *const prefix[] = {"LC_",   "PYTHON", "OMP_",     "OPENBLAS_", "MKL_",
					     "BLIS_", "KMP_",   "NUMEXPR_", "GOMP_"};
	for (size_t i = 0; i < sizeof prefix / sizeof *prefix; i++)
		if (!strncmp(name, prefix[i], strlen(prefix[i])))
			return true;
	return false;
}

/* The workers' environment: the allowed part of ours, HOME of the worker
 * user when switching (else ours), nothing else.  Built before any fork;
 * NULL-terminated, each string owned. */
static char **build_env(const struct mw_py_sandbox *sb)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **e = mw_xcalloc(n + 2, sizeof *e);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (env_allowed(environ[i]) ||
		    (!strncmp(environ[i], "HOME=", 5) && !(sb && sb->switch_user)))
			e[k++] = mw_xstrdup(environ[i]);
	if (sb && sb->switch_user) {
		size_t len = strlen(sb->home) + 6;
		e[k] = mw_xmalloc(len);
		snprintf(e[k++], len, "HOME=%s", sb->home);
	}
	e[k] = NULL;
	return e;
}

static void free_env(char **e)
{
	for (size_t i = 0; e && e[i]; i++)
		free(e[i]);
	free(e);
}

/* ------------------------------------------------------------ load, unload */

/* Stop every worker that has a process: close its pipes (it exits on EOF),
 * SIGTERM after a moment, SIGKILL what is left after PY_STOP_GRACE_MS, reap
 * all.  No other thread touches the workers any more. */
static void stop_all(struct pymodel *m)
{
	for (int i = 0; i < m->nw; i++)
		worker_close_fds(&m->w[i]);
	uint64_t term_at = deadline_after(200), kill_at = deadline_after(PY_STOP_GRACE_MS);
	bool termed = false;
	for (;;) {
		int alive = 0;
		for (int i = 0; i < m->nw; i++) {
			struct worker *w = &m->w[i];
			if (w->pid <= 0)
				continue;
			int st;
			pid_t r = waitpid(w->pid, &st, WNOHANG);
			if (r == w->pid || (r < 0 && errno == ECHILD)) {
				w->pid = -1;
				close_fd(&w->life_fd);
			} else
				alive++;
		}
		if (!alive)
			return;
		if (!termed && ms_left(term_at) == 0) {
			for (int i = 0; i < m->nw; i++)
				if (m->w[i].pid > 0)
					kill(m->w[i].pid, SIGTERM); /* the guard passes it on */
			termed = true;
		}
		if (ms_left(kill_at) == 0)
			break;
		sleep_ms(5);
	}
	for (int i = 0; i < m->nw; i++) {
		struct worker *w = &m->w[i];
		if (w->pid > 0) {
			int st;
			bool have;
			mw_warn("python runtime: %s: worker %d did not stop in %d ms; killing it",
				m->name, i, PY_STOP_GRACE_MS);
			worker_reap(w, 0, &st, &have);
		}
	}
}

static void model_free(struct pymodel *m)
{
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	free(m->w);
	free(m->python);
	free(m->name);
	free(m->load_hdr);
	json_decref(m->desc);
	free_env(m->envp);
	if (m->dir_fd >= 0)
		close(m->dir_fd);
	free(m);
}

static void py_unload(void *model)
{
	struct pymodel *m = model;
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->closing = true;
	for (int i = 0; i < m->nw; i++) /* cut short a restart that is loading */
		if (m->w[i].kill_pid > 0)
			kill(m->w[i].kill_pid, SIGUSR2); /* its guard kills it */
	pthread_cond_broadcast(&m->cv);
	while (m->active > 0)
		pthread_cond_wait(&m->cv, &m->mu);
	pthread_mutex_unlock(&m->mu);
	if (m->sup_started)
		pthread_join(m->sup, NULL);
	stop_all(m);
	mw_info("python runtime: %s: unloaded (%lu worker restarts)", m->name, m->restarts);
	model_free(m);
}

static char *base_name(const char *dir)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	size_t s = n;
	while (s > 0 && dir[s - 1] != '/')
		s--;
	return mw_xstrndup(dir + s, n - s);
}

static int py_load(const struct mw_rt_spec *spec, void **model, struct mw_err *err)
{
	*model = NULL;
	if (!spec || !spec->dir || !*spec->dir)
		return mw_err_set(err, MW_E_INVALID, "the python runtime needs a model directory");
	int nw = spec->workers > 0 ? spec->workers : PY_WORKERS_DEFAULT;
	if (nw > PY_WORKERS_MAX)
		return mw_err_set(err, MW_E_INVALID, "at most %d python workers per model (asked %d)",
				  PY_WORKERS_MAX, nw);

	struct pymodel *m = mw_xcalloc(1, sizeof *m);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&m->mu, NULL);
	m->python = mw_xstrdup(spec->python && *spec->python ? spec->python : PY_DEFAULT);
	m->name = base_name(spec->dir);
	m->timeout_ms = spec->timeout_ms > 0 ? spec->timeout_ms : PY_TIMEOUT_DEFAULT_MS;
	m->load_timeout_ms = m->timeout_ms > PY_LOAD_TIMEOUT_MS ? m->timeout_ms : PY_LOAD_TIMEOUT_MS;
	m->nw = nw;
	m->dir_fd = -1;
	if (spec->sandbox)
		m->sb = *spec->sandbox;
	m->envp = build_env(&m->sb);
	snprintf(m->limits, sizeof m->limits, "%llu,%lld,%lld,%lld,%lld,%lld",
		 (unsigned long long)m->sb.memory, (long long)m->sb.cpu_seconds,
		 (long long)m->sb.max_files, (long long)m->sb.max_procs,
		 m->sb.switch_user ? (long long)m->sb.uid : -1ll,
		 m->sb.switch_user ? (long long)m->sb.gid : -1ll);
	m->w = mw_xcalloc((size_t)nw, sizeof *m->w);
	for (int i = 0; i < nw; i++) {
		m->w[i] = (struct worker){.state = W_DEAD,
					  .pid = -1,
					  .req_fd = -1,
					  .rep_fd = -1,
					  .prog_fd = -1,
					  .life_fd = -1,
					  .slot = i};
	}
	m->dir_fd = open(spec->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (m->dir_fd < 0) {
		int e = errno;
		model_free(m);
		if (e == ENOENT || e == ENOTDIR)
			return mw_err_set(err, MW_E_INVALID, "the model directory does not exist");
		return mw_err_set(err, MW_E_INVALID, "cannot open the model directory: %s",
				  strerror(e));
	}
	json_t *req = json_pack("{s:s,s:s,s:i,s:s?,s:O?,s:I,s:I}", "op", "load", "dir", spec->dir,
				"dir_fd", W_DIR, "file", spec->file, "mlmodel", spec->mlmodel,
				"cpu_seconds", (json_int_t)m->sb.cpu_seconds, "memory",
				(json_int_t)m->sb.memory);
	if (!req) {
		model_free(m);
		return mw_err_set(err, MW_E_INVALID, "model path or MLmodel is not valid UTF-8");
	}
	/* a test knob of the server's environment, which workers do not see */
	const char *yk = getenv("MW_PY_WORKER_YAML");
	if (yk && !strcmp(yk, "mini"))
		json_object_set_new(req, "yaml", json_string("mini"));
	m->load_hdr = mw_json_dump(req, &m->load_len);
	json_decref(req);
	if (m->load_len > PY_MAX_HEADER) {
		model_free(m);
		return mw_err_set(err, MW_E_TOO_LARGE, "MLmodel is too large");
	}

	/* start every worker, then wait for them: they load in parallel */
	uint64_t deadline = deadline_after(m->load_timeout_ms);
	int rc = 0;
	for (int i = 0; i < nw && !rc; i++) {
		if ((rc = worker_spawn(m, &m->w[i], err)))
			break;
		m->w[i].state = W_STARTING;
		int eno = 0;
		(void)worker_send_load(m, &m->w[i], deadline, &eno); /* failures show as EOF */
	}
	json_t *first = NULL;
	for (int i = 0; i < nw && !rc; i++) {
		json_t *info = NULL;
		rc = worker_await_load(m, &m->w[i], deadline, &info, err);
		if (rc)
			break;
		m->w[i].state = W_IDLE;
		if (!first)
			first = info;
		else
			json_decref(info);
	}
	if (!rc)
		rc = read_info(m, first, err);
	json_decref(first);
	if (!rc && pthread_create(&m->sup, NULL, supervise, m))
		rc = mw_err_set(err, MW_E_INTERNAL, "cannot start the python worker supervisor");
	if (rc) {
		stop_all(m);
		model_free(m);
		return rc;
	}
	m->sup_started = true;
	mw_info("python runtime: %s: %d workers ready (%s, %zu features, %zu outputs)", m->name,
		nw, json_string_value(json_object_get(m->desc, "kind")), m->features, m->outputs);
	*model = m;
	return 0;
}

static int py_describe(void *model, json_t **out, struct mw_err *err)
{
	struct pymodel *m = model;
	if (!m || !m->desc)
		return mw_err_set(err, MW_E_INTERNAL, "python model is not loaded");
	*out = json_deep_copy(m->desc);
	return 0;
}

const struct mw_rt_ops mw_rt_python = {
	.name = "python",
	.load = py_load,
	.describe = py_describe,
	.predict = py_predict,
	.unload = py_unload,
};
