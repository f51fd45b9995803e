/*
 * hash.c — the loader's range hashes (hash.h): CRC32C in two streams, with
 * SSE4.2's crc32 instruction when the CPU has it, and the FNV hash of
 * dbfork 1.0, kept to recognise what earlier versions stored.
 */
#include "hash.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define HASH_X86 1
#endif

#define FNV_INIT 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint32_t crc_table[256];
static int crc_ready; /* 1: table built; path chosen */
static int crc_hw;    /* 1: SSE4.2 */

static void crc_setup(void) {
  uint32_t k;
  for (k = 0; k < 256; k++) {
    uint32_t v = k;
    int b;
    for (b = 0; b < 8; b++) v = v & 1 ? 0x82f63b78u ^ (v >> 1) : v >> 1;
    crc_table[k] = v;
  }
#ifdef HASH_X86
  __builtin_cpu_init();
  crc_hw = __builtin_cpu_supports("sse4.2") != 0;
#endif
  crc_ready = 1;
}

int load__hash_portable(int on) {
  int was;
  if (!crc_ready) crc_setup();
  was = crc_hw;
#ifdef HASH_X86
  crc_hw = on ? 0 : __builtin_cpu_supports("sse4.2") != 0;
#else
  (void)on;
#endif
  return was;
}

static uint32_t crc_bytes_sw(uint32_t c, const unsigned char *p, size_t n) {
  while (n--) c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
  return c;
}

#ifdef HASH_X86
/* Words [i, end) of p, the first one to the stream of word x->words. */
__attribute__((target("sse4.2"))) static void crc_words_hw(load_hasher *x, const char *p, size_t i,
                                                           size_t end) {
  uint64_t a = x->a, b = x->b, w, v;
  if (i < end && (x->words & 1)) {
    memcpy(&w, p + i, 8);
    b = _mm_crc32_u64(b, w);
    i += 8;
  }
  for (; i + 16 <= end; i += 16) { /* two independent streams: the latencies overlap */
    memcpy(&w, p + i, 8);
    memcpy(&v, p + i + 8, 8);
    a = _mm_crc32_u64(a, w);
    b = _mm_crc32_u64(b, v);
  }
  if (i < end) {
    memcpy(&w, p + i, 8);
    a = _mm_crc32_u64(a, w);
  }
  x->a = (uint32_t)a;
  x->b = (uint32_t)b;
}
#endif

void load_hash_init_kind(load_hasher *x, size_t n, int kind) {
  if (!crc_ready) crc_setup();
  memset(x, 0, sizeof *x);
  x->kind = kind;
  x->h = FNV_INIT ^ n;
  x->a = 0xffffffffu ^ (uint32_t)n;
  x->b = 0xffffffffu ^ (uint32_t)(((uint64_t)n * 0x9e3779b97f4a7c15ull) >> 32);
}

void load_hash_init(load_hasher *x, size_t n) { load_hash_init_kind(x, n, LOAD_HASH_CRC); }

void load_hash_words(load_hasher *x, const char *p, size_t upto) {
  size_t i = x->done, end;
  if (upto <= i) return;
  end = i + (upto - i) / 8 * 8;
  if (x->kind == LOAD_HASH_FNV) {
    uint64_t h = x->h;
    for (; i < end; i += 8) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      h = (h ^ w) * FNV_PRIME;
      h ^= h >> 29;
    }
    x->h = h;
  } else {
#ifdef HASH_X86
    if (crc_hw) {
      crc_words_hw(x, p, i, end);
      x->words += (end - i) / 8;
      x->done = end;
      return;
    }
#endif
    for (; i < end; i += 8, x->words++) {
      if (x->words & 1)
        x->b = crc_bytes_sw(x->b, (const unsigned char *)p + i, 8);
      else
        x->a = crc_bytes_sw(x->a, (const unsigned char *)p + i, 8);
    }
  }
  x->done = end;
}

uint64_t load_hash_final(load_hasher *x, const char *p, size_t n) {
  const unsigned char *s;
  size_t i;
  load_hash_words(x, p, n);
  s = (const unsigned char *)p;
  i = x->done;
  if (x->kind == LOAD_HASH_FNV) {
    uint64_t h = x->h;
    for (; i < n; i++) h = (h ^ s[i]) * FNV_PRIME;
    return h;
  }
  /* The tail (< 8 bytes) goes to the stream of the next word; the table
   * and the crc32 instruction agree byte for byte. */
  if (i < n) {
    if (x->words & 1)
      x->b = crc_bytes_sw(x->b, s + i, n - i);
    else
      x->a = crc_bytes_sw(x->a, s + i, n - i);
  }
  return (uint64_t)(x->a ^ 0xffffffffu) << 32 | (x->b ^ 0xffffffffu);
}

uint64_t load_hash_kind(const void *p, size_t n, int kind) {
  load_hasher x;
  load_hash_init_kind(&x, n, kind);
  return load_hash_final(&x, p, n);
}

uint64_t load_hash(const void *p, size_t n) { return load_hash_kind(p, n, LOAD_HASH_CRC); }
