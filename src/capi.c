/*
** capi.c: the C API of uxsock.h, for programs that embed Lua: a host
** gives a script one of its own descriptors as a handle
** (uxsock_pushfd) and borrows or takes one back (uxsock_checkfd,
** uxsock_detachfd). Ownership is documented in uxsock.h.
*/
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "uxsock.h"
#include "handle.h"
#include "kinds.h"
#include "fdpass.h"

UXSOCK_API int uxsock_pushfd (lua_State *L, int fd, const char *kind) {
  int k, type, err;
  ux_handle *h;
  if (fd < 0) return EBADF;
  if ((err = ux_fdkind(fd, &k, &type)) != 0) return err;
  if (kind != NULL) {
    int want;
    for (want = 0; want < UX_NKINDS; want++)
      if (strcmp(kind, ux_kindnames[want]) == 0) break;
    if (want == UX_NKINDS) return EINVAL;
    if (want != k) return EPROTOTYPE;
  }
  ux_open_kinds(L);  /* the host may not have required uxsock yet */
  h = ux_newhandle(L, k);  /* the only step that can raise: fd not yet ours */
  if ((err = ux_setnonblocking(fd, 0)) != 0 ||
      (err = ux_setcloexec(fd)) != 0) {
    lua_pop(L, 1);
    return err;
  }
  if (k == UX_LISTENER)
    h->child = (unsigned char)(type == SOCK_SEQPACKET ? UX_SEQPACKET
                                                      : UX_STREAM);
  h->fd = fd;
  return 0;
}

UXSOCK_API int uxsock_checkfd (lua_State *L, int idx) {
  return ux_checkhandle_any(L, idx, UX_ANY)->fd;
}

UXSOCK_API int uxsock_detachfd (lua_State *L, int idx) {
  ux_handle *h = ux_checkhandle_any(L, idx, UX_ANY);
  int fd;
  /* bytes a reader took from the kernel but Lua did not see yet, pushed
  ** while the handle still holds fd (a raise leaves it whole); re-read
  ** after (handle.h's rule): a finalizer may have read or closed it */
  for (;;) {
    unsigned takes = h->rb.takes;
    lua_pushlstring(L, h->rb.len > 0 ? h->rb.p + h->rb.pos : "", h->rb.len);
    if (h->fd < 0) ux_checkhandle_any(L, idx, UX_ANY);  /* raises */
    if (h->rb.takes == takes) break;
    lua_pop(L, 1);
  }
  fd = h->fd;
  h->fd = -1;  /* the handle is gone, the descriptor the host's */
  ux_poll_forget(L, fd);
  h->owns_file = 0;  /* the socket file stays: the host decides */
  /* blocking, as uxsock.h promises, whatever the handle's timeout was:
  ** a descriptor from fromfd or recvfds may come non-blocking from the
  ** process that made it (the flag is the open file's, shared) */
  (void)ux_setnonblocking(fd, 0);
  ux_rbuf_free(L, &h->rb);
  return fd;
}
