/*
** reader.c: the per-handle receive buffer. Bytes a reader received but
** did not hand to Lua yet (the rest of a line, a read cut short by a
** timeout) stay here, so no read loses data. Memory comes from the Lua
** state's allocator; the buffer is made on first use and shrunk when it
** is empty and large.
*/
#include <string.h>

#include "handle.h"

#define RBUF_MIN     4096
#define RBUF_KEEP    65536    /* an empty buffer above this is given back */

static void *rbuf_realloc (lua_State *L, void *p, size_t old, size_t n) {
  void *ud;
  lua_Alloc f = lua_getallocf(L, &ud);
  return f(ud, p, old, n);
}

/* returns room for at least 'need' bytes after the buffered ones */
char *ux_rbuf_space (lua_State *L, ux_rbuf *rb, size_t need) {
  if (rb->len == 0) rb->pos = 0;
  if (rb->cap - rb->pos - rb->len < need) {
    if (rb->pos > 0) {  /* move the data to the front first */
      memmove(rb->p, rb->p + rb->pos, rb->len);
      rb->pos = 0;
    }
    if (rb->cap - rb->len < need) {
      /* doubling for a buffer that grows by pieces, exact for one large
      ** ask (recvmany's n * max is that, not up to twice it) */
      size_t ncap = rb->cap < RBUF_MIN / 2 ? RBUF_MIN : 2 * rb->cap;
      char *np;
      if (need > ((size_t)-1) / 2 - rb->len)
        luaL_error(L, "receive buffer too large");
      if (ncap - rb->len < need) ncap = rb->len + need;
      np = (char *)rbuf_realloc(L, rb->p, rb->cap, ncap);
      if (np == NULL) {  /* as Lua's own memory error: no position */
        lua_pushliteral(L, "not enough memory");
        lua_error(L);
      }
      rb->p = np;
      rb->cap = ncap;
    }
  }
  return rb->p + rb->pos + rb->len;
}

void ux_rbuf_consume (lua_State *L, ux_rbuf *rb, size_t n) {
  rb->pos += n;
  rb->len -= n;
  rb->noline = rb->noline > n ? rb->noline - n : 0;
  rb->takes++;
  if (rb->len == 0) rb->pos = 0;
  ux_rbuf_trim(L, rb);
}

/* an empty buffer above RBUF_KEEP is given back: a large receive's
** room does not stay with the handle */
void ux_rbuf_trim (lua_State *L, ux_rbuf *rb) {
  if (rb->len == 0 && rb->cap > RBUF_KEEP) ux_rbuf_free(L, rb);
}

/* freeing drops the bytes: a take too */
void ux_rbuf_free (lua_State *L, ux_rbuf *rb) {
  unsigned takes = rb->takes;
  if (rb->p != NULL) (void)rbuf_realloc(L, rb->p, rb->cap, 0);
  memset(rb, 0, sizeof(*rb));
  rb->takes = takes + 1;
}
