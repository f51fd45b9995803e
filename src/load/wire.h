/*
 * wire.h — the loader's two byte formats between the parent and a worker:
 * the part a worker is to load (the task payload) and what it reports back
 * (the task reply). Pure and allocation-free except for the writer's
 * growable buffer: the readers work over caller buffers, so both are unit
 * tested (tests/unit/test_load_wire.c) and fuzzed (tests/fuzz/fuzz_load_wire.c)
 * without processes. Integers are little-endian; every message starts with
 * a version byte, and a reader refuses a version it does not know.
 *
 * Part (LOAD_PART_SIZE bytes):
 *   u8 version (2), u8 flags (1: the part's last record has no line
 *   terminator), u16 0, then u64 chunk, part, offset, length, records,
 *   first_record, first_line, first_col.
 *
 * Reply:
 *   u8 version (2), u8 flags (1: the part was found committed already, by
 *   an attempt whose COMMIT outcome was unknown), u16 0, u32 entries, then
 *   u64 chunk, part, records, loaded, rejected, warnings, first_line,
 *   last_line; then `entries` entries, each
 *     u8 kind 1 (reject): u64 line, error_line, column, field, offset,
 *                         error_offset, u32 n, n bytes of reason, u32 m, m raw
 *                         bytes, u32 k, k bytes of column name, u32 v, v bytes
 *                         of value
 *     u8 kind 2 (warning): u64 line, u32 n, n bytes of message
 *   and nothing after the last.
 * Version 2 (after dbfork 1.0) added the reject's offsets, column name and value;
 * both ends of a load are the same library, so there is no fallback.
 */
#ifndef DBFORK_LOAD_WIRE_H
#define DBFORK_LOAD_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define LOAD_WIRE_VERSION 2
#define LOAD_PART_SIZE 68

#define LOAD_PART_NO_EOL 0x01
#define LOAD_PART_RETRY 0x02 /* an earlier attempt of this part was lost (its COMMIT may be in) */
#define LOAD_REPLY_RECOVERED 0x01
#define LOAD_REPLY_ELSEWHERE 0x02 /* shared job: another process holds or committed the chunk */

typedef struct load_part {
  uint64_t chunk, part;    /* the job's chunk, and its heap part number (1 = whole) */
  uint64_t offset, length; /* file byte range */
  uint64_t records;        /* records in it */
  uint64_t first_record;   /* 1-based record number of its first record */
  uint64_t first_line;     /* 1-based physical line of byte `offset` */
  uint64_t first_col;      /* 1-based column of byte `offset` */
  int no_eol;              /* its last record has no terminator (end of file) */
  int retry;               /* LOAD_PART_RETRY */
} load_part;

/* Writes LOAD_PART_SIZE bytes to out. */
void load_part_encode(const load_part *p, unsigned char out[LOAD_PART_SIZE]);
/* Returns 0, or -1 if buf[0, len) is not a part of a known version. */
int load_part_decode(load_part *p, const void *buf, size_t len);

enum { LOAD_ENTRY_REJECT = 1, LOAD_ENTRY_WARNING = 2 };

typedef struct load_reply_head {
  int flags;
  uint32_t entries;
  uint64_t chunk, part, records, loaded, rejected, warnings, first_line, last_line;
} load_reply_head;

typedef struct load_entry {
  int kind;                           /* LOAD_ENTRY_* */
  uint64_t line;                      /* the record's first line */
  uint64_t error_line, column, field; /* rejects */
  uint64_t offset, error_offset;      /* rejects: file offsets of the record, the bad byte */
  const char *text;                   /* reason or message; not NUL-terminated; into the buffer */
  size_t text_len;
  const char *raw; /* rejects: the record's bytes; into the buffer */
  size_t raw_len;
  const char *column_name; /* rejects of a bad value: the column; into the buffer */
  size_t column_name_len;
  const char *value; /* rejects of a bad value: the field's value; into the buffer */
  size_t value_len;
} load_entry;

/* Reader over a complete reply. */
typedef struct load_reply_reader {
  const unsigned char *p, *end;
  uint32_t left;
} load_reply_reader;

/* Reads the head of buf[0, len) and positions r at the first entry.
 * Returns 0, or -1 if the reply is short or of an unknown version. */
int load_reply_open(load_reply_reader *r, load_reply_head *h, const void *buf, size_t len);
/* The next entry: 1 and *e filled; 0 after the last one (when the reply
 * ends exactly there); -1 if the reply is malformed (truncated, an unknown
 * kind, bytes after the last entry). Pointers in *e point into the buffer. */
int load_reply_next(load_reply_reader *r, load_entry *e);

/* Writer: a reply is built in a growable buffer; the head is written last
 * (load_reply_finish), entries as they come. */
typedef struct load_reply_writer {
  unsigned char *p;
  size_t len, cap;
  uint32_t entries;
  int oom; /* an append ran out of memory: the reply is incomplete */
} load_reply_writer;

/* Empties w (keeps its buffer) and reserves the head. */
void load_reply_begin(load_reply_writer *w);
/* Appends a reject: e's line .. value_len (kind is ignored). */
void load_reply_reject(load_reply_writer *w, const load_entry *e);
void load_reply_warning(load_reply_writer *w, uint64_t line, const char *msg, size_t len);
/* Writes the head; returns 0, or -1 if an append ran out of memory. */
int load_reply_finish(load_reply_writer *w, const load_reply_head *h);
void load_reply_free(load_reply_writer *w);

#endif /* DBFORK_LOAD_WIRE_H */
