/***
@module uxsock
*/

/*
** fdpass.c: descriptors (SCM_RIGHTS) and credentials (SCM_CREDENTIALS)
** in messages, and descriptors from elsewhere as Lua values: fromfd,
** fdopen, closefd. The system calls are in sysmsg.c.
**
** Received descriptors are held by a small userdata (an fdlist) from
** before the recvmsg until each is inside the Lua value that owns it,
** so an error raised while the results are made (memory) closes the
** ones not handed out yet instead of losing them.
*/
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "handle.h"
#include "io.h"
#include "buffer.h"
#include "kinds.h"
#include "fdpass.h"
#include "sysmsg.h"

#define FDLIST  "uxsock.fdlist"

static const char *const kindoptions[] = {
  "listener", "stream", "seqpacket", "datagram", NULL
};


/* {======================================================
** Descriptors as Lua values
** ======================================================= */

typedef struct fdlist {
  int n;
  int fd[];  /* n slots; -1 is empty */
} fdlist;

static fdlist *newfdlist (lua_State *L, int n) {
  fdlist *l = (fdlist *)lua_newuserdata(L, sizeof(fdlist) +
                                           sizeof(int) * (size_t)n);
  int i;
  l->n = n;
  for (i = 0; i < n; i++) l->fd[i] = -1;
  luaL_setmetatable(L, FDLIST);
  return l;
}

static void fdlist_close (fdlist *l) {
  int i;
  for (i = 0; i < l->n; i++) {
    ux_close(l->fd[i]);
    l->fd[i] = -1;
  }
}

static int fdlist_gc (lua_State *L) {
  fdlist_close((fdlist *)lua_touserdata(L, 1));
  return 0;
}

/* the kind a Unix socket of this type is a handle of */
static int tokind (int type, int listening, int *kind) {
  if (listening) *kind = UX_LISTENER;
  else if (type == SOCK_STREAM) *kind = UX_STREAM;
  else if (type == SOCK_SEQPACKET) *kind = UX_SEQPACKET;
  else if (type == SOCK_DGRAM) *kind = UX_DATAGRAM;
  else return EPROTOTYPE;
  return 0;
}

int ux_fdkind (int fd, int *kind, int *type) {
  int listening;
  int err = ux_sockinfo(fd, type, &listening);
  if (err != 0) return err;
  return tokind(*type, listening, kind);
}

/* pushes a closed handle of the kind, for the socket fd to go in */
static ux_handle *newsockhandle (lua_State *L, int kind, int type) {
  ux_handle *h = ux_newhandle(L, kind);
  if (kind == UX_LISTENER)
    h->child = (unsigned char)(type == SOCK_SEQPACKET ? UX_SEQPACKET
                                                      : UX_STREAM);
  return h;
}

/* Pushes the Lua value for the descriptor in *slot: a handle for a Unix
** socket, an io file for a file, pipe or device (when io is loaded), the
** integer otherwise. A handle or file takes the descriptor from the
** slot at once; an integer leaves it there, for the caller to clear
** when no later step can raise. Returns 0 or an errno value. */
static int pushfdvalue (lua_State *L, int *slot) {
  int fd = *slot, type, listening, kind, err;
  const char *mode;
  switch (ux_fdclass(fd, &type, &listening, &mode)) {
    case UX_FD_UNIX:
      if (tokind(type, listening, &kind) != 0) break;
      newsockhandle(L, kind, type)->fd = fd;
      *slot = -1;
      return 0;
    case UX_FD_FILE: {
      FILE *f;
      void *p = ux_newfile(L, &err);
      if (p == NULL) {
        if (err != 0) return err;
        break;  /* no io library: the integer */
      }
      if ((err = ux_fdopen(fd, mode, &f)) != 0) {
        lua_pop(L, 1);
        return err;
      }
      ux_setfile(p, f);
      *slot = -1;
      return 0;
    }
    default: break;
  }
  lua_pushinteger(L, fd);
  return 0;
}

/* pushes the list of the n descriptors of l as Lua values */
static int pushfds (lua_State *L, fdlist *l, int n) {
  int i;
  lua_createtable(L, n, 0);
  for (i = 0; i < n; i++) {
    int err = pushfdvalue(L, &l->fd[i]);
    if (err != 0) return err;  /* the values made close when collected */
    lua_rawseti(L, -2, i + 1);
  }
  for (i = 0; i < n; i++) l->fd[i] = -1;  /* the integers are Lua's now */
  return 0;
}

static int checkfd (lua_State *L, int arg) {
  lua_Integer fd = luaL_checkinteger(L, arg);
  luaL_argcheck(L, fd >= 0 && fd <= INT_MAX, arg,
                "descriptor must be an integer >= 0");
  return (int)fd;
}

/***
A handle for a Unix socket descriptor from elsewhere (a parent process,
a C library, a message): its kind is what the socket is (`SO_TYPE`, and
listening or not), or must be `kind` when given. The handle owns the
descriptor from then on; it is made close-on-exec, and its `O_NONBLOCK`
flag, which it may share with another process, is left as it is (the
handle waits either way).
@function fromfd
@tparam integer fd a descriptor
@tparam[opt] string kind `"listener"`, `"stream"`, `"seqpacket"` or `"datagram"`
@return a handle
@fail `nil, msg, code` (`ENOTSOCK`, `EAFNOSUPPORT` for a socket that is not a Unix one, `EPROTOTYPE` for another kind); the descriptor is still the caller's
*/
static int l_fromfd (lua_State *L) {
  int fd = checkfd(L, 1);
  int want = lua_isnoneornil(L, 2) ? -1
                                   : luaL_checkoption(L, 2, NULL, kindoptions);
  int kind, type, err;
  ux_handle *h;
  if ((err = ux_fdkind(fd, &kind, &type)) != 0)
    return ux_fail(L, 0, "fromfd", err);
  if (want >= 0 && want != kind) {
    lua_pushfstring(L, "a %s, not a %s", ux_kindnames[kind],
                    ux_kindnames[want]);
    return ux_failmsg(L, 0, "fromfd", EPROTOTYPE, lua_tostring(L, -1));
  }
  h = newsockhandle(L, kind, type);  /* before the fd is ours */
  if ((err = ux_setcloexec(fd)) != 0) return ux_fail(L, 0, "fromfd", err);
  h->fd = fd;
  return 1;
}

/* liolib's l_checkmode: [rwa]%+?b* */
static int checkmode (const char *mode) {
  if (*mode == '\0' || strchr("rwa", *mode++) == NULL) return 0;
  if (*mode == '+') mode++;
  return strspn(mode, "b") == strlen(mode);
}

/***
A Lua io file for a descriptor, as C's `fdopen` makes it: the file owns
the descriptor from then on (`file:close()` closes it). `mode` defaults
to what the descriptor allows (`"r"`, `"w"`, `"r+"`, or `"a"`/`"a+"`
when it appends); `"w"` does not truncate. Raises when the io library
is not loaded.
@function fdopen
@tparam integer fd a descriptor
@tparam[opt] string mode as for `io.open`
@return a file
@fail `nil, msg, code`; the descriptor is still the caller's
*/
static int l_fdopen (lua_State *L) {
  int fd = checkfd(L, 1), err;
  const char *mode = luaL_optstring(L, 2, NULL);
  void *p;
  FILE *f;
  luaL_argcheck(L, mode == NULL || checkmode(mode), 2, "invalid mode");
  if (mode == NULL && (err = ux_fdmode(fd, &mode)) != 0)
    return ux_fail(L, 0, "fdopen", err);
  if ((p = ux_newfile(L, &err)) == NULL) {
    if (err != 0) return ux_fail(L, 0, "fdopen", err);
    return luaL_error(L, "uxsock.fdopen needs the io library");
  }
  if ((err = ux_fdopen(fd, mode, &f)) != 0)
    return ux_fail(L, 0, "fdopen", err);
  ux_setfile(p, f);
  return 1;
}

/***
Closes a descriptor given as an integer: one that `recvfds` returned as
an integer (a directory, an eventfd, a socket of another family ...).
@function closefd
@tparam integer fd a descriptor
@return `true`
@fail `nil, msg, code` (`EBADF` for one that is not open)
*/
static int l_closefd (lua_State *L) {
  int err = ux_closefd(checkfd(L, 1));
  if (err != 0) return ux_fail(L, 0, "closefd", err);
  lua_pushboolean(L, 1);
  return 1;
}

/* }====================================================== */


/* {======================================================
** Sending
** ======================================================= */

/* the descriptors of the list at arg: 1 to UX_MAXFDS */
static int checkfds (lua_State *L, int arg, int *fds) {
  int n;
  luaL_checktype(L, arg, LUA_TTABLE);
  for (n = 0; ; n++) {
    char what[24];
    lua_rawgeti(L, arg, n + 1);
    if (lua_isnil(L, -1)) break;
    if (n == UX_MAXFDS)
      luaL_argerror(L, arg, lua_pushfstring(L, "fds: more than %d "
                    "descriptors", UX_MAXFDS));
    (void)snprintf(what, sizeof(what), "fds[%d]", n + 1);
    fds[n] = ux_checkfdobj(L, -1, arg, what);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  if (n == 0)
    luaL_argerror(L, arg, lua_pushfstring(L, "fds: an empty list (1 to %d "
                  "descriptors)", UX_MAXFDS));
  return n;
}

/* sendfds (the list at fdsarg) and sendcred (fdsarg 0): the data at 2,
** a datagram's destination after the list */
static int sendctl (lua_State *L, const char *op, int fdsarg) {
  ux_handle *h = ux_checkhandle(L, 1, UX_CONNECTED | UX_K(UX_DATAGRAM));
  int fds[UX_MAXFDS];
  int nfds = 0, toarg = fdsarg ? fdsarg + 1 : 3, err;
  ux_addr addr, *to = NULL;
  ux_deadline d;
  size_t len, n;
  const char *p = ux_checkbytes(L, 2, &len);
  /* a stream has no messages: the control data rides on a byte, and a
  ** send of no bytes carries nothing (the descriptors would be lost) */
  luaL_argcheck(L, len > 0 || h->kind != UX_STREAM, 2,
                "empty data on a stream (control data needs a byte)");
  if (fdsarg) nfds = checkfds(L, fdsarg, fds);
  if (!lua_isnoneornil(L, toarg)) {
    luaL_argcheck(L, h->kind == UX_DATAGRAM, toarg,
                  "a name is for datagram sockets only");
    ux_checkaddr(L, toarg, &addr);
    to = &addr;
  }
  ux_deadline_init(&d, h->timeout);
  err = ux_sendctl(h->fd, p, len, to, fds, nfds, fdsarg == 0, &n, &d);
  if (err != 0) {
    if (to != NULL) return ux_failname(L, toarg, op, err);
    return ux_fail(L, 1, op, err);
  }
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

/***
Sends `data` with copies of the descriptors in `fds`, in one message:
the peer gets them from `recvfds`. This side keeps its own and may close
them once the call returns. A stream may send fewer bytes than `data`
(the descriptors go with the first); `data` must not be empty there:
the kernel attaches them to a byte of the stream, and a send of no bytes
carries nothing.
@function stream:sendfds
@within stream
@tparam string|buffer data the bytes, at least one
@tparam {handle|file|integer,...} fds 1 to 253 handles, Lua files or descriptors
@return the number of bytes sent
@fail `nil, msg, code`
*/
/***
Sends `data` (maybe empty) with copies of the descriptors in `fds`, as
one message; the peer gets them from `recvfds`. This side keeps its own.
@function seqpacket:sendfds
@within seqpacket
@tparam string|buffer data the message
@tparam {handle|file|integer,...} fds 1 to 253 handles, Lua files or descriptors
@return the number of bytes sent
@fail `nil, msg, code`
*/
/***
Sends one datagram (maybe empty) with copies of the descriptors in
`fds`, to `path` or to the peer set by `connect`; the receiver gets them
from `recvfds`. This side keeps its own.
@function datagram:sendfds
@within datagram
@tparam string|buffer data the message
@tparam {handle|file|integer,...} fds 1 to 253 handles, Lua files or descriptors
@tparam[opt] string path where to, as for `sendto`
@return the number of bytes sent
@fail `nil, msg, code`
*/
static int m_sendfds (lua_State *L) {
  return sendctl(L, "sendfds", 3);
}

/***
Sends `data` with this process's pid, uid and gid (`SCM_CREDENTIALS`),
which the kernel checks; the peer reads them with `recvcred`. `data`
must not be empty, as for `sendfds`. Linux only.
@function stream:sendcred
@within stream
@tparam string|buffer data the bytes, at least one
@return the number of bytes sent
@fail `nil, msg, code` (`ENOTSUP` elsewhere than Linux)
*/
/***
Sends a message with this process's pid, uid and gid
(`SCM_CREDENTIALS`), which the kernel checks; the peer reads them with
`recvcred`. Linux only.
@function seqpacket:sendcred
@within seqpacket
@tparam string|buffer data the message
@return the number of bytes sent
@fail `nil, msg, code` (`ENOTSUP` elsewhere than Linux)
*/
/***
Sends a datagram with this process's pid, uid and gid
(`SCM_CREDENTIALS`), which the kernel checks, to `path` or the peer set
by `connect`; the receiver reads them with `recvcred`. Linux only.
@function datagram:sendcred
@within datagram
@tparam string|buffer data the message
@tparam[opt] string path where to, as for `sendto`
@return the number of bytes sent
@fail `nil, msg, code` (`ENOTSUP` elsewhere than Linux)
*/
static int m_sendcred (lua_State *L) {
  return sendctl(L, "sendcred", 0);
}

/* }====================================================== */


/* {======================================================
** Receiving
** ======================================================= */

/* A stream's bytes stay in its read buffer while the results are made,
** so a raise (memory) leaves them for the next read. The value at 'data'
** is then made from the buffer as recv would: a finalizer that took
** bytes meanwhile has those, this call the next up to n (or ""). */
static void streamdata (lua_State *L, ux_handle *h, int data, size_t n) {
  if (h->kind != UX_STREAM) return;
  if (!ux_pushbuffered(L, h, n)) lua_pushliteral(L, "");
  lua_replace(L, data);
}

/* what a receive gives besides the failure it pushed: the data at
** 'data' (4th), and a datagram's sender (5th) */
static int failwithdata (lua_State *L, ux_handle *h, int data, size_t n,
                         const struct sockaddr_un *from, socklen_t fromlen) {
  streamdata(L, h, data, n);
  lua_pushvalue(L, data);
  if (h->kind != UX_DATAGRAM) return 4;
  ux_pushaddr(L, from, fromlen);
  return 5;
}

/* Receives one message (up to max bytes of a stream) with control data
** in c, whose fds (if any) are in an fdlist already pushed. Pushes the
** data (a stream: a placeholder, the bytes in the read buffer until
** streamdata), or returns the count of failure values pushed (ux_fail's).
** *room is what the receive had room for (io.c's rule), *full the
** message's length (more than *room: cut; a stream's: the bytes). A
** message is a string before anything else is made: a memory error
** while the results are made loses it and closes its descriptors. */
static int recvctl (lua_State *L, ux_handle *h, const char *op, size_t max,
                    ux_ctl *c, size_t *room, size_t *full,
                    struct sockaddr_un *from, socklen_t *fromlen) {
  ux_deadline d;
  luaL_Buffer b;
  size_t n = 0;
  char *p;
  int err, small, stream = (h->kind == UX_STREAM);
  *full = 0;
  *room = max;
  if (h->fd < 0)  /* the fdlist's allocation ran a finalizer that closed it */
    return luaL_error(L, "attempt to use a closed %s", ux_kindnames[h->kind]);
  if (ux_takezero(h)) return ux_fail(L, 1, op, UX_EOF);
  ux_deadline_init(&d, h->timeout);
  if ((err = ux_recvroom(h, max, room, &d)) != 0) return ux_fail(L, 1, op, err);
  small = !stream && *room <= LUAL_BUFFERSIZE;
  p = small ? luaL_buffinitsize(L, &b, *room) : ux_rbuf_space(L, &h->rb, *room);
  err = ux_recvctl(h->fd, p, *room, &n, stream ? NULL : full,
                   h->kind == UX_DATAGRAM ? from : NULL, fromlen, c, &d);
  if (small) luaL_pushresultsize(&b, n);  /* keeps the stack balanced */
  else if (stream) {
    *full = n;
    h->rb.len += n;
    lua_pushnil(L);
  }
  else {
    lua_pushlstring(L, p, n);
    ux_rbuf_trim(L, &h->rb);
  }
  /* no bytes and no control data is the end of a stream or seqpacket;
  ** an empty message with descriptors or credentials is a message */
  if (err == 0 && n == 0 && !c->anyctl && h->kind != UX_DATAGRAM)
    err = UX_EOF;
  if (err != 0) return ux_fail(L, 1, op, err);
  return 0;
}

/***
Receives up to `max` bytes and the descriptors that came with them. A
descriptor comes back ready to use and close-on-exec: a Unix socket as a
handle of its kind (listener, stream, seqpacket, datagram), a regular
file, pipe, FIFO or character device as a Lua file whose mode is the
descriptor's access (`"r"`, `"w"`, `"r+"`, `"a"`, `"a+"`), anything else
(or any file when the io library is not loaded) as an integer, to be
closed with `uxsock.closefd` or wrapped with `uxsock.fromfd` or
`uxsock.fdopen`. Bytes that a `read` buffered come first, with no
descriptors: the descriptors that came with them were dropped when
they were read, so do not mix `read` or `lines` with descriptors.
@function stream:recvfds
@within stream
@tparam[opt=65536] integer max the most bytes to return
@tparam[opt=253] integer maxfds the most descriptors to take, 1 to 253
@return data, fds (a list, maybe empty)
@eof `nil, msg, EOF`
@fail `nil, msg, code`; more than `maxfds` descriptors: `nil, msg, ENOBUFS, data`, every descriptor closed; no free descriptor slot for them (the kernel drops them): `nil, msg, EMFILE, data`, the same
*/
/***
Receives one message and the descriptors that came with it, made ready
to use as `stream:recvfds` tells. A message too long for `max` is
reported, and its descriptors are closed: the kernel drops the rest of
the message, and what remains is not the message sent.
@function seqpacket:recvfds
@within seqpacket
@tparam[opt=65536] integer max the largest message to take
@tparam[opt=253] integer maxfds the most descriptors to take, 1 to 253
@return data, fds (a list, maybe empty)
@eof `nil, msg, EOF` (no bytes and no descriptors)
@fail `nil, msg, code`; too long: `nil, msg, EMSGSIZE, head`; more than `maxfds` descriptors: `nil, msg, ENOBUFS, data`; no free descriptor slot: `nil, msg, EMFILE, data`; in each case every descriptor that came is closed
*/
/***
Receives one datagram, the descriptors that came with it (made ready to
use as `stream:recvfds` tells) and the sender's name, as `recvfrom`
gives it. A datagram too long for `max` is reported, and its
descriptors are closed.
@function datagram:recvfds
@within datagram
@tparam[opt=65536] integer max the largest message to take
@tparam[opt=253] integer maxfds the most descriptors to take, 1 to 253
@return data, fds (a list, maybe empty), sender
@fail `nil, msg, code`; too long: `nil, msg, EMSGSIZE, head, sender`; more than `maxfds` descriptors: `nil, msg, ENOBUFS, data, sender`; no free descriptor slot: `nil, msg, EMFILE, data, sender`; in each case every descriptor that came is closed
*/
static int m_recvfds (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_CONNECTED | UX_K(UX_DATAGRAM));
  size_t max = ux_checkmax(L, 2);
  lua_Integer maxfds = luaL_optinteger(L, 3, UX_MAXFDS);
  int dgram = (h->kind == UX_DATAGRAM), r, data, err;
  struct sockaddr_un from;
  socklen_t fromlen = sizeof(from);
  size_t full, room;
  fdlist *l;
  ux_ctl c;
  if (maxfds < 1 || maxfds > UX_MAXFDS)
    luaL_argerror(L, 3, lua_pushfstring(L, "maxfds must be 1 to %d",
                                        UX_MAXFDS));
  lua_settop(L, 3);
  if (h->kind == UX_STREAM && ux_pushbuffered(L, h, max)) {
    lua_newtable(L);
    return 2;
  }
  l = newfdlist(L, (int)maxfds);  /* holds them from the recvmsg on */
  memset(&c, 0, sizeof(c));
  c.fds = l->fd;
  c.maxfds = (int)maxfds;
  from.sun_family = AF_UNSPEC;
  if ((r = recvctl(L, h, "recvfds", max, &c, &room, &full, &from,
                   &fromlen)) != 0)
    return r;
  data = lua_gettop(L);
  if (full > room) {
    fdlist_close(l);
    ux_toolong(L, "recvfds", full, room);
    return failwithdata(L, h, data, full, &from, fromlen);
  }
  if (c.trunc) {
    if (c.why == ENOBUFS)
      lua_pushfstring(L, "control data truncated (more descriptors than "
                      "maxfds, %d)", (int)maxfds);
    else  /* the kernel had no free slot for them, and dropped them */
      lua_pushfstring(L, "descriptors dropped (%s)", strerror(c.why));
    ux_failmsg(L, 1, "recvfds", c.why, lua_tostring(L, -1));
    return failwithdata(L, h, data, full, &from, fromlen);
  }
  if ((err = pushfds(L, l, c.nfds)) != 0) {
    fdlist_close(l);
    ux_fail(L, 1, "recvfds", err);
    return failwithdata(L, h, data, full, &from, fromlen);
  }
  streamdata(L, h, data, full);
  if (!dgram) return 2;
  ux_pushaddr(L, &from, fromlen);
  return 3;
}

/***
Receives up to `max` bytes and the credentials (`SCM_CREDENTIALS`) the
kernel vouches for: those the sender gave with `sendcred`, or, once
`SO_PASSCRED` is on here, the sender's own for anything it sent. This
call turns `SO_PASSCRED` on first; messages sent before that, with
no `sendcred`, carry none (Linux then says pid 0 and the overflow uid:
`cred` is `nil`, never a false uid 0). So turn it on before the peer
sends (a first `recvcred` does) to have them for every message. Linux
gives an unbound socket with `SO_PASSCRED` on an abstract name when it
connects or sends. Descriptors that come along are closed.
@function stream:recvcred
@within stream
@tparam[opt=65536] integer max the most bytes to return
@return data, cred (`{pid=, uid=, gid=}` or `nil`)
@eof `nil, msg, EOF`
@fail `nil, msg, code` (`ENOTSUP` elsewhere than Linux)
*/
/***
Receives one message and the credentials the kernel vouches for, as
`stream:recvcred` tells. Once `SO_PASSCRED` is on every message carries
credentials, so an empty message is `""` here, never end of stream.
@function seqpacket:recvcred
@within seqpacket
@tparam[opt=65536] integer max the largest message to take
@return data, cred (`{pid=, uid=, gid=}` or `nil`)
@eof `nil, msg, EOF`
@fail `nil, msg, code` (`ENOTSUP` elsewhere than Linux); too long: `nil, msg, EMSGSIZE, head`
*/
/***
Receives one datagram, the credentials the kernel vouches for (as
`stream:recvcred` tells) and the sender's name, as `recvfrom` gives it.
@function datagram:recvcred
@within datagram
@tparam[opt=65536] integer max the largest message to take
@return data, cred (`{pid=, uid=, gid=}` or `nil`), sender
@fail `nil, msg, code` (`ENOTSUP` elsewhere than Linux); too long: `nil, msg, EMSGSIZE, head, sender`
*/
static int m_recvcred (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_CONNECTED | UX_K(UX_DATAGRAM));
  size_t max = ux_checkmax(L, 2);
  int dgram = (h->kind == UX_DATAGRAM), r, data, err;
  struct sockaddr_un from;
  socklen_t fromlen = sizeof(from);
  size_t full, room;
  ux_ctl c;
  lua_settop(L, 2);
  if (h->kind == UX_STREAM && ux_pushbuffered(L, h, max)) {
    lua_pushnil(L);
    return 2;
  }
  /* once on, it stays on: setting it again costs what asking would */
  if ((err = ux_passcred(h->fd)) != 0) return ux_fail(L, 1, "recvcred", err);
  memset(&c, 0, sizeof(c));
  c.wantcred = 1;
  from.sun_family = AF_UNSPEC;
  if ((r = recvctl(L, h, "recvcred", max, &c, &room, &full, &from,
                   &fromlen)) != 0)
    return r;
  data = lua_gettop(L);
  if (full > room) {  /* not a stream's */
    ux_toolong(L, "recvcred", full, room);
    return failwithdata(L, h, data, full, &from, fromlen);
  }
  if (c.hascred) {
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, c.pid);
    lua_setfield(L, -2, "pid");
    lua_pushinteger(L, c.uid);
    lua_setfield(L, -2, "uid");
    lua_pushinteger(L, c.gid);
    lua_setfield(L, -2, "gid");
  }
  else lua_pushnil(L);
  streamdata(L, h, data, full);
  if (!dgram) return 2;
  ux_pushaddr(L, &from, fromlen);
  return 3;
}

/* }====================================================== */


static const luaL_Reg fdpass_methods[] = {
  {"sendfds", m_sendfds},
  {"recvfds", m_recvfds},
  {"sendcred", m_sendcred},
  {"recvcred", m_recvcred},
  {NULL, NULL}
};

const luaL_Reg ux_fdpass_functions[] = {
  {"fromfd", l_fromfd},
  {"fdopen", l_fdopen},
  {"closefd", l_closefd},
  {NULL, NULL}
};

void ux_open_fdpass (lua_State *L) {
  luaL_newmetatable(L, FDLIST);  /* maybe made by an open cut short */
  lua_pushcfunction(L, fdlist_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  ux_addmethods(L, UX_CONNECTED | UX_K(UX_DATAGRAM), fdpass_methods);
}
