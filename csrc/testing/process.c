/* betatrader.testing.process, the exchange rock's C helper: child processes
 * for betatrader.testing and the specs. spawn with stdout/stderr on pipes,
 * read stdout by lines with a timeout, collect stderr without blocking, and
 * never leave a child behind (the userdata kills and reaps its process group
 * on __gc/__close). It blocks the calling thread, so it stays out of the
 * client's module (betatrader.core). Linux/POSIX only; nothing here knows
 * about the exchange. */
#include <lauxlib.h>
#include <lua.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROC_MT "betatrader.testing.process"
#define PROC_BUF_MAX (1u << 20) /* keep at most this much unread output per pipe */

extern char **environ;

struct pbuf {
	char *data;
	size_t len, cap;
};

struct proc {
	pid_t pid; /* 0 once reaped (or never started) */
	int out_fd, err_fd;
	int status; /* raw waitpid status once reaped */
	int reaped;
	struct pbuf out, err;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int pbuf_append(struct pbuf *b, const char *p, size_t n)
{
	if (b->len + n > PROC_BUF_MAX)
		n = b->len < PROC_BUF_MAX ? PROC_BUF_MAX - b->len : 0;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (!d)
			return -1;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

/* Read what is available on *fd into b; closes the fd at EOF. */
static void drain(int *fd, struct pbuf *b)
{
	char tmp[4096];
	while (*fd >= 0) {
		ssize_t n = read(*fd, tmp, sizeof(tmp));
		if (n > 0) {
			if (pbuf_append(b, tmp, (size_t)n) < 0)
				return;
		} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
			close(*fd);
			*fd = -1;
		} else if (errno == EAGAIN) {
			return;
		}
	}
}

static void proc_reap(struct proc *p, int block)
{
	if (!p->pid || p->reaped)
		return;
	int st;
	pid_t r;
	do
		r = waitpid(p->pid, &st, block ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == p->pid || (r < 0 && errno == ECHILD)) {
		p->reaped = 1;
		p->status = r == p->pid ? st : 0;
	}
}

static void proc_close(struct proc *p)
{
	if (p->pid && !p->reaped) {
		/* The child leads its own group: take helpers it started too. */
		kill(-p->pid, SIGKILL);
		kill(p->pid, SIGKILL);
		proc_reap(p, 1);
	}
	if (p->out_fd >= 0)
		close(p->out_fd);
	if (p->err_fd >= 0)
		close(p->err_fd);
	p->out_fd = p->err_fd = -1;
	free(p->out.data);
	free(p->err.data);
	memset(&p->out, 0, sizeof(p->out));
	memset(&p->err, 0, sizeof(p->err));
}

static struct proc *check_proc(lua_State *L)
{
	return luaL_checkudata(L, 1, PROC_MT);
}

static int l_gc(lua_State *L)
{
	proc_close(check_proc(L));
	return 0;
}

static int l_pid(lua_State *L)
{
	lua_pushinteger(L, check_proc(L)->pid);
	return 1;
}

/* Build "NAME=value" strings: the parent's environment with opts.env on top
 * (a false value removes the name). Strings live on the Lua stack/table at
 * index tidx so the GC owns them. */
static void build_env(lua_State *L, int envidx, int tidx)
{
	int n = 0;
	for (char **e = environ; *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq)
			continue;
		lua_pushlstring(L, *e, (size_t)(eq - *e));
		lua_rawget(L, envidx);
		int overridden = !lua_isnil(L, -1);
		lua_pop(L, 1);
		if (!overridden) {
			lua_pushstring(L, *e);
			lua_rawseti(L, tidx, ++n);
		}
	}
	lua_pushnil(L);
	while (lua_next(L, envidx)) {
		if (lua_type(L, -2) != LUA_TSTRING)
			luaL_error(L, "spawn: env keys must be strings");
		if (lua_toboolean(L, -1)) {
			if (!lua_isstring(L, -1))
				luaL_error(L, "spawn: env.%s must be a string",
					   lua_tostring(L, -2));
			lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
			lua_rawseti(L, tidx, ++n);
		}
		lua_pop(L, 1);
	}
}

/* spawn(argv, {env = {NAME = value|false}}) -> proc | nil, "spawn: path: why" */
static int l_spawn(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	int has_env = 0;
	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		if (lua_getfield(L, 2, "env") != LUA_TNIL) {
			luaL_argexpected(L, lua_istable(L, -1), 2, "table for env");
			has_env = 1;
		}
		lua_pop(L, 1);
	}
	lua_Integer argc = luaL_len(L, 1);
	luaL_argcheck(L, argc >= 1, 1, "argv needs at least the program");
	char **argv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(argc + 1), 0);
	lua_newtable(L); /* keeps the argument strings alive */
	int anchor = lua_gettop(L);
	for (lua_Integer i = 1; i <= argc; i++) {
		lua_rawgeti(L, 1, i);
		if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
			return luaL_argerror(
			    L, 1, lua_pushfstring(L, "argv[%d] is not a string", (int)i));
		argv[i - 1] = (char *)lua_tostring(L, -1);
		lua_rawseti(L, anchor, i);
	}
	argv[argc] = NULL;

	char **envp = environ;
	if (has_env) {
		lua_getfield(L, 2, "env");
		int envidx = lua_gettop(L);
		lua_newtable(L);
		int tidx = lua_gettop(L);
		build_env(L, envidx, tidx);
		lua_Integer n = luaL_len(L, tidx);
		envp = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
		for (lua_Integer i = 1; i <= n; i++) {
			lua_rawgeti(L, tidx, i);
			envp[i - 1] = (char *)lua_tostring(L, -1);
			lua_pop(L, 1);
		}
		envp[n] = NULL;
	}

	/* The userdata exists, closed, before any fd does: an error leaks nothing. */
	struct proc *p = lua_newuserdatauv(L, sizeof(*p), 0);
	memset(p, 0, sizeof(*p));
	p->out_fd = p->err_fd = -1;
	luaL_setmetatable(L, PROC_MT);

	int outp[2] = {-1, -1}, errp[2] = {-1, -1}, rc;
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		rc = errno;
		goto fail;
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	sigset_t none, def;
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGINT);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					    POSIX_SPAWN_SETSIGDEF);
	pid_t pid;
	rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0)
		goto fail;
	close(outp[1]);
	close(errp[1]);
	p->pid = pid;
	p->out_fd = outp[0];
	p->err_fd = errp[0];
	fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
	return 1;
fail:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	luaL_pushfail(L);
	lua_pushfstring(L, "spawn: %s: %s", argv[0], strerror(rc));
	return 2;
}

/* proc:read_line([timeout_s]) -> line | nil, "timeout" | nil, "closed" */
static int l_read_line(lua_State *L)
{
	struct proc *p = check_proc(L);
	double timeout = luaL_optnumber(L, 2, -1);
	double deadline = timeout >= 0 ? now_s() + timeout : 0;
	for (;;) {
		char *nl = p->out.len ? memchr(p->out.data, '\n', p->out.len) : NULL;
		if (nl || (p->out_fd < 0 && p->out.len)) {
			size_t n = nl ? (size_t)(nl - p->out.data) : p->out.len;
			size_t used = nl ? n + 1 : n;
			if (n && p->out.data[n - 1] == '\r')
				n--;
			lua_pushlstring(L, p->out.data, n);
			memmove(p->out.data, p->out.data + used, p->out.len - used);
			p->out.len -= used;
			return 1;
		}
		if (p->out_fd < 0) {
			luaL_pushfail(L);
			lua_pushliteral(L, "closed");
			return 2;
		}
		int ms = -1;
		if (timeout >= 0) {
			double left = deadline - now_s();
			if (left <= 0) {
				luaL_pushfail(L);
				lua_pushliteral(L, "timeout");
				return 2;
			}
			ms = (int)(left * 1000) + 1;
		}
		/* Drain stderr too, or a chatty child blocks on a full pipe. */
		struct pollfd pf[2] = {{.fd = p->out_fd, .events = POLLIN},
				       {.fd = p->err_fd, .events = POLLIN}};
		int r = poll(pf, p->err_fd >= 0 ? 2 : 1, ms);
		if (r < 0 && errno != EINTR)
			return luaL_error(L, "read_line: poll: %s", strerror(errno));
		drain(&p->err_fd, &p->err);
		drain(&p->out_fd, &p->out);
	}
}

/* proc:stderr() -> everything the child wrote to stderr so far */
static int l_stderr(lua_State *L)
{
	struct proc *p = check_proc(L);
	drain(&p->err_fd, &p->err);
	lua_pushlstring(L, p->err.data ? p->err.data : "", p->err.len);
	return 1;
}

static const struct {
	const char *name;
	int sig;
} signames[] = {{"TERM", SIGTERM}, {"KILL", SIGKILL}, {"INT", SIGINT},   {"HUP", SIGHUP},
		{"STOP", SIGSTOP}, {"CONT", SIGCONT}, {"QUIT", SIGQUIT}, {"USR1", SIGUSR1}};

/* proc:kill([sig]) -> true | nil, msg; sig is a number or "TERM", "KILL", ... */
static int l_kill(lua_State *L)
{
	struct proc *p = check_proc(L);
	int sig = SIGTERM;
	if (lua_type(L, 2) == LUA_TSTRING) {
		const char *s = lua_tostring(L, 2);
		if (strncmp(s, "SIG", 3) == 0)
			s += 3;
		sig = -1;
		for (size_t i = 0; i < sizeof(signames) / sizeof(signames[0]); i++)
			if (strcmp(s, signames[i].name) == 0)
				sig = signames[i].sig;
		luaL_argcheck(L, sig > 0, 2, "unknown signal name");
	} else if (!lua_isnoneornil(L, 2)) {
		sig = (int)luaL_checkinteger(L, 2);
	}
	proc_reap(p, 0);
	if (!p->pid || p->reaped) {
		luaL_pushfail(L);
		lua_pushliteral(L, "kill: process already exited");
		return 2;
	}
	if (kill(p->pid, sig) < 0) {
		luaL_pushfail(L);
		lua_pushfstring(L, "kill: %s", strerror(errno));
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* proc:wait([timeout_s]) -> code, "exit" | signo, "signal" | nil, "timeout" */
static int l_wait(lua_State *L)
{
	struct proc *p = check_proc(L);
	double timeout = luaL_optnumber(L, 2, -1);
	double deadline = now_s() + (timeout >= 0 ? timeout : 0);
	long step_ns = 1000000;
	for (;;) {
		proc_reap(p, timeout < 0);
		if (!p->pid || p->reaped)
			break;
		if (now_s() >= deadline) {
			luaL_pushfail(L);
			lua_pushliteral(L, "timeout");
			return 2;
		}
		/* No SIGCHLD handler (it would be process-global): poll with backoff. */
		struct timespec ts = {0, step_ns};
		nanosleep(&ts, NULL);
		if (step_ns < 50000000)
			step_ns *= 2;
	}
	if (WIFSIGNALED(p->status)) {
		lua_pushinteger(L, WTERMSIG(p->status));
		lua_pushliteral(L, "signal");
	} else {
		lua_pushinteger(L, WEXITSTATUS(p->status));
		lua_pushliteral(L, "exit");
	}
	return 2;
}

static int l_tostring(lua_State *L)
{
	struct proc *p = check_proc(L);
	lua_pushfstring(L, "betatrader.testing.process (pid %d%s)", (int)p->pid,
			p->reaped ? ", exited" : "");
	return 1;
}

/* fork() -> pid (0 in the child): for the specs of fork() safety. */
static int l_fork(lua_State *L)
{
	pid_t pid = fork();
	if (pid < 0)
		return luaL_error(L, "fork: %s", strerror(errno));
	lua_pushinteger(L, pid);
	return 1;
}

/* waitpid(pid) -> exit status, or nil and the signal number. */
static int l_waitpid(lua_State *L)
{
	pid_t pid = (pid_t)luaL_checkinteger(L, 1);
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return luaL_error(L, "waitpid: %s", strerror(errno));
	}
	if (WIFEXITED(st)) {
		lua_pushinteger(L, WEXITSTATUS(st));
		return 1;
	}
	luaL_pushfail(L);
	lua_pushinteger(L, WTERMSIG(st));
	return 2;
}

static const luaL_Reg meth[] = {{"read_line", l_read_line}, {"stderr", l_stderr}, {"kill", l_kill},
				{"wait", l_wait},           {"pid", l_pid},       {NULL, NULL}};

static const luaL_Reg metameth[] = {
    {"__index", NULL}, {"__gc", l_gc}, {"__close", l_gc}, {"__tostring", l_tostring}, {NULL, NULL}};

static const luaL_Reg funcs[] = {
    {"spawn", l_spawn}, {"fork", l_fork}, {"waitpid", l_waitpid}, {NULL, NULL}};

LUA_API int luaopen_betatrader_testing_process(lua_State *L);
__attribute__((visibility("default"))) int luaopen_betatrader_testing_process(lua_State *L)
{
	if (luaL_newmetatable(L, PROC_MT)) {
		luaL_setfuncs(L, metameth, 0);
		luaL_newlib(L, meth);
		lua_setfield(L, -2, "__index");
	}
	lua_pop(L, 1);
	luaL_newlib(L, funcs);
	return 1;
}
