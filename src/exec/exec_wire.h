/*
 * exec_wire.h — exec's two byte formats between the parent and a worker: the
 * chunk a worker is to run (the task payload) and what it reports back
 * (the reply). Pure and allocation-free: the reader works over the
 * caller's buffer and points into it, so both are unit tested
 * (tests/unit/test_exec_stmt.c) and fuzzed (tests/fuzz/fuzz_exec_wire.c)
 * without processes. Integers are little-endian; each message starts with
 * a version byte, and a reader refuses a version it does not know.
 *
 * Chunk:  u8 version (1), u8 0, u16 0, u64 chunk, u64 rows_planned, then
 *         three strings, each u32 n and n bytes: the condition {chunk}
 *         becomes, key_from (readable), key_to (readable).
 * Reply:  u8 version (1), u8 flags (1: found committed already), u16 0,
 *         u64 rows_matched, rows_affected, duration_us (EXEC_REPLY_SIZE).
 */
#ifndef DBFORK_EXEC_WIRE_H
#define DBFORK_EXEC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define EXEC_WIRE_VERSION 1
#define EXEC_REPLY_SIZE 28
#define EXEC_REPLY_RECOVERED 0x01
#define EXEC_REPLY_ELSEWHERE 0x02 /* a shared job's chunk locked by another process */

typedef struct exec_chunk_msg {
  uint64_t chunk, rows_planned;
  const char *cond, *key_from, *key_to; /* not NUL-terminated when decoded */
  size_t cond_len, from_len, to_len;
} exec_chunk_msg;

/* The encoded size of m. */
size_t exec_chunk_size(const exec_chunk_msg *m);
/* Writes m into out[0, cap); returns the length, or 0 if it does not fit. */
size_t exec_chunk_encode(const exec_chunk_msg *m, unsigned char *out, size_t cap);
/* Returns 0 (the strings point into buf), or -1 if buf[0, len) is not a
 * chunk of a known version (truncated, trailing bytes, a string that runs
 * past the end). */
int exec_chunk_decode(exec_chunk_msg *m, const void *buf, size_t len);

typedef struct exec_reply {
  int flags;
  uint64_t rows_matched, rows_affected, duration_us;
} exec_reply;

void exec_reply_encode(const exec_reply *r, unsigned char out[EXEC_REPLY_SIZE]);
int exec_reply_decode(exec_reply *r, const void *buf, size_t len); /* 0 or -1 */

#endif
