/*
** compat.h: the Lua 5.4 C API that uxsock uses, on Lua 5.1, 5.2, 5.3 and
** LuaJIT. Every version difference lives here, so the rest of the code is
** written for 5.4 alone. Included by handle.h after lua.h and lauxlib.h.
**
** What older versions lack and how it is made up:
**   5.3-   lua_newuserdatauv and indexed user values: one user value per
**          handle (ux_newudata, ux_getuv, ux_setuv); on 5.1/5.2 it must be
**          a table, so the value is kept at [1] of a small table
**   5.3-   luaL_pushfail, luaL_argexpected
**   5.2-   luaL_checkinteger and luaL_optinteger that
**          take what 5.3 takes (4, 4.0, "4") and refuse 1.5 (numbers
**          are doubles there);
**   all    ux_tointegerx, 5.3's lua_tointegerx: the one rule for an
**          integer, be it an argument or an option field (handle.h);
**          lua_getfield and lua_rawgetp returning the type
**   5.1    lua_absindex, lua_rawgetp/lua_rawsetp, luaL_setfuncs,
**          luaL_setmetatable, luaL_testudata, luaL_buffinitsize and
**          luaL_pushresultsize (only for sizes up to LUAL_BUFFERSIZE,
**          which is how uxsock uses them);
**          LuaJIT: a luaL_checkoption that refuses non-strings
**   all    a Lua io file made from C for a descriptor (ux_newfile,
**          ux_setfile): luaL_Stream on 5.2+; 5.1 and LuaJIT have no
**          such API, so io.open makes the file there
** Names are mapped with macros to static functions with a ux_ prefix, so
** nothing clashes with what LuaJIT already declares. They are static
** inline: a file that does not call one gets no warning for it.
*/
#ifndef UXSOCK_COMPAT_H
#define UXSOCK_COMPAT_H

#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "lua.h"
#include "lauxlib.h"


/* {======================================================
** One user value per handle
** ======================================================= */
#if LUA_VERSION_NUM >= 504

#define ux_newudata(L, size)  lua_newuserdatauv(L, size, 1)
#define ux_getuv(L, idx)      lua_getiuservalue(L, idx, 1)
#define ux_setuv(L, idx)      ((void)lua_setiuservalue(L, idx, 1))

#elif LUA_VERSION_NUM == 503

#define ux_newudata(L, size)  lua_newuserdata(L, size)
#define ux_getuv(L, idx)      lua_getuservalue(L, idx)
#define ux_setuv(L, idx)      lua_setuservalue(L, idx)

#else  /* 5.1, 5.2: the user value (5.1: environment) must be a table */

#if LUA_VERSION_NUM == 501
#define ux_getenv_  lua_getfenv
#define ux_setenv_  lua_setfenv
#else
#define ux_getenv_  lua_getuservalue
#define ux_setenv_  lua_setuservalue
#endif

/* a new userdata's 5.1 environment is the running function's: give it
** none that could hold a value at [1] */
static inline void *ux_newudata (lua_State *L, size_t size) {
  void *p = lua_newuserdata(L, size);
  lua_createtable(L, 0, 0);
  ux_setenv_(L, -2);
  return p;
}

static inline int ux_getuv (lua_State *L, int idx) {
  ux_getenv_(L, idx);
  if (lua_istable(L, -1)) {
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
  }
  else {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
  return lua_type(L, -1);
}

/* pops a value and makes it the user value of the userdata at idx */
static inline void ux_setuv (lua_State *L, int idx) {
  if (idx < 0 && idx > LUA_REGISTRYINDEX) idx = lua_gettop(L) + idx + 1;
  lua_createtable(L, 1, 0);
  lua_insert(L, -2);
  lua_rawseti(L, -2, 1);
  ux_setenv_(L, idx);
}

#endif
/* }====================================================== */


#if LUA_VERSION_NUM < 504

#define luaL_pushfail(L)  lua_pushnil(L)

static inline int ux_typeerror (lua_State *L, int arg, const char *tname) {
  return luaL_argerror(L, arg, lua_pushfstring(L, "%s expected, got %s",
                                               tname, luaL_typename(L, arg)));
}
#define luaL_argexpected(L, cond, arg, tname) \
  ((void)((cond) || ux_typeerror(L, (arg), (tname))))

#endif


#if LUA_VERSION_NUM >= 503
static inline int ux_tointegerx (lua_State *L, int idx, lua_Integer *v) {
  int ok;
  lua_Integer n = lua_tointegerx(L, idx, &ok);
  if (ok) *v = n;
  return ok;
}
#else

/* 5.3's lua_tointegerx: a number or a numeric string with an integral
** value in range; 0 (and *v untouched) for anything else */
static inline int ux_tointegerx (lua_State *L, int idx, lua_Integer *v) {
  lua_Number n;
  if (!lua_isnumber(L, idx)) return 0;  /* numbers and numeric strings */
  n = lua_tonumber(L, idx);
  if (n != floor(n) || n < -9223372036854775808.0 || n >= 9223372036854775808.0)
    return 0;
  *v = (lua_Integer)n;
  return 1;
}

static inline lua_Integer ux_checkinteger (lua_State *L, int arg) {
  lua_Integer v;
  if (ux_tointegerx(L, arg, &v)) return v;
  if (lua_isnumber(L, arg))
    luaL_argerror(L, arg, "number has no integer representation");
  else
    ux_typeerror(L, arg, "number");
  return (lua_Integer)lua_tonumber(L, arg);  /* not reached: both raise */
}
#define luaL_checkinteger(L, arg)  ux_checkinteger(L, arg)
#define luaL_optinteger(L, arg, def) \
  (lua_isnoneornil(L, (arg)) ? (lua_Integer)(def) : ux_checkinteger(L, (arg)))

/* lua_getfield and lua_rawgetp return the value's type from 5.3 on */
#define lua_getfield(L, idx, k)  (lua_getfield(L, (idx), (k)), lua_type(L, -1))
#if LUA_VERSION_NUM == 502
#define lua_rawgetp(L, idx, p)  (lua_rawgetp(L, (idx), (p)), lua_type(L, -1))
#endif

#endif


#if LUA_VERSION_NUM == 501

#define lua_rawlen(L, idx)  lua_objlen(L, idx)

static inline int ux_absindex (lua_State *L, int idx) {
  return (idx > 0 || idx <= LUA_REGISTRYINDEX) ? idx : lua_gettop(L) + idx + 1;
}
#define lua_absindex(L, idx)  ux_absindex(L, idx)

static inline int ux_rawgetp (lua_State *L, int idx, const void *p) {
  idx = ux_absindex(L, idx);
  lua_pushlightuserdata(L, (void *)p);
  lua_rawget(L, idx);
  return lua_type(L, -1);
}
#define lua_rawgetp(L, idx, p)  ux_rawgetp(L, idx, p)

static inline void ux_rawsetp (lua_State *L, int idx, const void *p) {
  idx = ux_absindex(L, idx);
  lua_pushlightuserdata(L, (void *)p);
  lua_insert(L, -2);
  lua_rawset(L, idx);
}
#define lua_rawsetp(L, idx, p)  ux_rawsetp(L, idx, p)

static inline void ux_setfuncs (lua_State *L, const luaL_Reg *l, int nup) {
  for (; l->name != NULL; l++) {
    int i;
    for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}
#define luaL_setfuncs(L, l, nup)  ux_setfuncs(L, l, nup)

static inline void *ux_testudata (lua_State *L, int idx, const char *tname) {
  void *p = lua_touserdata(L, idx);
  if (p != NULL && lua_getmetatable(L, idx)) {
    luaL_getmetatable(L, tname);
    if (!lua_rawequal(L, -1, -2)) p = NULL;
    lua_pop(L, 2);
    return p;
  }
  return NULL;
}
#define luaL_testudata(L, idx, tname)  ux_testudata(L, idx, tname)

static inline void ux_setmetatable (lua_State *L, const char *tname) {
  luaL_getmetatable(L, tname);
  lua_setmetatable(L, -2);
}
#define luaL_setmetatable(L, tname)  ux_setmetatable(L, tname)

/* LuaJIT's luaL_checkoption takes any value that is not a string for
** the default; a table or a boolean must raise, as on PUC Lua */
static inline int ux_checkoption (lua_State *L, int arg, const char *def,
                                  const char *const lst[]) {
  if (!lua_isnoneornil(L, arg)) luaL_checkstring(L, arg);
  return (luaL_checkoption)(L, arg, def, lst);
}
#define luaL_checkoption(L, arg, def, lst)  ux_checkoption(L, arg, def, lst)

/* only for sz <= LUAL_BUFFERSIZE: 5.1's buffer has that much room */
#define luaL_buffinitsize(L, B, sz)  (luaL_buffinit(L, B), luaL_prepbuffer(B))
#define luaL_pushresultsize(B, sz)   (luaL_addsize(B, sz), luaL_pushresult(B))

#endif


/* {======================================================
** Lua io files made from C (fdpass.c)
** ======================================================= */

/* ux_newfile pushes a closed Lua io file and returns it, for ux_setfile
** to give it an open FILE* (no Lua call in between: nothing can raise
** while the FILE* is nobody's). NULL with *err = 0 when the io library
** is not loaded, NULL with an errno value when no file could be made. */

#if LUA_VERSION_NUM >= 502

/* the close of liolib's io.open files (io_fclose) */
static inline int ux_io_fclose (lua_State *L) {
  luaL_Stream *p = (luaL_Stream *)luaL_checkudata(L, 1, LUA_FILEHANDLE);
  errno = 0;
  return luaL_fileresult(L, (fclose(p->f) == 0), NULL);
}

static inline void *ux_newfile (lua_State *L, int *err) {
  luaL_Stream *p;
  *err = 0;
  if (lua_getfield(L, LUA_REGISTRYINDEX, LUA_FILEHANDLE) == LUA_TNIL) {
    lua_pop(L, 1);
    return NULL;
  }
#if LUA_VERSION_NUM >= 504
  p = (luaL_Stream *)lua_newuserdatauv(L, sizeof(luaL_Stream), 0);
#else
  p = (luaL_Stream *)lua_newuserdata(L, sizeof(luaL_Stream));
#endif
  p->f = NULL;
  p->closef = NULL;  /* closed */
  lua_insert(L, -2);
  lua_setmetatable(L, -2);
  return p;
}

static inline void ux_setfile (void *p, FILE *f) {
  ((luaL_Stream *)p)->f = f;
  ((luaL_Stream *)p)->closef = &ux_io_fclose;
}

#else

#include "lualib.h"  /* LUA_FILEHANDLE, in lauxlib.h from 5.2 on */

/* A file of 5.1 is a FILE ** whose environment holds its close
** function; LuaJIT's (IOFileUD) keeps the FILE* first too, and its io
** functions take no userdata they did not make. So io.open makes the
** file, of /dev/null, whose FILE* is closed at once: a closed file
** (NULL) that any later close or __gc leaves alone. */
static inline void *ux_newfile (lua_State *L, int *err) {
  FILE **pf;
  int top = lua_gettop(L);
  *err = 0;
  lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
  if (lua_istable(L, -1) && lua_getfield(L, -1, "io") == LUA_TTABLE)
    lua_getfield(L, -1, "open");
  if (!lua_isfunction(L, -1)) {
    lua_settop(L, top);
    return NULL;
  }
  lua_replace(L, top + 1);
  lua_settop(L, top + 1);
  lua_pushliteral(L, "/dev/null");
  lua_pushliteral(L, "r");
  lua_call(L, 2, 3);
  pf = (FILE **)luaL_testudata(L, -3, LUA_FILEHANDLE);
  if (pf == NULL || *pf == NULL) {  /* io.open failed, or is not io's */
    *err = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : EINVAL;
    lua_pop(L, 3);
    return NULL;
  }
  lua_pop(L, 2);
  (void)fclose(*pf);
  *pf = NULL;
  return pf;
}

static inline void ux_setfile (void *p, FILE *f) {
  *(FILE **)p = f;
}

#endif
/* }====================================================== */

#endif
