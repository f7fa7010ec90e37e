/***
@module uxsock
*/

/*
** handle.c: making, checking, naming and closing handles; the methods
** every kind shares; errors and addresses as Lua sees them.
*/
#if !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE  200809L  /* fileno */
#endif

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lualib.h"  /* LUA_FILEHANDLE */

#include "handle.h"
#include "buffer.h"

const char *const ux_kindnames[UX_NKINDS] = {
  "listener", "stream", "seqpacket", "datagram"
};

static const char *const metanames[UX_NKINDS] = {
  "uxsock.listener", "uxsock.stream", "uxsock.seqpacket", "uxsock.datagram"
};

/* every uxsock metatable holds this key: one test tells a handle */
static const char handle_mark = 0;


/* {======================================================
** Making and checking
** ======================================================= */

/* pushes a closed handle: the descriptor is made after, so a failure
** in between leaves nothing for __gc to leak */
ux_handle *ux_newhandle (lua_State *L, int kind) {
  ux_handle *h = (ux_handle *)ux_newudata(L, sizeof(ux_handle));
  memset(h, 0, sizeof(*h));
  h->fd = -1;
  h->kind = (unsigned char)kind;
  h->timeout = -1;
  h->readlimit = UX_READLIMIT;
  luaL_setmetatable(L, metanames[kind]);
  return h;
}

ux_handle *ux_tohandle (lua_State *L, int idx) {
  ux_handle *h = (ux_handle *)lua_touserdata(L, idx);
  if (h != NULL && lua_getmetatable(L, idx)) {
    int ours = (lua_rawgetp(L, -1, &handle_mark) != LUA_TNIL);
    lua_pop(L, 2);
    if (ours) return h;
  }
  return NULL;
}

/* names the kinds in a mask, for "listener expected" messages */
static const char *kinds_expected (lua_State *L, int kinds) {
  luaL_Buffer b;
  int k, first = 1;
  luaL_buffinit(L, &b);
  for (k = 0; k < UX_NKINDS; k++) {
    if (!(kinds & UX_K(k))) continue;
    if (!first) luaL_addstring(&b, " or ");
    luaL_addstring(&b, ux_kindnames[k]);
    first = 0;
  }
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

/* the full check, from any C function: the metatable's mark */
ux_handle *ux_checkhandle_any (lua_State *L, int idx, int kinds) {
  ux_handle *h = ux_tohandle(L, idx);
  if (h == NULL || !(kinds & UX_K(h->kind))) {
    const char *got = h ? ux_kindnames[h->kind] : luaL_typename(L, idx);
    const char *want = kinds == UX_ANY ? "handle" : kinds_expected(L, kinds);
    luaL_argerror(L, idx, lua_pushfstring(L, "uxsock %s expected, got %s",
                                          want, got));
    return NULL;  /* not reached: luaL_argerror raises */
  }
  if (h->fd < 0)
    luaL_argerror(L, idx, lua_pushfstring(L, "attempt to use a closed %s",
                                          ux_kindnames[h->kind]));
  return h;
}

/* The check of the hot path, for methods only: every method closure
** has its kind's metatable as upvalue 1 (ux_newkind), so one comparison
** tells a handle of that kind. Anything else (another kind, a closed
** handle, a foreign value) goes to the full check, for its message. */
ux_handle *ux_checkhandle (lua_State *L, int idx, int kinds) {
  ux_handle *h = (ux_handle *)lua_touserdata(L, idx);
  if (h != NULL && lua_getmetatable(L, idx)) {
    int same = lua_rawequal(L, -1, lua_upvalueindex(1));
    lua_pop(L, 1);
    if (same && (kinds & UX_K(h->kind)) && h->fd >= 0) return h;
  }
  return ux_checkhandle_any(L, idx, kinds);
}

void ux_setname (lua_State *L, int hidx, int nameidx) {
  hidx = lua_absindex(L, hidx);
  lua_pushvalue(L, nameidx);
  ux_setuv(L, hidx);
}

/* pushes the name the handle was made with (or nil); returns its type */
int ux_pushname (lua_State *L, int hidx) {
  return ux_getuv(L, hidx);
}

int ux_sockettype (int kind) {
  switch (kind) {
    case UX_SEQPACKET: return SOCK_SEQPACKET;
    case UX_DATAGRAM: return SOCK_DGRAM;
    default: return SOCK_STREAM;
  }
}

/* }====================================================== */


/* {======================================================
** Closing
** ======================================================= */

/* the one close path: close, __close and __gc. Never raises. The
** pollers let go of the descriptor while it still names its file: with
** a copy alive elsewhere, the kernel would keep their entries. */
void ux_closehandle (lua_State *L, ux_handle *h, int hidx) {
  int fd = h->fd;
  if (fd < 0) return;
  h->fd = -1;  /* closed from here on, whatever happens below */
  if (h->owns_file) {
    h->owns_file = 0;
    if (ux_pushname(L, hidx) == LUA_TSTRING)
      (void)ux_sockfile_remove(lua_tostring(L, -1), &h->file);
    lua_pop(L, 1);
  }
  ux_poll_forget(L, fd);
  ux_close(fd);
  ux_rbuf_free(L, &h->rb);
}

/***
Closes the handle; a listener or bound datagram socket also removes the
socket file it made (see Socket names). Closing twice is harmless.
@function handle:close
@within handle
@return `true`, also for a handle that was closed before
*/
static int h_close (lua_State *L) {
  ux_handle *h = ux_tohandle(L, 1);
  luaL_argexpected(L, h != NULL, 1, "uxsock handle");
  ux_closehandle(L, h, 1);
  lua_pushboolean(L, 1);
  return 1;
}

/***
`__close` and `__gc` close the handle as `close` does: at the end of the
scope of a `<close>` variable (Lua 5.4), or when the collector finds a
handle nobody closed. They never raise.
@function handle:__close
@within handle
*/
static int h_gc (lua_State *L) {
  ux_handle *h = ux_tohandle(L, 1);
  if (h != NULL) ux_closehandle(L, h, 1);
  return 0;
}

/***
Whether the handle is closed.
@function handle:isclosed
@within handle
@return `true` or `false`
*/
static int h_isclosed (lua_State *L) {
  ux_handle *h = ux_tohandle(L, 1);
  luaL_argexpected(L, h != NULL, 1, "uxsock handle");
  lua_pushboolean(L, h->fd < 0);
  return 1;
}

/* converts the string at idx to its display form in place: abstract
** names start with '@', and a NUL byte inside shows as "\0", so the
** whole name is seen; returns it, or NULL when there is no name */
static const char *tolabel (lua_State *L, int idx) {
  size_t len, i;
  const char *s;
  luaL_Buffer b;
  if (lua_type(L, idx) != LUA_TSTRING) return NULL;
  s = lua_tolstring(L, idx, &len);
  if (memchr(s, '\0', len) == NULL) return s;  /* shown as it is */
  idx = lua_absindex(L, idx);  /* s stays valid: the string is there */
  luaL_buffinit(L, &b);
  i = 0;
  if (s[0] == '\0') { luaL_addchar(&b, '@'); i = 1; }
  for (; i < len; i++) {
    if (s[i] == '\0') luaL_addstring(&b, "\\0");
    else luaL_addchar(&b, s[i]);
  }
  luaL_pushresult(&b);
  lua_replace(L, idx);
  return lua_tostring(L, idx);
}

/* pushes the handle's name in display form (or nil) */
static const char *pushlabel (lua_State *L, int hidx) {
  if (hidx == 0) { lua_pushnil(L); return NULL; }
  ux_pushname(L, hidx);
  return tolabel(L, -1);
}

/***
The kind, the descriptor or "closed", and the name, for messages and
debugging: `"uxsock.stream (fd 7, /tmp/x.sock)"`,
`"uxsock.listener (closed, /tmp/x.sock)"`.
@function handle:__tostring
@within handle
@return a string
*/
static int h_tostring (lua_State *L) {
  ux_handle *h = ux_tohandle(L, 1);
  const char *label;
  luaL_argexpected(L, h != NULL, 1, "uxsock handle");
  label = pushlabel(L, 1);
  if (h->fd < 0)
    lua_pushfstring(L, "%s (closed", metanames[h->kind]);
  else
    lua_pushfstring(L, "%s (fd %d", metanames[h->kind], h->fd);
  if (label != NULL && label[0] != '\0')
    lua_pushfstring(L, "%s, %s)", lua_tostring(L, -1), label);
  else
    lua_pushfstring(L, "%s)", lua_tostring(L, -1));
  return 1;
}

/* }====================================================== */


/* {======================================================
** Timeouts, options and addresses
** ======================================================= */

int ux_settimeout (ux_handle *h, double t) {
  int err = 0;
  if ((t < 0) != (h->timeout < 0))  /* blocking mode changes */
    err = ux_setnonblocking(h->fd, t >= 0);
  if (err == 0) h->timeout = t;
  return err;
}

/* nil or math.huge: no limit (-1); otherwise seconds >= 0 */
static double totimeout (lua_State *L, int idx, int arg, const char *what) {
  double t;
  if (lua_isnoneornil(L, idx)) return -1;
  if (!lua_isnumber(L, idx))  /* numbers and numeric strings */
    luaL_argerror(L, arg, lua_pushfstring(L, "%s: number or nil expected, "
                  "got %s", what, luaL_typename(L, idx)));
  t = (double)lua_tonumber(L, idx);
  if (!(t >= 0))  /* also NaN */
    luaL_argerror(L, arg, lua_pushfstring(L, "%s must not be negative",
                                          what));
  return isinf(t) ? -1 : t;
}

double ux_opttimeout (lua_State *L, int idx, int arg, const char *what) {
  return totimeout(L, idx, arg, what);
}

/***
Bounds every later blocking call of this handle as a whole (see
Timeouts): `t` seconds, `0` for non-blocking calls (`EAGAIN` when they
would wait), `nil` or `math.huge` to block forever (the default).
@function handle:settimeout
@within handle
@tparam ?number t seconds, at least 0
@return `true`
@fail `nil, msg, code`
*/
static int h_settimeout (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_ANY);
  double t = totimeout(L, 2, 2, "timeout");
  int err = ux_settimeout(h, t);
  if (err != 0) return ux_fail(L, 1, "settimeout", err);
  lua_pushboolean(L, 1);
  return 1;
}

/***
The handle's timeout.
@function handle:gettimeout
@within handle
@return seconds, or `nil` for no limit
*/
static int h_gettimeout (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_ANY);
  if (h->timeout < 0) lua_pushnil(L);
  else lua_pushnumber(L, (lua_Number)h->timeout);
  return 1;
}

int ux_optfield (lua_State *L, int opts, const char *key, int type) {
  int t;
  if (lua_isnoneornil(L, opts)) { lua_pushnil(L); return LUA_TNIL; }
  t = lua_getfield(L, opts, key);
  if (type == LUA_TNUMBER && t == LUA_TSTRING && lua_isnumber(L, -1))
    t = LUA_TNUMBER;  /* "4" is a number, as for an argument */
  if (t != LUA_TNIL && t != type && type != LUA_TNONE)
    luaL_argerror(L, opts, lua_pushfstring(L, "opts.%s: %s expected, got %s",
                  key, lua_typename(L, type), luaL_typename(L, -1)));
  return t;
}

/* raises for a key of the options table at idx that is not known */
void ux_checkopts (lua_State *L, int idx, const char *const known[]) {
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      int i;
      for (i = 0; known[i] != NULL; i++)
        if (strcmp(lua_tostring(L, -1), known[i]) == 0) break;
      if (known[i] != NULL) continue;
      luaL_argerror(L, idx, lua_pushfstring(L, "unknown option '%s'",
                                            lua_tostring(L, -1)));
    }
    luaL_argerror(L, idx, "option names must be strings");
  }
}

/* opts.type as a kind, one of 'allowed' */
int ux_opttype (lua_State *L, int opts, int allowed, int def) {
  int k;
  const char *name;
  if (ux_optfield(L, opts, "type", LUA_TSTRING) == LUA_TNIL) {
    lua_pop(L, 1);
    return def;
  }
  name = lua_tostring(L, -1);
  for (k = 0; k < UX_NKINDS; k++) {
    if ((allowed & UX_K(k)) && strcmp(name, ux_kindnames[k]) == 0) {
      lua_pop(L, 1);
      return k;
    }
  }
  return luaL_argerror(L, opts, lua_pushfstring(L, "opts.type: %s expected, "
                       "got '%s'", kinds_expected(L, allowed), name));
}

/* opts.mode: permission bits of a socket file, or -1 */
int ux_optmode (lua_State *L, int opts) {
  lua_Integer mode = 0;
  if (ux_optfield(L, opts, "mode", LUA_TNUMBER) == LUA_TNIL) {
    lua_pop(L, 1);
    return -1;
  }
  if (!ux_tointegerx(L, -1, &mode) || mode < 0 || mode > 0777)
    luaL_argerror(L, opts, "opts.mode: permission bits (0 to 0777) expected");
  lua_pop(L, 1);
  return (int)mode;
}

int ux_optboolean (lua_State *L, int opts, const char *key, int def) {
  int v = def;
  if (ux_optfield(L, opts, key, LUA_TBOOLEAN) != LUA_TNIL)
    v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* binds the handle's socket, and listens with backlog >= 0; with
** 'unlink' it owns the file it made. 'timeout' bounds the one wait a
** bind can have (sockfile.h). */
int ux_bindhandle (ux_handle *h, const ux_addr *a, int mode, int unlink,
                   int backlog, double timeout) {
  ux_deadline d;
  int err;
  ux_deadline_init(&d, timeout);
  err = ux_bind(h->fd, a, mode, backlog, &d, &h->file);
  if (err == 0 && unlink && h->file.owner != 0) h->owns_file = 1;
  return err;
}

/* raises for an address the kernel could not take as it is */
void ux_checkaddr (lua_State *L, int arg, ux_addr *a) {
  size_t len;
  const char *name = luaL_checklstring(L, arg, &len);
  switch (ux_addr_make(a, name, len)) {
    case UX_ADDR_OK: return;
    case UX_ADDR_EMPTY:
      luaL_argerror(L, arg, "empty socket name");
      break;
    case UX_ADDR_TOOLONG: {
      char n[24];  /* lua_pushfstring has no format for size_t */
      (void)snprintf(n, sizeof(n), "%zu", len);
      if (name[0] == '@' || name[0] == '\0')
        luaL_argerror(L, arg, lua_pushfstring(L, "abstract socket name too "
                      "long (%s bytes, the limit is %d with its '@')",
                      n, (int)UX_ABSTRACT_MAX));
      luaL_argerror(L, arg, lua_pushfstring(L, "socket name too long (%s "
                    "bytes, the limit is %d)", n, (int)UX_PATH_MAX));
      break;
    }
    case UX_ADDR_NUL:
      luaL_argerror(L, arg, "socket path contains a NUL byte");
      break;
    default:
      luaL_argerror(L, arg, "abstract socket names need Linux");
  }
}

void ux_pushaddr (lua_State *L, const struct sockaddr_un *sa, socklen_t len) {
  char name[UX_NAME_SIZE];
  size_t n = ux_addr_name(sa, len, name);
  lua_pushlstring(L, name, n);
}

/* }====================================================== */


/* {======================================================
** Errors
** ======================================================= */

/* returns nil, "op name: what happened", code (see README: Errors);
** the name is the string at nameidx, if there is one there */
static int failwith (lua_State *L, int nameidx, const char *op, int err,
                     const char *what) {
  const char *label;
  if (what == NULL) {
    switch (err) {
      case UX_EOF: what = "end of stream"; break;
      case ETIMEDOUT: what = "timed out"; break;
      case EAGAIN: what = "would block"; break;
      default: what = strerror(err);
    }
  }
  if (nameidx != 0) {
    lua_pushvalue(L, nameidx);
    label = tolabel(L, -1);
  }
  else label = NULL;
  lua_pushnil(L);
  if (label != NULL && label[0] != '\0')
    lua_pushfstring(L, "%s %s: %s", op, label, what);
  else
    lua_pushfstring(L, "%s: %s", op, what);
  lua_pushinteger(L, err);
  return 3;
}

int ux_failname (lua_State *L, int nameidx, const char *op, int err) {
  return failwith(L, nameidx, op, err, NULL);
}

/* 'what' (or NULL: the text for err) after the handle's name */
int ux_failmsg (lua_State *L, int hidx, const char *op, int err,
                const char *what) {
  if (hidx == 0) return failwith(L, 0, op, err, what);
  hidx = lua_absindex(L, hidx);
  ux_pushname(L, hidx);
  return failwith(L, -1, op, err, what);
}

int ux_fail (lua_State *L, int hidx, const char *op, int err) {
  return ux_failmsg(L, hidx, op, err, NULL);
}

int ux_getname_ (lua_State *L, int peer) {
  ux_handle *h = ux_checkhandle(L, 1, peer ? UX_CONNECTED | UX_K(UX_DATAGRAM)
                                           : UX_ANY);
  struct sockaddr_un sa;
  socklen_t len;
  int err = ux_getname(h->fd, peer, &sa, &len);
  if (err != 0) return ux_fail(L, 1, peer ? "getpeername" : "getsockname",
                               err);
  ux_pushaddr(L, &sa, len);
  return 1;
}

/* }====================================================== */


/***
The handle's own name: a path, `"@name"` for an abstract name, `""` for
an unnamed socket. A name that came back can be passed back.
@function handle:getsockname
@within handle
@return a string
@fail `nil, msg, code`
*/
static int h_getsockname (lua_State *L) {
  return ux_getname_(L, 0);
}

/***
The descriptor, for `poll` and event loops. The handle still owns it:
do not close it.
@function handle:getfd
@within handle
@return an integer
*/
static int h_getfd (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_ANY);
  lua_pushinteger(L, h->fd);
  return 1;
}

static const luaL_Reg common_methods[] = {
  {"close", h_close},
  {"isclosed", h_isclosed},
  {"settimeout", h_settimeout},
  {"gettimeout", h_gettimeout},
  {"getsockname", h_getsockname},
  {"getfd", h_getfd},
  {NULL, NULL}
};

static const luaL_Reg metamethods[] = {
  {"__gc", h_gc},
  {"__close", h_gc},
  {"__tostring", h_tostring},
  {NULL, NULL}
};

/* makes the metatable of a kind, once per Lua state (ux_open_kinds):
** common methods, the kind's own, the handle mark; leaves nothing on the
** stack. One made before by an open that ran out of memory half way is
** filled again. */
void ux_newkind (lua_State *L, int kind, const luaL_Reg *methods) {
  luaL_newmetatable(L, metanames[kind]);
  luaL_setfuncs(L, metamethods, 0);
  lua_createtable(L, 0, 24);
  /* upvalues of every method: this metatable, the buffer's (see
  ** ux_checkhandle and ux_tobuffer) */
  lua_pushvalue(L, -2);
  ux_pushbuffermeta(L);
  luaL_setfuncs(L, common_methods, 2);
  lua_pushvalue(L, -2);
  ux_pushbuffermeta(L);
  luaL_setfuncs(L, methods, 2);
  lua_setfield(L, -2, "__index");
  lua_pushboolean(L, 1);
  lua_rawsetp(L, -2, &handle_mark);
  lua_pop(L, 1);
}

/* adds methods to the kinds in a mask, after ux_newkind made them: for
** a file of methods that several kinds share (fdpass.c, options.c) */
void ux_addmethods (lua_State *L, int kinds, const luaL_Reg *methods) {
  int k;
  for (k = 0; k < UX_NKINDS; k++) {
    if (!(kinds & UX_K(k))) continue;
    luaL_getmetatable(L, metanames[k]);
    lua_getfield(L, -1, "__index");
    lua_pushvalue(L, -2);
    ux_pushbuffermeta(L);
    luaL_setfuncs(L, methods, 2);
    lua_pop(L, 2);
  }
}

/* {======================================================
** Descriptors of any object
** ======================================================= */

/* the FILE* of a Lua io file at idx: NULL for a closed file, and
** *isfile = 0 for a value that is not a Lua file. Every Lua keeps the
** FILE* first in its file userdata: FILE ** on 5.1, luaL_Stream on 5.2+
** (closed when closef is NULL), LuaJIT's IOFileUD (fp NULL when closed). */
FILE *ux_tofile (lua_State *L, int idx, int *isfile) {
  void *p = luaL_testudata(L, idx, LUA_FILEHANDLE);
  *isfile = (p != NULL);
  if (p == NULL) return NULL;
#if LUA_VERSION_NUM >= 502
  if (((luaL_Stream *)p)->closef == NULL) return NULL;
#endif
  return *(FILE **)p;
}

int ux_tofd (lua_State *L, int idx) {
  ux_handle *h;
  int isfile;
  FILE *f;
  if (lua_type(L, idx) == LUA_TNUMBER) {
    lua_Integer fd;
    if (ux_tointegerx(L, idx, &fd) && fd >= 0 && fd <= 0x7fffffff) return (int)fd;
  }
  else if ((h = ux_tohandle(L, idx)) != NULL)
    return h->fd;
  else if ((f = ux_tofile(L, idx, &isfile)) != NULL)
    return fileno(f);
  return -1;
}

int ux_checkfdobj (lua_State *L, int idx, int arg, const char *what) {
  ux_handle *h;
  int isfile, fd = ux_tofd(L, idx);
  if (fd >= 0) return fd;
  if (lua_type(L, idx) == LUA_TNUMBER)
    return luaL_argerror(L, arg, lua_pushfstring(L, "%s: descriptor must be "
                         "an integer >= 0", what));
  if ((h = ux_tohandle(L, idx)) != NULL)
    return luaL_argerror(L, arg, lua_pushfstring(L, "%s: attempt to use a "
                         "closed %s", what, ux_kindnames[h->kind]));
  (void)ux_tofile(L, idx, &isfile);
  if (isfile)
    return luaL_argerror(L, arg, lua_pushfstring(L, "%s: attempt to use a "
                         "closed file", what));
  return luaL_argerror(L, arg, lua_pushfstring(L, "%s: uxsock handle, Lua "
                       "file or descriptor expected, got %s", what,
                       luaL_typename(L, idx)));
}

/* }====================================================== */
