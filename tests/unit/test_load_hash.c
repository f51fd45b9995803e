/*
 * test_load_hash.c — the loader's range hashes (src/load/hash.c), without
 * processes: the CRC32C kind gives the same value with the crc32
 * instruction and with the table, in one piece or fed as the worker and
 * the parent feed it; every changed byte changes it; and the FNV kind is
 * still dbfork 1.0's hash, byte for byte, so that the progress and job
 * rows of earlier versions are recognised.
 */
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "testutil.h"

#define CHECK_EQ_U64(a, b)                                                                      \
  do {                                                                                          \
    unsigned long long u__a = (a), u__b = (b);                                                  \
    if (u__a != u__b)                                                                           \
      tu__fail(__FILE__, __LINE__, "CHECK_EQ_U64(%s, %s): %#llx != %#llx", #a, #b, u__a, u__b); \
  } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 2685821657736338717ull;
}

/* dbfork 1.0's chunk hash (src/load/plan.c then), as it was. */
static uint64_t fnv_1_0(const void *vp, size_t n) {
  const unsigned char *s = vp;
  uint64_t h = 0xcbf29ce484222325ull ^ n;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  for (; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
  return h;
}

/* Fed in pieces of random multiples of 8 bytes, each in a buffer of its
 * own (done = 0), as the parent reads the file. */
static uint64_t pieces(const unsigned char *p, size_t n, int kind) {
  load_hasher x;
  size_t off = 0;
  load_hash_init_kind(&x, n, kind);
  for (;;) {
    size_t k = 8 * (size_t)(rnd() % 9);
    if (off + k >= n) break;
    x.done = 0;
    load_hash_words(&x, (const char *)p + off, k);
    off += k;
  }
  x.done = 0;
  return load_hash_final(&x, (const char *)p + off, n - off);
}

/* Fed as a worker reads its part: one growing buffer, any steps. */
static uint64_t growing(const unsigned char *p, size_t n, int kind) {
  load_hasher x;
  size_t have = 0;
  load_hash_init_kind(&x, n, kind);
  while (have < n) {
    have += 1 + (size_t)(rnd() % 37);
    if (have >= n) break;
    load_hash_words(&x, (const char *)p, have);
  }
  return load_hash_final(&x, (const char *)p, n);
}

TEST(crc_kind_is_the_same_on_every_path_and_feed) {
  unsigned char *b = malloc(5000);
  size_t n, i;
  for (i = 0; i < 5000; i++) b[i] = (unsigned char)rnd();
  for (n = 0; n < 5000; n += 1 + (size_t)(rnd() % 97)) {
    uint64_t hw, sw;
    int was = load__hash_portable(0);
    hw = load_hash(b, n);
    CHECK_EQ_U64(pieces(b, n, LOAD_HASH_CRC), hw);
    CHECK_EQ_U64(growing(b, n, LOAD_HASH_CRC), hw);
    load__hash_portable(1);
    sw = load_hash(b, n);
    CHECK_EQ_U64(sw, hw);
    CHECK_EQ_U64(pieces(b, n, LOAD_HASH_CRC), hw);
    CHECK_EQ_U64(growing(b, n, LOAD_HASH_CRC), hw);
    load__hash_portable(!was);
  }
  free(b);
}

TEST(crc_kind_value_is_pinned) {
  /* The stored format: a change here makes every interrupted job of this
   * version refuse to resume. */
  CHECK_EQ_U64(load_hash("", 0), 0x0000000000000000ull);
  CHECK_EQ_U64(load_hash("1,2,3\n", 6), 0x73b7d33cb54cda58ull);
  CHECK_EQ_U64(load_hash("id,customer_id,amount,created_at,note\n", 38), 0xbd0bf02b19016e6eull);
}

TEST(every_changed_byte_changes_the_hash) {
  unsigned char b[200];
  size_t i, n;
  for (i = 0; i < sizeof b; i++) b[i] = (unsigned char)rnd();
  for (n = 1; n <= sizeof b; n += 13) {
    uint64_t h = load_hash(b, n);
    for (i = 0; i < n; i++) {
      unsigned char was = b[i];
      b[i] ^= (unsigned char)(1u << (rnd() % 8));
      CHECK(load_hash(b, n) != h);
      b[i] = was;
    }
  }
}

TEST(fnv_kind_is_dbfork_1_0s_hash) {
  unsigned char *b = malloc(3000);
  size_t n, i;
  for (i = 0; i < 3000; i++) b[i] = (unsigned char)rnd();
  for (n = 0; n < 3000; n += 1 + (size_t)(rnd() % 61)) {
    uint64_t want = fnv_1_0(b, n);
    CHECK_EQ_U64(load_hash_kind(b, n, LOAD_HASH_FNV), want);
    CHECK_EQ_U64(pieces(b, n, LOAD_HASH_FNV), want);
    CHECK_EQ_U64(growing(b, n, LOAD_HASH_FNV), want);
  }
  free(b);
}
