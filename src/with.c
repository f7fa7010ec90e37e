/***
@module uxsock
*/

/*
** with.c: uxsock.with(handle, fn, ...), the scoped handle of every Lua
** version: fn(handle, ...) runs, then the handle is closed, whether fn
** returned or raised; fn's results are returned, its error re-raised.
** On Lua 5.4 it does what a <close> variable does.
**
** Its core is Lua code, compiled when the module opens: Lua's own pcall
** can be yielded across on 5.2+ and LuaJIT, so fn may yield (a coroutine
** scheduler), which a C pcall could not do on every version.
*/
#include "handle.h"
#include "kinds.h"

/* Nothing is taken from the globals when the module opens: a host may
** open uxsock before the base and io libraries (luaL_requiref first),
** so what 'with' needs is looked up at each call. The checks are C
** (below); only the protected call is Lua's own pcall, found then. */
static const char with_source[] =
  "local check, isclosedfile, raise = ...\n"
  "local function finish(h, ok, ...)\n"
  "  if not isclosedfile(h) then h:close() end\n"
  "  if not ok then raise((...)) end\n"
  "  return ...\n"
  "end\n"
  "return function(h, fn, ...)\n"
  "  local pcall = check(h, fn)\n"
  "  return finish(h, pcall(fn, h, ...))\n"
  "end\n";

static int callable (lua_State *L, int idx) {
  int yes = lua_type(L, idx) == LUA_TFUNCTION;
  if (!yes && luaL_getmetafield(L, idx, "__call") != LUA_TNIL) {
    yes = 1;
    lua_pop(L, 1);
  }
  return yes;
}

/* the 'close' field of h (run protected: an __index may raise) */
static int getclose (lua_State *L) {
  lua_getfield(L, 1, "close");
  return 1;
}

/* a uxsock handle, a Lua file, or anything with a close method */
static int closable (lua_State *L, int idx) {
  int isfile;
  if (ux_tohandle(L, idx) != NULL) return 1;
  (void)ux_tofile(L, idx, &isfile);
  if (isfile) return 1;
  lua_pushcfunction(L, getclose);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) != 0) { lua_pop(L, 1); return 0; }
  isfile = callable(L, -1);  /* reused: the answer */
  lua_pop(L, 1);
  return isfile;
}

/* raises msg as if 'with' (the Lua function calling this) raised it at
** level 2: with its caller's position */
static int witherror (lua_State *L, const char *msg) {
  luaL_where(L, 2);
  lua_pushstring(L, msg);
  lua_concat(L, 2);
  return lua_error(L);
}

/* check(h, fn): raises for bad arguments; returns Lua's pcall */
static int w_check (lua_State *L) {
  if (!closable(L, 1))
    return witherror(L, lua_pushfstring(L, "bad argument #1 to 'with' "
                     "(handle expected, got %s)", luaL_typename(L, 1)));
  if (!callable(L, 2))
    return witherror(L, lua_pushfstring(L, "bad argument #2 to 'with' "
                     "(function expected, got %s)", luaL_typename(L, 2)));
#if LUA_VERSION_NUM >= 502
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
#else
  lua_pushvalue(L, LUA_GLOBALSINDEX);
#endif
  lua_getfield(L, -1, "pcall");
  if (!callable(L, -1))
    return witherror(L, "uxsock.with needs the base library's pcall");
  return 1;
}

/* isclosedfile(h): a Lua file already closed (fn may close it) */
static int w_isclosedfile (lua_State *L) {
  int isfile;
  lua_pushboolean(L, ux_tofile(L, 1, &isfile) == NULL && isfile);
  return 1;
}

/* raise(err): raises fn's error again, as it was */
static int w_raise (lua_State *L) {
  lua_settop(L, 1);
  return lua_error(L);
}

/***
Calls `fn(handle, ...)`, then closes the handle, whether `fn` returned
or raised: the scoped handle of every Lua version (on 5.4, what a
`<close>` variable does). `handle` is a uxsock handle, a Lua file, or
anything with a `close` method. `fn` may yield (not on Lua 5.1, whose
`pcall` cannot).
@function with
@param handle what to close
@tparam function fn what to run
@param ... more arguments for `fn`
@return what `fn` returns
@fail `fn`'s error, raised again after the close
*/
void ux_push_with (lua_State *L) {
  if (luaL_loadbuffer(L, with_source, sizeof(with_source) - 1,
                      "=uxsock.with") != 0)
    lua_error(L);  /* only for lack of memory: the source is ours */
  lua_pushcfunction(L, w_check);
  lua_pushcfunction(L, w_isclosedfile);
  lua_pushcfunction(L, w_raise);
  lua_call(L, 3, 1);
}
