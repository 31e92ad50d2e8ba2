/*
 * test_posix.c - the module `cairn_test_posix`, FOR THE TESTS ONLY (never installed, not in the
 * rock): the few POSIX calls standard Lua lacks and the conformance testee's `proc.fork` needs
 * (Debian's lua-posix has no Lua 5.4 module). Errors raise "CAIRN_IO: <call>: <strerror>".
 *
 *   pid = fork()                 0 in the child
 *   r, w = pipe()
 *   write(fd, s)                 all of s
 *   s = read_all(fd)             until end of file
 *   close(fd)
 *   _exit(status)                no atexit handlers, no stdio flush, no Lua finalizers
 *   how, n = waitpid(pid)        "exited", status | "signaled", signal number
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

int luaopen_cairn_test_posix(lua_State *L);

static int fail(lua_State *L, const char *call) {
    return luaL_error(L, "CAIRN_IO: %s: %s", call, strerror(errno));
}

static int l_fork(lua_State *L) {
    pid_t pid = fork();
    if (pid < 0)
        return fail(L, "fork");
    lua_pushinteger(L, (lua_Integer)pid);
    return 1;
}

static int l_pipe(lua_State *L) {
    int fds[2];
    if (pipe(fds) != 0)
        return fail(L, "pipe");
    lua_pushinteger(L, fds[0]);
    lua_pushinteger(L, fds[1]);
    return 2;
}

static int l_write(lua_State *L) {
    int fd = (int)luaL_checkinteger(L, 1);
    size_t len = 0, off = 0;
    const char *s = luaL_checklstring(L, 2, &len);
    while (off < len) {
        ssize_t n = write(fd, s + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(L, "write");
        off += (size_t)n;
    }
    return 0;
}

static int l_read_all(lua_State *L) {
    int fd = (int)luaL_checkinteger(L, 1);
    luaL_Buffer b;
    char chunk[4096];
    luaL_buffinit(L, &b);
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(L, "read");
        if (n == 0)
            break;
        luaL_addlstring(&b, chunk, (size_t)n);
    }
    luaL_pushresult(&b);
    return 1;
}

static int l_close(lua_State *L) {
    if (close((int)luaL_checkinteger(L, 1)) != 0)
        return fail(L, "close");
    return 0;
}

static int l_exit(lua_State *L) {
    _exit((int)luaL_optinteger(L, 1, 0));
    return 0;
}

static int l_waitpid(lua_State *L) {
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return fail(L, "waitpid");
    }
    if (WIFSIGNALED(status)) {
        lua_pushstring(L, "signaled");
        lua_pushinteger(L, WTERMSIG(status));
    } else {
        lua_pushstring(L, "exited");
        lua_pushinteger(L, WEXITSTATUS(status));
    }
    return 2;
}

int luaopen_cairn_test_posix(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"fork", l_fork},   {"pipe", l_pipe},   {"write", l_write},     {"read_all", l_read_all},
        {"close", l_close}, {"_exit", l_exit},  {"waitpid", l_waitpid}, {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}
