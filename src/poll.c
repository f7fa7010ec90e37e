/***
@module uxsock
*/

/*
** poll.c: uxsock.poll, the readiness of a list of objects through
** poll(2), and uxsock.poller, an epoll set whose wait costs the same
** however many descriptors it holds (syspoll.c has the system calls).
**
** An object is a uxsock handle, a Lua file or an integer descriptor;
** results map the very object given to its letters ("r", "w", "h", "e").
**
** A poller's user value is a table {byfd, byobj}: byfd[fd] is the object
** registered at descriptor fd (what wait gives back), byobj[object] its
** fd (how remove finds a handle closed since). An integer names a
** descriptor and is only in byfd. byobj has weak keys: an entry whose fd
** went to a later add does not keep its object alive. Each registration
** carries a generation with its fd (gens[fd]), so an event of an older
** registration of the same number (a descriptor closed while a copy kept
** its file open, then reused) is dropped, never given to the new object.
*/
#include <errno.h>
#include <string.h>

#include "handle.h"
#include "kinds.h"
#include "syspoll.h"

#define POLLER_META  "uxsock.poller"

/* wait's default for max, the events one call takes */
#if !defined(UX_POLLER_MAXEVENTS)
#define UX_POLLER_MAXEVENTS  256
#endif

/* uxsock.poll needs no allocation for this many distinct objects */
#define POLL_LOCAL  16

typedef struct poller {
  int epfd;          /* -1: closed */
  int count;         /* descriptors in byfd */
  uint32_t gen;      /* the generation of the last add */
  int nev;           /* slots in ev */
  int ngens;         /* slots in gens */
  ux_pevent *ev;     /* wait's buffer */
  uint32_t *gens;    /* gens[fd]: the generation of fd's registration */
} poller;

#define KEY(gen, fd)  (((uint64_t)(gen) << 32) | (uint32_t)(fd))


/* {======================================================
** Objects and events
** ======================================================= */

/* pushes the letters of flags, in the order r w h e */
static void pushletters (lua_State *L, int flags) {
  char s[4];
  size_t n = 0;
  if (flags & UX_PIN) s[n++] = 'r';
  if (flags & UX_POUT) s[n++] = 'w';
  if (flags & UX_PHUP) s[n++] = 'h';
  if (flags & UX_PERR) s[n++] = 'e';
  lua_pushlstring(L, s, n);
}

/* raises for events that are not "r", "w" or "rw"; a poll entry
** (item > 0) is named first */
static int eventserror (lua_State *L, int idx, int arg, int item) {
  const char *got = lua_type(L, idx) == LUA_TSTRING
    ? lua_pushfstring(L, "\"%s\"", lua_tostring(L, idx))
    : luaL_typename(L, idx);
  const char *what = item > 0 ? lua_pushfstring(L, "items[%d]: ", item) : "";
  return luaL_argerror(L, arg, lua_pushfstring(L, "%sevents must be \"r\", "
                       "\"w\" or \"rw\", got %s", what, got));
}

/* "r", "w" or "rw" at idx as flags; nil is "r" */
static int checkevents (lua_State *L, int idx, int arg, int item) {
  size_t len;
  const char *s;
  if (lua_isnoneornil(L, idx)) return UX_PIN;
  if (lua_type(L, idx) != LUA_TSTRING) return eventserror(L, idx, arg, item);
  s = lua_tolstring(L, idx, &len);
  if (len == 1 && s[0] == 'r') return UX_PIN;
  if (len == 1 && s[0] == 'w') return UX_POUT;
  if (len == 2 && s[0] == 'r' && s[1] == 'w') return UX_PIN | UX_POUT;
  return eventserror(L, idx, arg, item);
}

/* Is the value at idx a handle or a Lua file that was closed? Its
** descriptor is gone from every epoll set, unless a copy lives on. */
static int isclosedobj (lua_State *L, int idx) {
  ux_handle *h;
  int isfile;
  FILE *f;
  if (lua_type(L, idx) != LUA_TUSERDATA) return 0;
  if ((h = ux_tohandle(L, idx)) != NULL) return h->fd < 0;
  f = ux_tofile(L, idx, &isfile);
  return isfile && f == NULL;
}

/* ux_checkfdobj for items[item]: the name of the entry is made only
** for an error */
static int itemfd (lua_State *L, int idx, int item) {
  int fd = ux_tofd(L, idx);
  if (fd >= 0) return fd;
  return ux_checkfdobj(L, idx, 1, lua_pushfstring(L, "items[%d]", item));
}

/* }====================================================== */


/* {======================================================
** uxsock.poll
** ======================================================= */

/* pushes the object of items[item] (the entry, or its [1]) */
static void pushobj (lua_State *L, int item) {
  lua_rawgeti(L, 1, item);
  if (lua_istable(L, -1)) {
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
  }
}

/* pushes the object of items[item]; its descriptor and events */
static int pushitem (lua_State *L, int item, int *fd) {
  int flags = UX_PIN;
  lua_rawgeti(L, 1, item);
  if (lua_istable(L, -1)) {
    int t = lua_gettop(L);
    lua_rawgeti(L, t, 2);
    flags = checkevents(L, t + 1, 1, item);
    lua_settop(L, t);
    lua_rawgeti(L, t, 1);
    lua_remove(L, t);
  }
  *fd = itemfd(L, lua_gettop(L), item);
  return flags;
}

/***
Which of the objects in `items` are ready, through poll(2): fine for a
few descriptors (a poller is for many). An entry of `items` is an
object (a uxsock handle, an open Lua file or an integer descriptor),
watched for reading, or a pair `{object, events}` with events `"r"`,
`"w"` or `"rw"`. An object given twice is watched once, for both
entries' events. In `ready`, each ready object (the very value given)
maps to its letters, in this order: `r` readable, `w` writable, `h` hung
up (the peer closed or shut down), `e` an error (the next call on it
tells which; also a descriptor that is not open).
@function poll
@tparam table items the objects
@tparam[opt] number timeout seconds, `0` to only look; `nil` or
`math.huge` waits until one is ready
@return `ready, n`: the table, and how many objects are in it (an
empty table and `0` when the time ran out)
@fail `nil, msg, code`
*/
static int l_poll (lua_State *L) {
  struct pollfd local[POLL_LOCAL], *fds = local;
  int localitem[POLL_LOCAL], *itemof = localitem;
  size_t n, used = 0, k;
  int i, nready, ready = 0, err;
  ux_deadline d;
  double timeout;
  luaL_checktype(L, 1, LUA_TTABLE);
  timeout = ux_opttimeout(L, 2, 2, "timeout");
  lua_settop(L, 2);
  n = lua_rawlen(L, 1);
  if (n > (size_t)0x7fffffff / (sizeof(struct pollfd) + sizeof(int)))
    luaL_argerror(L, 1, "too many items");
  if (n > POLL_LOCAL) {  /* a userdata: the collector frees it */
    fds = (struct pollfd *)lua_newuserdata(L, n * (sizeof(struct pollfd)
                                                   + sizeof(int)));
    itemof = (int *)(fds + n);
  }
  else lua_pushnil(L);
  lua_createtable(L, 0, (int)n);  /* 4: ready; object -> slot until poll */
  for (i = 1; (size_t)i <= n; i++) {
    int fd, flags = pushitem(L, i, &fd);  /* 5: the object */
    lua_pushvalue(L, 5);
    lua_rawget(L, 4);
    if (lua_isnil(L, -1)) {  /* a new object: a slot of its own */
      fds[used].fd = fd;
      fds[used].events = ux_poll_events(flags);
      fds[used].revents = 0;
      itemof[used] = i;
      lua_pushvalue(L, 5);
      lua_pushinteger(L, (lua_Integer)used++);
      lua_rawset(L, 4);
    }
    else  /* seen before: one slot, both entries' events */
      /* NOLINTNEXTLINE(bugprone-narrowing-conversions): shorts OR'd fit */
      fds[lua_tointeger(L, -1)].events |= ux_poll_events(flags);
    lua_settop(L, 4);
  }
  ux_deadline_init(&d, timeout);
  if ((err = ux_poll(fds, used, &d, &nready)) != 0)
    return ux_fail(L, 0, "poll", err);
  for (k = 0; k < used; k++) {  /* each slot's entry in ready: its letters */
    int flags = (nready > 0) ? ux_poll_flags(fds[k].revents) : 0;
    pushobj(L, itemof[k]);
    if (flags != 0) { pushletters(L, flags); ready++; }
    else lua_pushnil(L);
    lua_rawset(L, 4);
  }
  lua_pushinteger(L, ready);
  return 2;
}

/* }====================================================== */


/* {======================================================
** The poller
** ======================================================= */

/* methods have the poller metatable as upvalue 1: one comparison */
static poller *topoller (lua_State *L) {
  poller *p = (poller *)lua_touserdata(L, 1);
  if (p != NULL && lua_getmetatable(L, 1)) {
    int same = lua_rawequal(L, -1, lua_upvalueindex(1));
    lua_pop(L, 1);
    if (same) return p;
  }
  return (poller *)luaL_checkudata(L, 1, POLLER_META);  /* raises */
}

static poller *checkpoller (lua_State *L) {
  poller *p = topoller(L);
  if (p->epfd < 0) luaL_argerror(L, 1, "attempt to use a closed poller");
  return p;
}

/* pushes byfd and byobj */
static void pushreg (lua_State *L) {
  ux_getuv(L, 1);
  lua_rawgeti(L, -1, 1);
  lua_rawgeti(L, -2, 2);
  lua_remove(L, -3);
}

/* resizes a block with the state's allocator; NULL when it cannot */
static void *resize (lua_State *L, void *p, size_t old, size_t size) {
  void *ud;
  lua_Alloc f = lua_getallocf(L, &ud);
  return f(ud, p, old, size);
}

/* room for gens[fd]; 0 or ENOMEM */
static int growgens (lua_State *L, poller *p, int fd) {
  size_t n;
  uint32_t *g;
  if (fd < p->ngens) return 0;
  n = (size_t)p->ngens * 2;
  if (n <= (size_t)fd) n = (size_t)fd + 1;
  if (n < 64) n = 64;
  g = (uint32_t *)resize(L, p->gens, (size_t)p->ngens * sizeof(uint32_t),
                         n * sizeof(uint32_t));
  if (g == NULL) return ENOMEM;
  memset(g + p->ngens, 0, (n - (size_t)p->ngens) * sizeof(uint32_t));
  p->gens = g;
  p->ngens = (int)n;
  return 0;
}

/* room for n events in wait's buffer; 0 or ENOMEM */
static int growev (lua_State *L, poller *p, int n) {
  ux_pevent *ev;
  if (n <= p->nev) return 0;
  ev = (ux_pevent *)resize(L, p->ev, (size_t)p->nev * sizeof(ux_pevent),
                           (size_t)n * sizeof(ux_pevent));
  if (ev == NULL) return ENOMEM;
  p->ev = ev;
  p->nev = n;
  return 0;
}

/* closes the epoll descriptor; 'all' (__gc) also frees the buffers,
** which a wait in progress may still read until then */
static void closepoller (lua_State *L, poller *p, int all) {
  if (p->epfd >= 0) {
    int fd = p->epfd;
    p->epfd = -1;
    p->count = 0;
    ux_close(fd);
  }
  if (all) {
    p->ev = (ux_pevent *)resize(L, p->ev, (size_t)p->nev * sizeof(ux_pevent),
                                0);
    p->gens = (uint32_t *)resize(L, p->gens,
                                 (size_t)p->ngens * sizeof(uint32_t), 0);
    p->nev = p->ngens = 0;
  }
}

/* nil, "op: ...", code, with the words of a poller for its codes */
static int failctl (lua_State *L, const char *op, int err) {
  const char *what = NULL;
  if (err == EEXIST) what = "already added";
  else if (err == ENOENT) what = "not added";
  else if (err == EPERM) what = "this kind of file cannot be watched";
  return ux_failmsg(L, 0, op, err, what);
}

/***
A set of objects to watch, on Linux through epoll: `wait` costs the
same whether it holds one descriptor or ten thousand. Elsewhere it
fails with `ENOTSUP`.
@function poller
@return a poller
@fail `nil, msg, code`
*/
static int l_poller (lua_State *L) {
  poller *p = (poller *)ux_newudata(L, sizeof(poller));
  int err;
  memset(p, 0, sizeof(*p));
  p->epfd = -1;  /* closed until epoll_create1 succeeds */
  luaL_setmetatable(L, POLLER_META);
  lua_createtable(L, 2, 0);
  lua_newtable(L);
  lua_rawseti(L, -2, 1);  /* byfd */
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawseti(L, -2, 2);  /* byobj */
  ux_setuv(L, -2);
  err = ux_epoll_create(&p->epfd);
  if (err == ENOTSUP) return ux_failmsg(L, 0, "poller", err, "needs epoll "
                                        "(Linux)");
  if (err != 0) return ux_fail(L, 0, "poller", err);
  return 1;
}

/***
Watches `obj` (a uxsock handle, an open Lua file or an integer
descriptor) for `events`. Level-triggered: `wait` reports it for as long
as it is ready. A regular file cannot be watched (`EPERM`).
@function poller:add
@within poller
@param obj the object
@tparam[opt="r"] string events `"r"`, `"w"` or `"rw"`
@return `true`
@fail `nil, msg, code`; `EEXIST` when its descriptor is there already
*/
static int p_add (lua_State *L) {
  poller *p = checkpoller(L);
  int fd = ux_checkfdobj(L, 2, 2, "object");
  int flags = checkevents(L, 3, 3, 0);
  int isint = (lua_type(L, 2) == LUA_TNUMBER);
  uint32_t gen = p->gen + 1;
  int err;
  /* cppcheck-suppress knownConditionTrueFalse ; p->gen + 1 wraps to 0 */
  if (gen == 0) gen = 1;  /* 0 is no registration's */
  lua_settop(L, 3);
  pushreg(L);  /* 4: byfd, 5: byobj */
  lua_rawgeti(L, 4, fd);  /* 6: what was at fd (a stale entry, or nil) */
  lua_pushvalue(L, 2);
  lua_rawget(L, 5);  /* 7: the object's fd before */
  /* the tables first: setting a new key can raise, and then the kernel
  ** has nothing; byobj first, as remove takes an entry there alone for
  ** stale */
  if (!isint) {
    lua_pushvalue(L, 2);
    lua_pushinteger(L, fd);
    lua_rawset(L, 5);
  }
  lua_pushvalue(L, 2);
  lua_rawseti(L, 4, fd);
  err = ux_epoll_ctl(p->epfd, UX_PADD, fd, flags, KEY(gen, fd));
  if (err == 0 && (err = growgens(L, p, fd)) != 0)
    (void)ux_epoll_ctl(p->epfd, UX_PDEL, fd, 0, 0);
  if (err != 0) {  /* put back what was there: no new key, no raise */
    lua_pushvalue(L, 6);
    lua_rawseti(L, 4, fd);
    if (!isint) {
      lua_pushvalue(L, 2);
      lua_pushvalue(L, 7);
      lua_rawset(L, 5);
    }
    return failctl(L, "add", err);
  }
  p->gen = gen;
  p->gens[fd] = gen;
  if (lua_isnil(L, 6)) p->count++;  /* else it replaces a stale entry */
  lua_pushboolean(L, 1);
  return 1;
}

/***
Changes the events `obj` is watched for.
@function poller:modify
@within poller
@param obj an object added before
@tparam[opt="r"] string events `"r"`, `"w"` or `"rw"`
@return `true`
@fail `nil, msg, code`; `ENOENT` when it was not added
*/
static int p_modify (lua_State *L) {
  poller *p = checkpoller(L);
  int fd = ux_checkfdobj(L, 2, 2, "object");
  int flags = checkevents(L, 3, 3, 0);
  uint32_t gen = fd < p->ngens ? p->gens[fd] : 0;
  int err = ux_epoll_ctl(p->epfd, UX_PMOD, fd, flags, KEY(gen, fd));
  if (err != 0) return failctl(L, "modify", err);
  lua_pushboolean(L, 1);
  return 1;
}

/***
Stops watching `obj`. A handle or file closed since it was added is
simply forgotten (closing took it out of the kernel's set); an integer
removes whatever was added with that descriptor.
@function poller:remove
@within poller
@param obj an object added before
@return `true`
@fail `nil, msg, code`; `ENOENT` when it was not added
*/
static int p_remove (lua_State *L) {
  poller *p = checkpoller(L);
  int closed = 0, fd;
  lua_settop(L, 2);
  if (lua_type(L, 2) == LUA_TNUMBER || !(closed = isclosedobj(L, 2)))
    (void)ux_checkfdobj(L, 2, 2, "object");  /* raises for a wrong type */
  pushreg(L);  /* 3: byfd, 4: byobj */
  if (lua_type(L, 2) == LUA_TNUMBER)
    lua_pushvalue(L, 2);
  else {
    lua_pushvalue(L, 2);
    lua_rawget(L, 4);
  }
  if (lua_isnil(L, 5)) return failctl(L, "remove", ENOENT);
  fd = (int)lua_tointeger(L, 5);
  lua_rawgeti(L, 3, fd);  /* 6: the entry at fd */
  if (lua_isnil(L, 6)) return failctl(L, "remove", ENOENT);
  if (lua_type(L, 2) != LUA_TNUMBER && !lua_rawequal(L, 2, 6)) {
    /* stale: its fd went to a later add, which stays */
    lua_pushvalue(L, 2);
    lua_pushnil(L);
    lua_rawset(L, 4);
    lua_pushboolean(L, 1);
    return 1;
  }
  if (!closed) {
    int err = ux_epoll_ctl(p->epfd, UX_PDEL, fd, 0, 0);
    /* ENOENT, EBADF: the kernel had dropped it (an integer closed since) */
    if (err != 0 && err != ENOENT && err != EBADF)
      return failctl(L, "remove", err);
  }
  lua_pushnil(L);
  lua_rawseti(L, 3, fd);
  if (lua_type(L, 6) != LUA_TNUMBER) {
    lua_pushvalue(L, 6);
    lua_pushnil(L);
    lua_rawset(L, 4);
  }
  p->count--;
  lua_pushboolean(L, 1);
  return 1;
}

/***
Waits until an object added is ready, or for `timeout` seconds, and
tells which, as `uxsock.poll` does: `ready` maps each ready object to
its letters (`r`, `w`, `h`, `e`). At most `max` objects per call; the
others are there for the next.
@function poller:wait
@within poller
@tparam[opt] number timeout seconds, `0` to only look; `nil` or
`math.huge` waits until one is ready
@tparam[opt=256] integer max the most objects to report, at least 1
@return `ready, n`: the table and how many objects are in it (an empty
table and `0` when the time ran out)
@fail `nil, msg, code`
*/
static int p_wait (lua_State *L) {
  poller *p = checkpoller(L);
  double timeout = ux_opttimeout(L, 2, 2, "timeout");
  lua_Integer max = luaL_optinteger(L, 3, UX_POLLER_MAXEVENTS);
  ux_deadline d;
  int n, got, i, k, err;
  luaL_argcheck(L, max >= 1, 3, "max must be at least 1");
  /* never more events than descriptors: the buffer stays small */
  n = (max > p->count) ? p->count : (int)max;
  if (n < 1) n = 1;
  if ((err = growev(L, p, n)) != 0) return ux_fail(L, 0, "wait", err);
  lua_settop(L, 3);
  pushreg(L);
  lua_pop(L, 1);  /* 4: byfd */
  ux_deadline_init(&d, timeout);
  for (;;) {
    if ((err = ux_epoll_wait(p->epfd, p->ev, n, &d, &got)) != 0)
      return ux_fail(L, 0, "wait", err);
    lua_createtable(L, 0, got);  /* 5: ready */
    for (i = k = 0; i < got; i++) {
      uint64_t key = ux_pevent_key(&p->ev[i]);
      int fd = (int)(uint32_t)key;
      int flags = ux_pevent_flags(&p->ev[i]);
      /* an older registration of this number, or one removed: not ours */
      if (fd >= p->ngens || p->gens[fd] != (uint32_t)(key >> 32) ||
          flags == 0)
        continue;
      lua_rawgeti(L, 4, fd);
      if (lua_isnil(L, -1) || isclosedobj(L, -1)) {
        lua_pop(L, 1);
        continue;
      }
      pushletters(L, flags);
      lua_rawset(L, 5);
      k++;
    }
    /* only stale events: they are not a wake-up, wait for the time left */
    if (k > 0 || got == 0 || ux_deadline_ms(&d) == 0) break;
    lua_pop(L, 1);
  }
  lua_pushinteger(L, k);
  return 2;
}

/***
How many descriptors are added (a handle closed while added counts
until it is removed or its descriptor is added again). `#p` is the same.
@function poller:count
@within poller
@return an integer
*/
static int p_count (lua_State *L) {
  lua_pushinteger(L, checkpoller(L)->count);
  return 1;
}

/***
The epoll descriptor, to nest the poller in another event loop: it is
readable when `wait` has something. The poller still owns it: do not
close it.
@function poller:getfd
@within poller
@return an integer
*/
static int p_getfd (lua_State *L) {
  lua_pushinteger(L, checkpoller(L)->epfd);
  return 1;
}

/***
Closes the poller and forgets the objects it held; they stay open.
Closing twice is harmless.
@function poller:close
@within poller
@return `true`, also for a poller that was closed before
*/
static int p_close (lua_State *L) {
  poller *p = topoller(L);
  if (p->epfd >= 0) {
    closepoller(L, p, 0);
    lua_pushnil(L);
    ux_setuv(L, 1);  /* the objects are no longer held */
  }
  lua_pushboolean(L, 1);
  return 1;
}

/***
`__close` and `__gc` close the poller as `close` does. They never
raise.
@function poller:__close
@within poller
*/
static int p_gc (lua_State *L) {
  poller *p = (poller *)luaL_testudata(L, 1, POLLER_META);
  if (p != NULL) closepoller(L, p, 1);
  return 0;
}

static int p_closemeta (lua_State *L) {
  poller *p = (poller *)luaL_testudata(L, 1, POLLER_META);
  if (p != NULL) closepoller(L, p, 0);
  return 0;
}

/***
Whether the poller is closed.
@function poller:isclosed
@within poller
@return `true` or `false`
*/
static int p_isclosed (lua_State *L) {
  lua_pushboolean(L, topoller(L)->epfd < 0);
  return 1;
}

/***
`"uxsock.poller (fd 5, 3 registered)"`, or `"uxsock.poller (closed)"`.
@function poller:__tostring
@within poller
@return a string
*/
static int p_tostring (lua_State *L) {
  poller *p = topoller(L);
  if (p->epfd < 0) lua_pushliteral(L, POLLER_META " (closed)");
  else lua_pushfstring(L, POLLER_META " (fd %d, %d registered)", p->epfd,
                       p->count);
  return 1;
}

/* }====================================================== */


static const luaL_Reg poller_methods[] = {
  {"add", p_add},
  {"modify", p_modify},
  {"remove", p_remove},
  {"wait", p_wait},
  {"count", p_count},
  {"getfd", p_getfd},
  {"close", p_close},
  {"isclosed", p_isclosed},
  {NULL, NULL}
};

static const luaL_Reg poller_meta[] = {
  {"__gc", p_gc},
  {"__close", p_closemeta},
  {"__tostring", p_tostring},
  {"__len", p_count},
  {NULL, NULL}
};

const luaL_Reg ux_poll_functions[] = {
  {"poll", l_poll},
  {"poller", l_poller},
  {NULL, NULL}
};

/* once per Lua state (ux_open_kinds); a metatable made before by an
** open that ran out of memory half way is filled again */
void ux_open_poll (lua_State *L) {
  luaL_newmetatable(L, POLLER_META);
  lua_pushvalue(L, -1);  /* upvalue 1 of every function: the metatable */
  luaL_setfuncs(L, poller_meta, 1);
  lua_createtable(L, 0, 8);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, poller_methods, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}


/***
Poller.
A set of objects to watch from `uxsock.poller()`, on Linux through
epoll: `wait` costs the same however many it holds. Objects are uxsock
handles, open Lua files or integer descriptors, and `wait` gives back
the very object added. Methods of a closed poller raise, but for
`close` and `isclosed`.
@type poller
*/
