/***
@module uxsock
*/

/*
** poll.c: uxsock.poll, the readiness of a list of objects through
** poll(2), and uxsock.poller, an epoll set whose wait costs the same
** however many descriptors it holds (syspoll.c has the system calls).
**
** An object is a uxsock handle, a Lua file, an integer descriptor, or a
** stand-in for a handle: a value whose metatable has a function
** __uxsock_handle that returns the handle (uxsock.loop's proxies).
** Results map the very object given to its letters ("r", "w", "h", "e").
**
** The poller: epoll keys a registration on the open file *and* the
** descriptor number, and drops it by itself only when the file's last
** descriptor anywhere closes. So a descriptor closed while a copy lives
** (sent with sendfds, inherited by a forked child, received again by
** recvfds) leaves an entry that no call can name any more: level-
** triggered, it is reported on every wait, which would spin. Who acts:
**   - this program closing a handle (close, <close>, __gc, detachfd),
**     while any number of pollers hold it, by itself or by its number;
**   - a copy of the descriptor elsewhere: in flight in a socket, in a
**     forked child, a second handle of the same file (recvfds);
**   - a Lua file or an integer closed behind the poller's back, which
**     uxsock cannot see;
**   - a forked child, which shares the parent's kernel sets (fork copies
**     the epoll descriptors, not the sets): its add, remove or close
**     would change the parent's set;
**   - a finalizer during a method (THE RULE, handle.h): it may close
**     handles, use this poller (wait, add, remove), or close it;
**   - the poller closed or collected before the handles it held.
** How each is met:
**   - Close means gone. ux_closehandle calls ux_poll_forget before the
**     descriptor is closed (or given away): every open poller of the Lua
**     state that has a registration at that number drops it, from the
**     kernel (EPOLL_CTL_DEL, while the descriptor still names the file)
**     and from its tables. The pollers of a state are a list, linked
**     through the poller structs; the list's head is a userdata in the
**     registry. A poller joins at creation and leaves at close or __gc,
**     so the list never holds a poller that is closed or freed.
**   - What no call can remove is found by its event: an event whose key
**     (generation, fd) matches no live registration, or whose object is
**     a closed Lua file, makes wait rebuild: a new set with every live
**     registration, the old one closed with whatever the kernel kept in
**     it. The first getfd makes a second set that holds the first, so a
**     rebuild swaps the inner set and the descriptor an outer loop
**     watches stays the same file: its readiness agrees with wait. (Made
**     only then: an add to a set that is itself watched costs the kernel
**     a check of the whole graph.)
**   - Such an entry also meets an add of the same open file at the same
**     number (recvfds, dup2 put a copy there): the kernel says EEXIST,
**     and add takes the entry over as its own. modify of an object that
**     is not the registered one (a closed Lua file is) is ENOENT.
**   - A poller used in a forked child first rebuilds both sets as its
**     own (pid differs from the one that made them); the forget hook
**     touches the kernel's set only in the process it belongs to.
**   - wait allocates only once it has its events: from there it holds
**     its buffer (a userdata) on its stack and takes it from the poller,
**     so a wait in a finalizer makes another, and each event's
**     registration is re-read before it is reported; regs is read
**     through p, always.
** Ownership: the poller owns its sets and regs[fd] (the generation and
** events of the registration at fd; 0 is none). Its user value is
** {byfd, byobj, ev}: ev is wait's buffer; byfd[fd] is the object at fd
** (what wait gives back), byobj[object] its fd (how remove finds an
** object whose registration is gone); byobj has weak keys. An integer
** names a descriptor and is only in byfd. registry[p] is byfd too, for
** the hook, which has only the poller's struct.
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

/* the registration at a descriptor */
typedef struct preg {
  uint32_t gen;      /* 0: none */
  int flags;         /* UX_PIN, UX_POUT */
} preg;

typedef struct poller {
  int set;           /* the set of the registrations; -1: closed */
  int pub;           /* made by getfd, holding 'set'; -1: none yet */
  int count;         /* registrations (regs[fd].gen != 0) */
  long pid;          /* the process the sets belong to */
  uint32_t gen;      /* the generation of the last add */
  int nregs;         /* slots in regs */
  int nev;           /* slots in ev */
  preg *regs;
  ux_pevent *ev;     /* wait's buffer: the userdata uv[UV_EV], or NULL */
  struct poller *next, **pprev;  /* the open pollers of the Lua state */
} poller;

/* registry[&pollers_key]: the head of the list of open pollers */
typedef struct pollers {
  poller *first;
} pollers;
static const char pollers_key = 0;

#define KEY(gen, fd)  (((uint64_t)(gen) << 32) | (uint32_t)(fd))

/* the slots of a poller's user value */
enum { UV_BYFD = 1, UV_BYOBJ, UV_EV };


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

/* Is the value at idx a stand-in for a handle (its metatable has
** __uxsock_handle)? A table that is not is a poll entry {object, events} */
static int isstandin (lua_State *L, int idx) {
  int t = lua_type(L, idx);
  if (t != LUA_TTABLE && t != LUA_TUSERDATA) return 0;
  if (luaL_getmetafield(L, idx, "__uxsock_handle") == 0) return 0;
  lua_pop(L, 1);
  return 1;
}

/* the name of an argument in messages: items[item], or "object" */
static const char *objname (lua_State *L, int item) {
  return item > 0 ? lua_pushfstring(L, "items[%d]", item) : "object";
}

/* pushes the handle the stand-in at idx gives (__uxsock_handle(obj))
** and returns 1; 0, with nothing pushed, for any other value */
static int pushstandin (lua_State *L, int idx, int arg, int item) {
  int t = lua_type(L, idx);
  if (t != LUA_TTABLE && t != LUA_TUSERDATA) return 0;
  idx = lua_absindex(L, idx);
  if (luaL_getmetafield(L, idx, "__uxsock_handle") == 0) return 0;
  lua_pushvalue(L, idx);
  lua_call(L, 1, 1);
  if (ux_tohandle(L, -1) == NULL) {
    const char *got = luaL_typename(L, -1);  /* before objname pushes */
    luaL_argerror(L, arg, lua_pushfstring(L, "%s: __uxsock_handle must give "
                  "a uxsock handle, got %s", objname(L, item), got));
  }
  return 1;
}

/* the descriptor of the object at idx (ux_checkfdobj, and stand-ins);
** raises naming it (items[item], or "object" for item 0) */
static int objfd (lua_State *L, int idx, int arg, int item) {
  int fd = ux_tofd(L, idx);
  if (fd >= 0) return fd;
  idx = lua_absindex(L, idx);
  if (pushstandin(L, idx, arg, item)) {
    int h = lua_gettop(L);
    fd = ux_tofd(L, h);
    if (fd < 0) fd = ux_checkfdobj(L, h, arg, objname(L, item));
    lua_settop(L, h - 1);
    return fd;
  }
  return ux_checkfdobj(L, idx, arg, objname(L, item));
}

/* Is the value at idx a handle or a Lua file that was closed, or, with
** arg > 0 (its number in messages), a stand-in whose handle was? A
** closed handle is out of every poller (ux_poll_forget); a closed Lua
** file may still have an entry in a kernel set (a copy of its
** descriptor lives). */
static int isclosedobj (lua_State *L, int idx, int arg) {
  ux_handle *h;
  int isfile;
  FILE *f;
  if (arg > 0 && pushstandin(L, idx, arg, 0)) {
    int closed = ux_tohandle(L, -1)->fd < 0;
    lua_pop(L, 1);
    return closed;
  }
  if (lua_type(L, idx) != LUA_TUSERDATA) return 0;
  if ((h = ux_tohandle(L, idx)) != NULL) return h->fd < 0;
  f = ux_tofile(L, idx, &isfile);
  return isfile && f == NULL;
}

/* }====================================================== */


/* {======================================================
** uxsock.poll
** ======================================================= */

/* Is the value at idx an entry {object, events}? */
static int ispair (lua_State *L, int idx) {
  return lua_istable(L, idx) && !isstandin(L, idx);
}

/* pushes the object of items[item] (the entry, or its [1]) */
static void pushobj (lua_State *L, int item) {
  lua_rawgeti(L, 1, item);
  if (ispair(L, -1)) {
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
  }
}

/* pushes the object of items[item]; its descriptor and events */
static int pushitem (lua_State *L, int item, int *fd) {
  int flags = UX_PIN;
  lua_rawgeti(L, 1, item);
  if (ispair(L, -1)) {
    int t = lua_gettop(L);
    lua_rawgeti(L, t, 2);
    flags = checkevents(L, t + 1, 1, item);
    lua_settop(L, t);
    lua_rawgeti(L, t, 1);
    lua_remove(L, t);
  }
  *fd = objfd(L, lua_gettop(L), 1, item);
  return flags;
}

/***
Which of the objects in `items` are ready, through poll(2): fine for a
few descriptors (a poller is for many). An entry of `items` is an
object (a uxsock handle, a `uxsock.loop` proxy, an open Lua file or an
integer descriptor), watched for reading, or a pair `{object, events}`
with events `"r"`,
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
** The poller: its registrations, its sets, the state's list
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
  if (p->set < 0) luaL_argerror(L, 1, "attempt to use a closed poller");
  return p;
}

/* pushes byfd and byobj */
static void pushreg (lua_State *L) {
  ux_getuv(L, 1);
  lua_rawgeti(L, -1, UV_BYFD);
  lua_rawgeti(L, -2, UV_BYOBJ);
  lua_remove(L, -3);
}

/* t[k] = nil in the table at idx, only if t[k] is there: setting an
** absent key can allocate, and this runs where nothing may (the hook) */
static void unsetkey (lua_State *L, int idx, int k) {
  idx = lua_absindex(L, idx);
  lua_rawgeti(L, idx, k);
  if (!lua_isnil(L, -1)) {
    lua_pushnil(L);
    lua_rawseti(L, idx, k);
  }
  lua_pop(L, 1);
}

/* Forgets the registration at fd, whose kernel entry was removed or
** goes with its set. Never allocates: the close hook calls it. */
static void dropreg (lua_State *L, poller *p, int fd) {
  p->regs[fd].gen = 0;
  p->count--;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, p) == LUA_TTABLE) unsetkey(L, -1, fd);
  lua_pop(L, 1);
}

/* resizes a block with the state's allocator (which never runs the
** collector); NULL when it cannot */
static void *resize (lua_State *L, void *p, size_t old, size_t size) {
  void *ud;
  lua_Alloc f = lua_getallocf(L, &ud);
  return f(ud, p, old, size);
}

/* room for regs[fd]; 0 or ENOMEM */
static int growregs (lua_State *L, poller *p, int fd) {
  size_t n;
  preg *r;
  if (fd < p->nregs) return 0;
  n = (size_t)p->nregs * 2;
  if (n <= (size_t)fd) n = (size_t)fd + 1;
  if (n < 64) n = 64;
  r = (preg *)resize(L, p->regs, (size_t)p->nregs * sizeof(preg),
                     n * sizeof(preg));
  if (r == NULL) return ENOMEM;
  memset(r + p->nregs, 0, (n - (size_t)p->nregs) * sizeof(preg));
  p->regs = r;
  p->nregs = (int)n;
  return 0;
}

/* the registration at fd, or 0 */
static uint32_t genat (const poller *p, int fd) {
  return (fd >= 0 && fd < p->nregs) ? p->regs[fd].gen : 0;
}

/* Is the registration at fd, whose object is at idx (byfd[fd] as it
** was), one of no live object: none, or a Lua file closed since? Its
** kernel entry may live on, while a copy of the descriptor does. */
static int stalereg (lua_State *L, const poller *p, int fd, int idx) {
  return genat(p, fd) == 0 || lua_isnil(L, idx) || isclosedobj(L, idx, 0);
}

/* room for n events in wait's buffer, a userdata at uv[UV_EV] (the
** user value at uv): the collector frees it, also after a raise */
static void growev (lua_State *L, poller *p, int n, int uv) {
  ux_pevent *ev;
  if (p->ev != NULL && n <= p->nev) return;
  ev = (ux_pevent *)lua_newuserdata(L, (size_t)n * sizeof(ux_pevent));
  lua_rawseti(L, uv, UV_EV);  /* [UV_EV] is in the array part: no growth */
  p->ev = ev;
  p->nev = n;
}

/* a set that holds 'set' (getfd's): 0 or an errno */
static int newpub (int set, int *pub) {
  int err = ux_epoll_create(pub);
  if (err == 0 && (err = ux_epoll_ctl(*pub, UX_PADD, set, UX_PIN, 0)) != 0) {
    ux_close(*pub);
    *pub = -1;
  }
  return err;
}

/* A new set with every registration that lives; the old one is closed
** with what the kernel kept in it that no call can name (an entry of a
** descriptor closed while a copy lives), or, in a forked child, left to
** the parent, with getfd's set. The descriptors keep their numbers, but
** the set's inside getfd's. Registrations whose object was closed
** behind the poller's back are dropped. 0, or an errno and the old
** sets stay. */
static int rebuild (lua_State *L, poller *p) {
  int top = lua_gettop(L), set, fd, err;
  long pid = ux_pid();
  if ((err = ux_epoll_create(&set)) != 0) return err;
  pushreg(L);  /* top+1: byfd */
  for (fd = 0; fd < p->nregs && err == 0; fd++) {
    if (p->regs[fd].gen == 0) continue;
    lua_rawgeti(L, top + 1, fd);
    if (lua_isnil(L, -1) || isclosedobj(L, -1, 0)) err = EBADF;
    else err = ux_epoll_ctl(set, UX_PADD, fd, p->regs[fd].flags,
                            KEY(p->regs[fd].gen, fd));
    lua_pop(L, 1);
    /* gone: closed, or its number is now a regular file */
    if (err == EBADF || err == EPERM || err == ENOENT) {
      dropreg(L, p, fd);
      err = 0;
    }
  }
  lua_settop(L, top);
  if (err != 0) {
    ux_close(set);
    return err;
  }
  if (p->pub >= 0 && p->pid == pid) {  /* swap the set inside getfd's */
    if ((err = ux_epoll_ctl(p->pub, UX_PADD, set, UX_PIN, 0)) != 0) {
      ux_close(set);
      return err;
    }
    (void)ux_epoll_ctl(p->pub, UX_PDEL, p->set, 0, 0);
    ux_close(p->set);
    p->set = set;
  }
  else {
    int pub;
    if ((err = ux_epoll_replace(p->set, set)) != 0) {
      ux_close(set);
      return err;
    }
    /* a child: getfd's set is the parent's too */
    if (p->pub >= 0) {
      if ((err = newpub(p->set, &pub)) != 0) return err;
      if ((err = ux_epoll_replace(p->pub, pub)) != 0) {
        ux_close(pub);
        return err;
      }
    }
  }
  p->pid = pid;
  return 0;
}

/* in a forked child, the sets become the child's own (rebuild): 0, or
** an errno when they cannot be made */
static int ownsets (lua_State *L, poller *p) {
  return p->pid == ux_pid() ? 0 : rebuild(L, p);
}

/* pushes the list of this state's open pollers, made if need be; NULL
** (and nil pushed) when it was never made and 'make' is 0 */
static pollers *pushlist (lua_State *L, int make) {
  pollers *list;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &pollers_key) == LUA_TUSERDATA)
    return (pollers *)lua_touserdata(L, -1);
  if (!make) return NULL;
  lua_pop(L, 1);
  list = (pollers *)lua_newuserdata(L, sizeof(pollers));
  list->first = NULL;
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &pollers_key);
  return list;
}

static void listjoin (pollers *list, poller *p) {
  p->next = list->first;
  if (p->next != NULL) p->next->pprev = &p->next;
  p->pprev = &list->first;
  list->first = p;
}

static void listleave (poller *p) {
  if (p->pprev == NULL) return;
  *p->pprev = p->next;
  if (p->next != NULL) p->next->pprev = p->pprev;
  p->next = NULL;
  p->pprev = NULL;
}

/* The close hook (handle.h): every open poller of this state drops its
** registration at fd, which is about to be closed or given away; in the
** kernel's set too while the descriptor still names the file, unless
** the set is the parent process's (a forked child's poller before its
** first use). Runs in finalizers: no allocation, no raise. */
void ux_poll_forget (lua_State *L, int fd) {
  pollers *list = pushlist(L, 0);
  poller *p;
  long pid = 0;
  lua_pop(L, 1);  /* the registry keeps the list */
  if (list == NULL) return;
  for (p = list->first; p != NULL; p = p->next) {
    if (genat(p, fd) == 0) continue;
    if (pid == 0) pid = ux_pid();
    if (p->pid == pid) (void)ux_epoll_ctl(p->set, UX_PDEL, fd, 0, 0);
    dropreg(L, p, fd);
  }
}

/* closes the sets and leaves the list; 'all' (__gc) also frees regs */
static void closepoller (lua_State *L, poller *p, int all) {
  if (p->set >= 0) {
    int pub = p->pub, set = p->set;
    listleave(p);
    p->pub = p->set = -1;
    p->count = 0;
    ux_close(set);
    if (pub >= 0) ux_close(pub);
  }
  /* the hook's byfd; nil set only over a key that is there */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, p) != LUA_TNIL) {
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, p);
  }
  lua_pop(L, 1);
  if (all) {  /* regs is read through p; ev is the collector's */
    p->regs = (preg *)resize(L, p->regs, (size_t)p->nregs * sizeof(preg), 0);
    p->nregs = 0;
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

/* }====================================================== */


/* {======================================================
** The poller's functions
** ======================================================= */

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
  pollers *list;
  int err;
  memset(p, 0, sizeof(*p));
  p->set = p->pub = -1;  /* closed until the set is made */
  luaL_setmetatable(L, POLLER_META);
  lua_createtable(L, 3, 0);  /* the user value; [UV_EV] comes with wait */
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, p);  /* the hook's byfd */
  lua_rawseti(L, -2, UV_BYFD);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawseti(L, -2, UV_BYOBJ);
  ux_setuv(L, -2);
  list = pushlist(L, 1);
  lua_pop(L, 1);
  err = ux_epoll_create(&p->set);
  if (err == ENOTSUP) return ux_failmsg(L, 0, "poller", err, "needs epoll "
                                        "(Linux)");
  if (err != 0) return ux_fail(L, 0, "poller", err);
  p->pid = ux_pid();
  listjoin(list, p);
  return 1;
}

/***
Watches `obj` (a uxsock handle, a `uxsock.loop` proxy, an open Lua
file or an integer descriptor) for `events`. Level-triggered: `wait`
reports it for as long as it is ready. A regular file cannot be watched
(`EPERM`).
@function poller:add
@within poller
@param obj the object
@tparam[opt="r"] string events `"r"`, `"w"` or `"rw"`
@return `true`
@fail `nil, msg, code`; `EEXIST` when its descriptor is there already
*/
static int p_add (lua_State *L) {
  poller *p = checkpoller(L);
  int fd = objfd(L, 2, 2, 0);
  int flags = checkevents(L, 3, 3, 0);
  int isint = (lua_type(L, 2) == LUA_TNUMBER);
  uint32_t gen;
  int err;
  if ((err = ownsets(L, p)) != 0 || (err = growregs(L, p, fd)) != 0)
    return failctl(L, "add", err);
  lua_settop(L, 3);
  pushreg(L);  /* 4: byfd, 5: byobj */
  lua_rawgeti(L, 4, fd);  /* 6: what was at fd (a dropped entry, or nil) */
  lua_pushvalue(L, 2);
  lua_rawget(L, 5);  /* 7: the object's fd before */
  /* the tables first: setting a new key can raise, and then the kernel
  ** has nothing */
  if (!isint) {
    lua_pushvalue(L, 2);
    lua_pushinteger(L, fd);
    lua_rawset(L, 5);
  }
  lua_pushvalue(L, 2);
  lua_rawseti(L, 4, fd);
  /* after the allocations: a finalizer may have added meanwhile */
  gen = p->gen + 1;
  /* cppcheck-suppress knownConditionTrueFalse ; p->gen + 1 wraps to 0 */
  if (gen == 0) gen = 1;  /* 0 is no registration's */
  err = ux_epoll_ctl(p->set, UX_PADD, fd, flags, KEY(gen, fd));
  if (err == EEXIST && stalereg(L, p, fd, 6))
    /* the kernel still holds the entry of a Lua file closed since, at
    ** this number: the same open file came back (recvfds, dup), and the
    ** kernel keys on file and number. That entry becomes this one. */
    err = ux_epoll_ctl(p->set, UX_PMOD, fd, flags, KEY(gen, fd));
  if (err != 0) {  /* put back what was there, where it is still ours */
    lua_rawgeti(L, 4, fd);  /* 8 */
    if (lua_rawequal(L, 8, 2)) {
      lua_pushvalue(L, 6);
      lua_rawseti(L, 4, fd);
    }
    if (!isint) {
      lua_pushvalue(L, 2);
      lua_rawget(L, 5);  /* 9 */
      if (lua_type(L, 9) == LUA_TNUMBER && lua_tointeger(L, 9) == fd) {
        lua_pushvalue(L, 2);
        lua_pushvalue(L, 7);
        lua_rawset(L, 5);
      }
    }
    return failctl(L, "add", err);
  }
  p->gen = gen;
  /* a registration there already was one the kernel had dropped (a Lua
  ** file closed since): this one takes its place */
  if (p->regs[fd].gen == 0) p->count++;
  p->regs[fd].gen = gen;
  p->regs[fd].flags = flags;
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
  int fd = objfd(L, 2, 2, 0);
  int flags = checkevents(L, 3, 3, 0);
  uint32_t gen;
  int err;
  if ((err = ownsets(L, p)) != 0) return failctl(L, "modify", err);
  if ((gen = genat(p, fd)) == 0) return failctl(L, "modify", ENOENT);
  lua_settop(L, 3);
  pushreg(L);  /* 4: byfd, 5: byobj */
  lua_rawgeti(L, 4, fd);  /* 6: the object registered at fd */
  if (stalereg(L, p, fd, 6)) {
    /* a Lua file closed since: not this object's (the same open file may
    ** be at this number again, and the kernel would take the change) */
    dropreg(L, p, fd);
    return failctl(L, "modify", ENOENT);
  }
  err = ux_epoll_ctl(p->set, UX_PMOD, fd, flags, KEY(gen, fd));
  if (err == ENOENT || err == EBADF) {
    /* the kernel dropped it: closed behind the poller's back */
    dropreg(L, p, fd);
    return failctl(L, "modify", err);
  }
  if (err != 0) return failctl(L, "modify", err);
  p->regs[fd].flags = flags;
  lua_pushboolean(L, 1);
  return 1;
}

/***
Stops watching `obj`. A handle closed since it was added was taken out
when it closed; removing it too is harmless (`true`), as for a Lua file
closed since. An integer removes whatever was added with that
descriptor.
@function poller:remove
@within poller
@param obj an object added before
@return `true`
@fail `nil, msg, code`; `ENOENT` when it was not added
*/
static int p_remove (lua_State *L) {
  poller *p = checkpoller(L);
  int isint = (lua_type(L, 2) == LUA_TNUMBER);
  int closed = 0, fd, err;
  lua_settop(L, 2);
  if (isint || !(closed = isclosedobj(L, 2, 2)))
    (void)objfd(L, 2, 2, 0);  /* raises for a wrong type */
  if ((err = ownsets(L, p)) != 0) return failctl(L, "remove", err);
  pushreg(L);  /* 3: byfd, 4: byobj */
  lua_pushvalue(L, 2);
  if (!isint) lua_rawget(L, 4);
  if (lua_isnil(L, 5)) return failctl(L, "remove", ENOENT);
  fd = (int)lua_tointeger(L, 5);
  lua_rawgeti(L, 3, fd);  /* 6: the object registered at fd */
  if (genat(p, fd) == 0 || lua_isnil(L, 6) || (!isint && !lua_rawequal(L, 2, 6))) {
    if (isint) return failctl(L, "remove", ENOENT);
    /* gone already (closed, or its fd went to a later add, which stays) */
    lua_pushvalue(L, 2);
    lua_pushnil(L);
    lua_rawset(L, 4);
    lua_pushboolean(L, 1);
    return 1;
  }
  if (!closed) {
    err = ux_epoll_ctl(p->set, UX_PDEL, fd, 0, 0);
    /* ENOENT, EBADF: the kernel had dropped it (an integer closed since) */
    if (err != 0 && err != ENOENT && err != EBADF)
      return failctl(L, "remove", err);
  }
  if (lua_type(L, 6) != LUA_TNUMBER) {
    lua_pushvalue(L, 6);
    lua_pushnil(L);
    lua_rawset(L, 4);
  }
  dropreg(L, p, fd);
  lua_pushboolean(L, 1);
  return 1;
}

/* Is the event at ev of a registration that lives? byfd at index t */
static int liveevent (lua_State *L, poller *p, const ux_pevent *ev, int t) {
  uint64_t key = ux_pevent_key(ev);
  int fd = (int)(uint32_t)key, live;
  if (genat(p, fd) != (uint32_t)(key >> 32)) return 0;
  lua_rawgeti(L, t, fd);
  live = !lua_isnil(L, -1) && !isclosedobj(L, -1, 0);
  lua_pop(L, 1);
  return live;
}

/***
Waits until an object added is ready, or for `timeout` seconds, and
tells which, as `uxsock.poll` does: `ready` maps each ready object to
its letters (`r`, `w`, `h`, `e`). At most `max` objects per call; the
others are there for the next. The wait uses no processor time while
nothing is ready, whatever was closed while added.
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
  ux_pevent *ev;
  int n, nev, got, i, k, err;
  luaL_argcheck(L, max >= 1, 3, "max must be at least 1");
  if ((err = ownsets(L, p)) != 0) return ux_fail(L, 0, "wait", err);
  lua_settop(L, 3);
  ux_getuv(L, 1);  /* 4: uv */
  lua_rawgeti(L, 4, UV_BYFD);  /* 5: byfd */
  /* never more events than registrations: the buffer stays small */
  n = (max > p->count) ? p->count : (int)max;
  if (n < 1) n = 1;
  growev(L, p, n, 4);
  ev = p->ev;
  nev = p->nev;
  ux_deadline_init(&d, timeout);
  for (;;) {  /* no allocation until the events are reported */
    int stale = 0;
    if ((err = ux_epoll_wait(p->set, ev, n, &d, &got)) != 0)
      return ux_fail(L, 0, "wait", err);
    for (i = k = 0; i < got; i++) {  /* the live ones to the front */
      if (liveevent(L, p, &ev[i], 5)) ev[k++] = ev[i];
      else stale = 1;
    }
    if (!stale) break;
    /* an event no live registration has: an entry nobody can remove */
    if ((err = rebuild(L, p)) != 0) return ux_fail(L, 0, "wait", err);
    /* they are gone now: wait for the time left, or, with events that
    ** stale ones kept out of the buffer, look once more at once */
    if (k > 0) ux_deadline_init(&d, 0);
    else if (ux_deadline_ms(&d) == 0) break;
  }
  /* The one allocation: a finalizer may run in it, and wait on this
  ** poller; the buffer is held on the stack and taken from p meanwhile,
  ** so such a wait makes one of its own. Then none: each registration
  ** is re-read, the letters are the metatable's, ready has room. */
  lua_rawgeti(L, 4, UV_EV);  /* 6: the buffer */
  p->ev = NULL;
  lua_createtable(L, 0, k);  /* 7: ready */
  for (i = got = 0; i < k; i++) {
    uint64_t key = ux_pevent_key(&ev[i]);
    int fd = (int)(uint32_t)key;
    if (genat(p, fd) != (uint32_t)(key >> 32)) continue;
    lua_rawgeti(L, 5, fd);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    lua_rawgeti(L, lua_upvalueindex(1), ux_pevent_flags(&ev[i]));
    lua_rawset(L, 7);
    got++;
  }
  if (p->ev == NULL) {  /* no nested wait made another */
    p->ev = ev;
    p->nev = nev;
  }
  lua_pushinteger(L, got);
  return 2;
}

/***
How many descriptors are added. A handle closed while added is out as
it closes; a Lua file or an integer closed while added counts until it
is removed, its descriptor is added again, or `wait` finds it closed.
`#p` is the same.
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
readable when `wait` has something, and stays the same descriptor for
the poller's life (in a forked child, the child's own, at the same
number). The poller still owns it: do not close it.
@function poller:getfd
@within poller
@return an integer
@fail `nil, msg, code` (a forked child could not make its own set)
*/
static int p_getfd (lua_State *L) {
  poller *p = checkpoller(L);
  int err = ownsets(L, p);
  if (err == 0 && p->pub < 0) err = newpub(p->set, &p->pub);
  if (err != 0) return ux_fail(L, 0, "getfd", err);
  lua_pushinteger(L, p->pub);
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
  if (p->set >= 0) {
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
  lua_pushboolean(L, topoller(L)->set < 0);
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
  if (p->set < 0) lua_pushliteral(L, POLLER_META " (closed)");
  else lua_pushfstring(L, POLLER_META " (fd %d, %d registered)",
                       p->pub >= 0 ? p->pub : p->set, p->count);
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
  int flags;
  (void)pushlist(L, 1);
  lua_pop(L, 1);
  luaL_newmetatable(L, POLLER_META);
  for (flags = 0; flags <= (UX_PIN | UX_POUT | UX_PHUP | UX_PERR); flags++) {
    pushletters(L, flags);  /* meta[flags]: wait reports without allocating */
    lua_rawseti(L, -2, flags);
  }
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
handles, `uxsock.loop` proxies, open Lua files or integer descriptors,
and `wait` gives back the very object added. Closing a handle takes it
out of every poller that holds it. Methods of a closed poller raise, but
for `close` and `isclosed`.
@type poller
*/
