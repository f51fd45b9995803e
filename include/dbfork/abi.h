/*
 * dbfork/abi.h — the helpers of the size-first ABI scheme (docs/ABI.md), for
 * the library side of any dbfork header: libdbfork itself and each layer
 * library (the loader, ...). A program that only uses dbfork does not need
 * this header.
 *
 * The scheme, in short: a struct the caller allocates travels with the
 * caller's sizeof of it — in its first member `size_t size`, set by the
 * header's init macro (input structs), or as an argument the header's macro
 * passes (output structs). The library reads and writes only the bytes both
 * sides know; fields are only ever appended, and a field's zero is its
 * default.
 */
#ifndef DBFORK_ABI_H
#define DBFORK_ABI_H

#include <stddef.h>
#include <string.h>

/* The size of `type` up to and including `field`: with the last field of the
 * struct's first release, the smallest size a caller may pass. */
#define DBFORK_ABI_SIZE_TO(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* A struct the caller filled in: copies the caller's `src_size` bytes at src
 * into the library's `dst` of `dst_size` bytes. Fields the caller's layout
 * lacks (an older program) are zero, i.e. their defaults. Returns 0; or -1
 * when the caller's layout is longer (a newer program) and sets a field this
 * library does not know: the bytes past dst_size must all be zero. */
static inline int dbfork_abi_copy_in(void *dst, size_t dst_size, const void *src, size_t src_size) {
  const unsigned char *s = (const unsigned char *)src;
  size_t i;
  memset(dst, 0, dst_size);
  memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
  for (i = dst_size; i < src_size; i++)
    if (s[i]) return -1;
  return 0;
}

/* A struct the library fills in for the caller: writes the library's
 * `src_size` bytes at src into the caller's `dst` of `dst_size` bytes, never
 * past it; fields this library does not know (a newer program) read 0. */
static inline void dbfork_abi_copy_out(void *dst, size_t dst_size, const void *src,
                                       size_t src_size) {
  memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
  if (dst_size > src_size) memset((unsigned char *)dst + src_size, 0, dst_size - src_size);
}

#endif
