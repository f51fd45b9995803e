/*
 * scan.h — the byte searches under the CSV layer's hot loops (csv.c,
 * csv_fast.c), vectorised with SSE2 where the compiler targets it (every
 * x86-64) and plain loops elsewhere: "the first byte of a small set" and
 * "how many '\n' bytes". Header-only and pure, like csv.c; both paths give
 * the same answers (the tests run the parser and the splitter over the
 * same inputs on their fast and their general paths).
 */
#ifndef DBFORK_LOAD_SCAN_H
#define DBFORK_LOAD_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#define SCAN_SSE2 1
#endif

/* A set of up to 5 byte values to search for. Unused slots repeat a used
 * one, so that the vector compare needs no count. */
typedef struct scan_set {
  uint8_t c[5];
  uint8_t in[256]; /* 1 for members: the scalar tail */
} scan_set;

/* Builds the set from up to n values; a value < 0 (a dialect's "none") is
 * left out. n must be >= 1 and at least one value must be >= 0. */
static inline void scan_set_init(scan_set *s, const int *v, int n) {
  int k = 0, i;
  memset(s, 0, sizeof *s);
  for (i = 0; i < n; i++)
    if (v[i] >= 0) {
      s->c[k++] = (uint8_t)v[i];
      s->in[(uint8_t)v[i]] = 1;
    }
  for (i = k; i < 5; i++) s->c[i] = s->c[0];
}

/* The index of the first byte of p[i, n) in the set, or n. */
static inline size_t scan_find(const uint8_t *p, size_t i, size_t n, const scan_set *s) {
#ifdef SCAN_SSE2
  if (i + 16 <= n) {
    const __m128i a = _mm_set1_epi8((char)s->c[0]), b = _mm_set1_epi8((char)s->c[1]),
                  c = _mm_set1_epi8((char)s->c[2]), d = _mm_set1_epi8((char)s->c[3]),
                  e = _mm_set1_epi8((char)s->c[4]);
    for (; i + 16 <= n; i += 16) {
      __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
      __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, a), _mm_cmpeq_epi8(x, b)),
                               _mm_or_si128(_mm_cmpeq_epi8(x, c), _mm_cmpeq_epi8(x, d)));
      unsigned bits = (unsigned)_mm_movemask_epi8(_mm_or_si128(m, _mm_cmpeq_epi8(x, e)));
      if (bits) return i + (size_t)__builtin_ctz(bits);
    }
  }
#endif
  while (i + 4 <= n && !(s->in[p[i]] | s->in[p[i + 1]] | s->in[p[i + 2]] | s->in[p[i + 3]])) i += 4;
  while (i < n && !s->in[p[i]]) i++;
  return i;
}

/* Number of '\n' bytes in p[0, n). */
static inline uint64_t scan_count_nl(const uint8_t *p, size_t n) {
  uint64_t c = 0;
  size_t i = 0;
#ifdef SCAN_SSE2
  const __m128i nl = _mm_set1_epi8('\n'), zero = _mm_setzero_si128();
  while (i + 16 <= n) {
    /* Up to 255 blocks per byte lane, then a horizontal sum (psadbw). */
    __m128i acc = zero;
    size_t end = n - i >= 255 * 16 ? i + 255 * 16 : i + ((n - i) & ~(size_t)15);
    for (; i < end; i += 16)
      acc = _mm_sub_epi8(
          acc, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i)), nl));
    acc = _mm_sad_epu8(acc, zero);
    c += (uint64_t)_mm_cvtsi128_si32(acc) + (uint64_t)_mm_extract_epi16(acc, 4);
  }
#else
  const uint64_t ones = 0x0101010101010101ull, lo7 = 0x7f7f7f7f7f7f7f7full;
  for (; i + 8 <= n; i += 8) {
    uint64_t x, t;
    memcpy(&x, p + i, 8);
    x ^= ones * '\n';          /* '\n' bytes become 0 */
    t = ((x & lo7) + lo7) | x; /* high bit set in every non-zero byte */
    t = (~t >> 7) & ones;      /* 1 in every zero byte */
    c += (t * ones) >> 56;     /* horizontal sum, at most 8 */
  }
#endif
  for (; i < n; i++) c += p[i] == '\n';
  return c;
}

/* 1 if p[0, n) holds a byte >= 0x80. */
static inline int scan_any_high(const uint8_t *p, size_t n) {
  size_t i = 0;
  uint64_t acc = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    acc |= w;
  }
  for (; i < n; i++) acc |= p[i];
  return (acc & 0x8080808080808080ull) != 0;
}

#endif /* DBFORK_LOAD_SCAN_H */
