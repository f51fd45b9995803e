/*
 * csv.h — the CSV layer of the loader (libdbfork-load): dialects,
 * record-aligned splitting, and record parsing. This header is the manual.
 *
 * Everything here is pure and allocation-free: it reads caller buffers and
 * writes caller-provided structs and scratch space only, so it is unit-tested
 * and fuzzed without processes (tests/csv, tests/fuzz/fuzz_csv.c). The only
 * system call is pread() in csv_split_fd().
 *
 * Semantics: MySQL/MariaDB LOAD DATA, so that what the splitter and the parser
 * see is exactly what the server sees when a chunk is sent to it.
 *
 *  - A field that starts with the enclosure byte is quoted. Inside it, a doubled
 *    enclosure is one literal enclosure byte, and an enclosure closes the field
 *    only when followed by the line terminator, the field terminator or the end
 *    of input; any other enclosure byte is literal (the server is lenient; with
 *    CSV_F_STRICT the parser reports it, see below). Terminators inside quotes
 *    are data, so quoted fields may contain separators and newlines.
 *  - The escape byte (default '\\') makes the next byte literal, also inside
 *    quotes and also before a terminator ("a\<LF>b" is one field holding a
 *    newline). "\0 \b \n \r \t \Z" decode to NUL, BS, LF, CR, TAB, 0x1A.
 *    At the very end of input a lone escape byte is literal.
 *    When the escape byte equals the enclosure byte (ESCAPED BY '"' ENCLOSED BY
 *    '"'), it only doubles: "" is one '"', nothing else is decoded.
 *  - At every position the line terminator is tried before the field
 *    terminator, as the server does.
 *  - NULL: a field whose value is exactly the escape sequence \N (quoted or
 *    not: the server does both); an unquoted NULL when an enclosure is set
 *    (CSV_F_NULL_WORD, on by default then, as the server does); an empty
 *    unquoted field if CSV_F_EMPTY_NULL (off by default; the server has no
 *    such option: the loader must use SET col = NULLIF(@v, '') for load-data).
 *  - An empty line is a record of one empty field (the server inserts a row
 *    of defaults for it; a field-count check rejects it).
 *  - RFC 4180 is the dialect with escape none (csv_dialect_rfc4180): quotes
 *    are escaped by doubling only.
 *
 * CRLF (CSV_F_CRLF, set by csv_dialect_parse when the line terminator is
 * exactly "\n"): "\r\n" ends a record too. The '\r' is not part of the last
 * field; a closing quote followed by "\r\n" closes the field; an unescaped
 * '\r' as the very last byte of the input is dropped the same way. Record
 * boundaries stay at the '\n', so splitting is the same with or without the
 * flag, except for a closing quote before "\r\n", which the flag closes.
 * The server has no such mode: the load-data method tells it "\n" and
 * sends each record whose terminator the parser read as "\r\n"
 * (csv_record.term_len 2) without that '\r', so that the server reads the
 * same fields as the parser, in files that mix LF and CRLF too.
 * (csv_dialect_sniff_eol() finds the line end of a file's first record.)
 *
 * Line numbers: `line` is the physical line, 1 + the number of '\n' bytes
 * before a position (what an editor shows; a record holding quoted newlines
 * spans several lines). `record` is the 1-based record number counted from
 * the start of the file, header records included. `column` is the 1-based
 * byte offset within the physical line.
 *
 * Known differences from the server, all on malformed or unusual input:
 *  - a last record without a line terminator that ends in a field terminator
 *    ("a,<EOF>") has 2 fields here; the server sees 1 (it reads no field at
 *    EOF). The final chunk's `no_eol` flag tells the loader to append the
 *    line terminator when streaming it, which makes the server agree (after
 *    a lone escape byte at EOF the loader doubles it first, so that the
 *    terminator is not escaped: the byte stays literal, as above);
 *  - an unterminated quoted field runs to EOF; the server loads it with the
 *    opening quote as data, here it is a bad record (CSV_BAD_UNTERMINATED);
 *  - the server skips extra fields with a scan that ignores quotes; check the
 *    field count (csv_parser.expect_fields) so such rows never reach it;
 *  - only ASCII terminator/enclosure/escape bytes are accepted (the server
 *    does not implement others), and the input must be in a charset whose
 *    multi-byte sequences never contain ASCII bytes (UTF-8, latin1, ...).
 */
#ifndef DBFORK_LOAD_CSV_H
#define DBFORK_LOAD_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "scan.h"

/* Return codes. 0 is success; system errors are -errno (only csv_split_fd). */
#define CSV_OK 0
#define CSV_END 1               /* csv_parse_record: no record left */
#define CSV_EINCOMPLETE (-1001) /* csv_parse_record: the record continues past the buffer */
#define CSV_EBADREC (-1002)     /* csv_parse_record: malformed record; see csv_error */
#define CSV_ENOSPC (-1003)      /* scratch or field array too small for a record */
#define CSV_EINVAL (-1004)      /* bad dialect or argument */
#define CSV_ESTATE (-1005)      /* splitter used after csv_splitter_finish */

/* Returns a static description of a CSV_* code or of -errno. */
const char *csv_strerror(int rc);

/* ---------------------------------------------------------------- dialect */

#define CSV_TERM_MAX 8

/* Flags (csv_dialect.flags). CSV_F_STRICT (parser only): an enclosure byte
 * inside an unquoted field, or anything but a terminator after a closing
 * quote, makes a bad record instead of literal data. */
#define CSV_F_CRLF 0x01       /* "\r\n" also ends a record (see above) */
#define CSV_F_STRICT 0x02     /* parser: see above */
#define CSV_F_NULL_WORD 0x04  /* parser: unquoted NULL is SQL NULL */
#define CSV_F_EMPTY_NULL 0x08 /* parser: empty unquoted field is SQL NULL */
#define CSV_F_SLOWPATH 0x100  /* splitter, parser: never use the fast path (tests compare both) */

typedef struct csv_dialect {
  uint8_t field_term[CSV_TERM_MAX]; /* FIELDS TERMINATED BY, 1..8 bytes */
  uint8_t field_term_len;
  uint8_t line_term[CSV_TERM_MAX]; /* LINES TERMINATED BY, 1..8 bytes */
  uint8_t line_term_len;
  int enclosure; /* ENCLOSED BY byte, or -1 for none */
  int escape;    /* ESCAPED BY byte, or -1 for none */
  unsigned flags;
} csv_dialect;

/*
 * Builds a dialect from LOAD DATA style option strings, each decoded like a
 * MySQL string literal (\t \n \r \0 \b \Z \\ \' \" ; a lone trailing '\'
 * is a backslash), as mysqlimport does. NULL selects the default:
 * fields ",", enclosed '"', escaped '\\', lines "\n". An empty `enclosed` or
 * `escaped` means none. Flags: CSV_F_CRLF if lines is exactly "\n",
 * CSV_F_NULL_WORD if an enclosure is set; the caller may OR in more.
 * Rejects: empty or > 8-byte terminators, equal terminators, enclosure or
 * escape longer than one byte, non-ASCII bytes, and an enclosure or escape
 * byte equal to the first byte of a terminator (the server would never see
 * that terminator). Returns 0, or CSV_EINVAL with a message in err (if
 * errlen > 0; always NUL-terminated).
 */
int csv_dialect_parse(csv_dialect *d, const char *fields_terminated, const char *enclosed,
                      const char *escaped, const char *lines_terminated, char *err, size_t errlen);

/* RFC 4180: fields ",", enclosed '"', no escape, lines "\n" + CSV_F_CRLF,
 * CSV_F_STRICT and CSV_F_NULL_WORD (what the server does with the enclosure). */
void csv_dialect_rfc4180(csv_dialect *d);

/*
 * Makes a CSV_F_CRLF dialect exact, for the load-data method (the server has
 * no "\n or \r\n" mode): finds the end of the first record in buf[0, len)
 * (the start of the file; `eof`: the file ends there) and sets the line
 * terminator to what that record uses, "\r\n" or "\n", clearing CSV_F_CRLF
 * either way. Then the splitter, the parser and the server (told that
 * terminator) agree byte for byte even on a file mixing line ends.
 * Returns 1 if switched to "\r\n", 0 if the terminator stays "\n" (or the
 * flag was not set: nothing changes), CSV_EINCOMPLETE if no record ends
 * within len and !eof (the dialect is unchanged).
 */
int csv_dialect_sniff_eol(csv_dialect *d, const void *buf, size_t len, int eof);

/* ------------------------------------------------------------- splitting */

/*
 * A chunk: the byte range [off, off + len) of the file holding `records`
 * whole records. Chunks are emitted in file order; they do not overlap and
 * their union is the whole file minus the skipped header records. A chunk
 * closes at the first record end at or after `chunk_bytes` from its start,
 * so it is longer than chunk_bytes by at most one record.
 */
typedef struct csv_chunk {
  uint64_t index;        /* 0-based */
  uint64_t off, len;     /* file byte range */
  uint64_t records;      /* >= 1 */
  uint64_t first_record; /* 1-based record number of its first record (headers count) */
  uint64_t first_line;   /* 1-based physical line of byte `off` */
  uint64_t first_col;    /* 1-based column of byte `off` (1 unless the line terminator
                            does not end in '\n') */
  int no_eol;            /* 1: its last record has no line terminator (end of file) */
} csv_chunk;

/* Called for each chunk; *c is valid during the call only. Return 0 to go
 * on; any other value stops the splitter, which returns that value. */
typedef int (*csv_chunk_cb)(void *ud, const csv_chunk *c);

/*
 * Streaming splitter state. Allocate it anywhere (about 750 bytes; it holds no
 * pointers to caller memory and needs no cleanup); the fields are private.
 */
typedef struct csv_splitter {
  csv_dialect d;
  uint64_t chunk_bytes, skip_left, skipped;
  uint64_t off; /* bytes consumed so far */
  uint64_t rec_start, field_start, esc_end;
  uint64_t rec_nl;                 /* '\n' count before rec_start */
  uint64_t records;                /* completed records, headers included */
  uint64_t nl, nl_off, line_start; /* '\n' count in [0, nl_off); offset after the last one */
  uint64_t nchunks;
  csv_chunk cur;
  int state, fast, rc, finished;
  int esc; /* escape byte as it matters for structure, or -1 */
  uint8_t prev, carry_len;
  uint8_t carry[16];
  scan_set set_unq, set_q; /* bytes that stop the unquoted / quoted scan */
} csv_splitter;

/*
 * Prepares s to split a file from its first byte. chunk_bytes: target chunk
 * size (0 is taken as 1: one record per chunk). skip_records: header records
 * to leave out (--skip-lines; counted by records, so a quoted newline in a
 * header does not miscount). The dialect is copied.
 */
void csv_splitter_init(csv_splitter *s, const csv_dialect *d, uint64_t chunk_bytes,
                       uint64_t skip_records);

/*
 * Feeds the next len bytes of the file (buffers must be consecutive; any
 * sizes, 0 included). Calls cb for each chunk completed. The splitter keeps
 * up to 9 bytes of lookahead internally, so the caller may reuse buf as soon
 * as this returns. Returns 0; or the callback's non-zero value (then and
 * after, the splitter does nothing more and returns that value again); or
 * CSV_ESTATE after finish.
 */
int csv_splitter_feed(csv_splitter *s, const void *buf, size_t len, csv_chunk_cb cb, void *ud);

/*
 * Declares end of file: the last record may lack a line terminator, and the
 * final chunk is emitted. Returns like csv_splitter_feed. A file that ends
 * inside a quoted field still ends in a chunk (that reaches EOF);
 * csv_splitter_stats reports it so the loader can refuse the file early.
 */
int csv_splitter_finish(csv_splitter *s, csv_chunk_cb cb, void *ud);

typedef struct csv_split_stats {
  uint64_t bytes;   /* consumed */
  uint64_t records; /* all records, headers included */
  uint64_t skipped; /* header records left out */
  uint64_t chunks;
  uint64_t lines;           /* physical lines (a last line without '\n' counts) */
  int open_quote;           /* after finish: 1 if the file ended inside quotes */
  uint64_t open_quote_off;  /* then: file offset of the record holding it, */
  uint64_t open_quote_line; /* and the physical line of its first byte */
} csv_split_stats;

/* Fills *st; valid at any time, complete after csv_splitter_finish. */
void csv_splitter_stats(const csv_splitter *s, csv_split_stats *st);

/*
 * Convenience: splits the whole file fd from offset 0 with pread() into the
 * caller's buffer buf[0, buflen) (1 MiB is plenty). Memory use does not grow
 * with the file. st may be NULL. Returns 0, -errno on a read error, the
 * callback's non-zero value, or CSV_EINVAL (NULL d/buf/cb, buflen 0). Does
 * not move the file offset.
 */
int csv_split_fd(int fd, const csv_dialect *d, uint64_t chunk_bytes, uint64_t skip_records,
                 void *buf, size_t buflen, csv_chunk_cb cb, void *ud, csv_split_stats *st);

/* --------------------------------------------------------------- parsing */

typedef struct csv_field {
  const char *ptr; /* value bytes, not NUL-terminated: into the input when nothing
                      needed decoding, else into the parser's scratch */
  size_t len;
  int null;         /* 1: SQL NULL (ptr/len still hold the decoded text) */
  int quoted;       /* 1: the field was enclosed */
  size_t raw_start; /* offset of its first byte (the quote, if quoted) from the record's */
} csv_field;

typedef struct csv_record {
  const char *raw; /* the original bytes, line terminator included */
  size_t raw_len;
  size_t term_len;   /* bytes of its line terminator at the end of raw: 0 at the end of the
                        input; under CSV_F_CRLF 2 for "\r\n", 1 for "\n" */
  csv_field *fields; /* = the parser's array; valid until the next parse call */
  size_t nfields;
  uint64_t line;   /* physical line of raw[0] */
  uint64_t record; /* record number */
} csv_record;

enum csv_bad {
  CSV_BAD_UNTERMINATED = 1, /* quoted field not closed before end of input */
  CSV_BAD_QUOTE,            /* strict: enclosure byte inside an unquoted field */
  CSV_BAD_AFTER_QUOTE,      /* strict: not a terminator after a closing quote */
  CSV_BAD_TOO_FEW,          /* fewer fields than expect_fields */
  CSV_BAD_TOO_MANY,         /* more than expect_fields (or maxfields) fields */
  CSV_BAD_ENCODING          /* not the loader's parser: bytes invalid in the file's character
                               set (csv_check_utf8) */
};

typedef struct csv_error {
  int kind;             /* enum csv_bad */
  const char *reason;   /* static text for kind */
  uint64_t line;        /* physical line of the offending byte */
  uint64_t column;      /* its 1-based column */
  uint64_t record;      /* record number */
  size_t field;         /* 1-based index of the field it is in */
  size_t got, expected; /* field counts, for TOO_FEW/TOO_MANY */
  const char *raw;      /* the whole bad record, as in the input, terminator included */
  size_t raw_off;       /* its offset in the buffer given to the parser */
  size_t raw_len;
  uint64_t rec_line; /* physical line where the record starts */
  size_t bad_off;    /* offset of the offending byte from raw[0] */
} csv_error;

/* Formats "line L, column C (field F): reason" into buf; returns snprintf's value. */
int csv_error_format(const csv_error *e, char *buf, size_t len);

/* ------------------------------------------------------------- encoding */

/* UTF-8 flavours csv_check_utf8 checks: MySQL's utf8mb4 (1..4-byte
 * sequences), utf8mb3 (1..3 bytes: no character above U+FFFF) and ascii. */
enum { CSV_ENC_UTF8MB4 = 4, CSV_ENC_UTF8MB3 = 3, CSV_ENC_ASCII = 1 };

/* The offset of the first byte of p[0, n) that does not start a valid
 * sequence of the flavour (RFC 3629 UTF-8: no overlong forms, no
 * surrogates, nothing above U+10FFFF; sequences of at most `flavour`
 * bytes), or n if all of it is valid. A sequence cut at n is invalid:
 * check whole records. Pure; ASCII runs are skipped 8 bytes at a time. */
size_t csv_check_utf8(const void *p, size_t n, int flavour);

/*
 * Parser: configuration plus the position of the next record. The field
 * array and scratch belong to the caller and must outlive the parser. A
 * scratch buffer as large as the longest record always suffices (decoding
 * only shrinks). Set expect_fields to check every record's field count
 * (0: any count up to maxfields).
 */
typedef struct csv_parser {
  const csv_dialect *d;
  csv_field *fields;
  size_t maxfields;
  char *scratch;
  size_t scratch_len;
  size_t expect_fields;
  uint64_t line, col, record; /* of the next record; 1, 1, 1 after init */
  /* private: 1 for the bytes that mean nothing outside / inside quotes
   * (skipped in runs) */
  uint8_t plain_unq[256], plain_q[256];
  int fast; /* csv_fast.c takes the records that need no decoding */
  scan_set set_unq, set_q;
} csv_parser;

void csv_parser_init(csv_parser *p, const csv_dialect *d, csv_field *fields, size_t maxfields,
                     char *scratch, size_t scratch_len);

/* Positions the parser at the start of chunk c (line, column, record). */
void csv_parser_seek(csv_parser *p, const csv_chunk *c);

/*
 * Parses the record at the start of buf[0, len). eof: 1 if the input ends at
 * len (a chunk from the splitter is always complete: pass 1).
 * Returns
 *   CSV_OK          *rec filled; rec->raw_len bytes consumed;
 *   CSV_EBADREC     malformed: *err filled (err->raw_len bytes consumed; the
 *                   record extent is what the server and the splitter use);
 *                   *rec is filled too (fields up to the error are unreliable);
 *   CSV_END         len == 0 and eof: no record left;
 *   CSV_EINCOMPLETE the record does not end within len and !eof: call again
 *                   with more bytes; nothing consumed;
 *   CSV_ENOSPC      scratch too small for this record; nothing consumed;
 *   CSV_EINVAL      expect_fields > maxfields.
 * On OK and EBADREC the parser's position advances past the record.
 */
int csv_parse_record(csv_parser *p, const void *buf, size_t len, int eof, csv_record *rec,
                     csv_error *err);

/* Callbacks of csv_parse_chunk: return 0 to go on, non-zero to stop (the
 * value is returned). Pointers are valid during the call only. */
typedef int (*csv_record_cb)(void *ud, const csv_record *rec);
typedef int (*csv_bad_cb)(void *ud, const csv_error *err);

typedef struct csv_parse_stats {
  uint64_t records; /* good + bad */
  uint64_t bad;
  uint64_t bytes; /* consumed */
} csv_parse_stats;

/*
 * Parses every record of a complete chunk buf[0, len) (eof semantics at len),
 * calling ok (may be NULL) for each good record and bad (may be NULL) for
 * each malformed one, which carries the original bytes for a reject file.
 * Position the parser first (csv_parser_seek). st may be NULL. Returns 0,
 * CSV_ENOSPC, or a callback's non-zero value.
 */
int csv_parse_chunk(csv_parser *p, const void *buf, size_t len, csv_record_cb ok, csv_bad_cb bad,
                    void *ud, csv_parse_stats *st);

/* Internal (csv_fast.c): the parser's fast path. csv__fast_init sets
 * p->fast for the dialects it handles; csv__fast_record returns 1 with
 * *rec filled and the position advanced, exactly as csv_parse_record would
 * have, or 0 having changed nothing (the general parser takes the record). */
void csv__fast_init(csv_parser *p);
int csv__fast_record(csv_parser *p, const uint8_t *b, size_t len, csv_record *rec);

#endif /* DBFORK_LOAD_CSV_H */
