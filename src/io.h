/*
** io.h: methods shared by the connected kinds and datagram sockets.
*/
#ifndef UXSOCK_IO_H
#define UXSOCK_IO_H

#include "handle.h"

/* recv's max when none is given: also the largest datagram it takes */
#if !defined(UX_RECV_DEFAULT)
#define UX_RECV_DEFAULT  65536
#endif

size_t ux_checkmax (lua_State *L, int arg);
/* the room for a receive of at most max bytes (io.c tells the rule);
** may wait by d for something to come */
int ux_recvroom (ux_handle *h, size_t max, size_t *room, ux_deadline *d);
/* seqpacket: 1 when an empty message recvmany took is owed as end of
** stream (and counts it given) */
int ux_takezero (ux_handle *h);
/* pushes up to max of a stream's buffered bytes and takes them (1), or
** pushes nothing (0: none); raises for a handle a finalizer closed */
int ux_pushbuffered (lua_State *L, ux_handle *h, size_t max);
int ux_recvmsg (lua_State *L, ux_handle *h, size_t max,
                struct sockaddr_un *from, socklen_t *fromlen);

/* pushes nil, msg, EMSGSIZE for a message of 'full' bytes (max + 1:
** longer than max, by how much unknown) that did not fit in max */
void ux_toolong (lua_State *L, const char *op, size_t full, size_t max);

int ux_m_send (lua_State *L);
int ux_m_sendall (lua_State *L);
int ux_m_recv (lua_State *L);
int ux_m_recvinto (lua_State *L);
int ux_m_shutdown (lua_State *L);
int ux_m_getpeername (lua_State *L);

#endif
