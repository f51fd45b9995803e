/*
 * tail.c — the size of the chunks near the end of the job (pure, unit
 * tested in tests/unit/test_exec_stmt.c). Chunks tuned to chunk_time are
 * large (hundreds of thousands of keys on a fast server); if the last ones
 * are that large, one worker runs the last chunk alone while the others
 * idle, up to chunk_time at the end of every job. So when few keys remain,
 * chunks are cut smaller, to a share of what is left, and the workers end
 * together.
 */
#include "execint.h"

uint64_t exec_tail_rows(uint64_t rows, double keys_left, int workers) {
  double share, floor_;
  if (keys_left < 0 || workers < 1 || rows < 2) return rows; /* unknown: as tuned */
  /* Half of each worker's share of what is left: the chunks shrink
   * geometrically towards the end, down to an eighth of the tuned size
   * (each chunk costs a boundary query, a plan row and a commit). */
  share = keys_left / (2.0 * workers);
  floor_ = (double)rows / 8;
  if (floor_ < 100) floor_ = rows < 100 ? (double)rows : 100;
  if (share < floor_) share = floor_;
  return share < (double)rows ? (uint64_t)(share + 0.5) : rows;
}
