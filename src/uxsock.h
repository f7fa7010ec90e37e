/*
** uxsock.h: the public C interface of uxsock, Unix-domain sockets for
** Lua. These four functions are all that libuxsock.a and uxsock.so
** export.
**
** A host that links the module registers it without any file on disk:
**   luaL_requiref(L, "uxsock", luaopen_uxsock, 0);        (Lua 5.2+)
**   or package.preload.uxsock = luaopen_uxsock             (any version)
** Every Lua state gets its own metatables; the module keeps no global
** state, so states in different threads use it independently, and
** lua_close closes every handle a state still has.
*/
#ifndef UXSOCK_H
#define UXSOCK_H

#include "lua.h"

#define UXSOCK_VERSION  "uxsock 0.1.0"

#if !defined(UXSOCK_API)
#if defined(__GNUC__)
#define UXSOCK_API  __attribute__((visibility("default")))
#else
#define UXSOCK_API
#endif
#endif

/* opens the module: pushes its table (for require, luaL_requiref) */
UXSOCK_API int luaopen_uxsock (lua_State *L);

/*
** Gives the host's descriptor fd to Lua as a uxsock handle, pushed on the
** stack. kind is "stream", "seqpacket", "datagram", "listener", or NULL
** to take the kind from the socket itself.
** Returns 0 when the handle was pushed: it owns fd from then on (closes
** it on close, __close, __gc and lua_close), and it has put fd in
** blocking mode and made it close-on-exec. Otherwise it returns an errno
** value, pushes nothing and fd stays the caller's: EBADF (no such fd),
** ENOTSOCK, EAFNOSUPPORT (not a Unix-domain socket), EINVAL (unknown
** kind), EPROTOTYPE (the socket is of another kind). It raises only for
** lack of memory, and then before it has taken fd.
*/
UXSOCK_API int uxsock_pushfd (lua_State *L, int fd, const char *kind);

/*
** Lends the descriptor of the open handle at idx; the handle keeps it
** (do not close it). Raises a Lua error if idx is not an open handle.
*/
UXSOCK_API int uxsock_checkfd (lua_State *L, int idx);

/*
** Takes the descriptor of the open handle at idx back: returns it in
** blocking mode and leaves the handle closed, without closing fd, which
** is the caller's from now on (a socket file the handle made stays
** too). Pushes the bytes the handle had received but not yet given to
** Lua (read, lines), usually ""; they came before anything still in fd.
** Raises a Lua error if idx is not an open handle.
*/
UXSOCK_API int uxsock_detachfd (lua_State *L, int idx);

#endif
