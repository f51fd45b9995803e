/*
 * hash.h — the loader's hash of a byte range: of a part (the progress
 * row's chunk_hash, which a resume checks against the file) and of the
 * whole file (the job row's file_hash: "the same bytes" of a completed
 * job). Pure; fed incrementally, in pieces whose sizes are multiples of 8
 * bytes except the last, as a worker reads its part and as the parent
 * reads the file.
 *
 * Two kinds:
 *  - LOAD_HASH_CRC (what this version writes): two CRC32C streams over the
 *    even and the odd 8-byte words, the length mixed into their seeds,
 *    the 64-bit value their concatenation. With SSE4.2 (checked at run
 *    time) a stream costs about a third of a cycle per byte; elsewhere a
 *    table does the same, slower, with the same values;
 *  - LOAD_HASH_FNV (dbfork 1.0 and earlier): FNV-1a over 8-byte words. A
 *    stored hash that does not match the CRC kind is checked again with
 *    this one before the loader calls the file changed, so that the jobs
 *    of earlier versions still resume and are still "already loaded".
 * Neither is cryptographic: they detect an edited, truncated or replaced
 * file, not an adversary.
 */
#ifndef DBFORK_LOAD_HASH_H
#define DBFORK_LOAD_HASH_H

#include <stddef.h>
#include <stdint.h>

enum { LOAD_HASH_CRC = 0, LOAD_HASH_FNV = 1 };

typedef struct load_hasher {
  int kind;       /* LOAD_HASH_* */
  uint64_t h;     /* FNV state */
  uint32_t a, b;  /* CRC32C streams: even and odd words */
  uint64_t words; /* words hashed in all (the stream of the next one) */
  size_t done;    /* bytes of the caller's buffer hashed so far: a multiple of 8 until final */
} load_hasher;

/* Starts the hash of an n-byte range. */
void load_hash_init_kind(load_hasher *x, size_t n, int kind);
void load_hash_init(load_hasher *x, size_t n); /* LOAD_HASH_CRC */
/* Hashes the whole 8-byte words of p[x->done, upto) and moves x->done past
 * them. The caller may set x->done = 0 and pass a new buffer, as long as
 * the bytes go in file order and every piece but the last is a multiple
 * of 8 bytes. */
void load_hash_words(load_hasher *x, const char *p, size_t upto);
/* Hashes what is left of p[x->done, n), the tail bytes included; the value. */
uint64_t load_hash_final(load_hasher *x, const char *p, size_t n);
/* One call: the hash of p[0, n). */
uint64_t load_hash(const void *p, size_t n);
uint64_t load_hash_kind(const void *p, size_t n, int kind);

/* Tests: 1 forces the table (no SSE4.2) path; returns 1 if the CPU path
 * was in use before. */
int load__hash_portable(int on);

#endif /* DBFORK_LOAD_HASH_H */
