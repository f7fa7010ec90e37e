/*
** uxsock.h: the public C interface of uxsock, Unix-domain sockets for
** Lua. A host that links the module registers it with
**   luaL_requiref(L, "uxsock", luaopen_uxsock, 0);
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

UXSOCK_API int luaopen_uxsock (lua_State *L);

#endif
