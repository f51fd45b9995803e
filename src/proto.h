/*
 * proto.h — the parent<->worker wire format.
 *
 * Every message is one frame: a 16-byte header followed by `len` payload
 * bytes. All integers are little-endian.
 *
 *   offset size field
 *   0      4    len      payload length (<= the receiver's max payload)
 *   4      1    type     DBFORK__MSG_*
 *   5      1    flags    0 (reserved for later; receivers reject other values)
 *   6      2    arg      type-specific small integer (attempt number, reason)
 *   8      8    id       task id for TASK/RESULT/ERROR, else 0
 *
 * The codec is pure and allocation-free: it reads and writes caller buffers
 * only, so it can be unit-tested and fuzzed without processes. Parsers return
 * the number of bytes consumed (> 0), DBFORK__PROTO_INCOMPLETE when more
 * bytes are needed, or DBFORK__PROTO_INVALID for a frame that can never
 * become valid (bad type, non-zero flags, oversized length, bad body).
 */
#ifndef DBFORK_PROTO_H
#define DBFORK_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DBFORK__HDR_LEN 16
#define DBFORK__PROTO_INCOMPLETE (-2)
#define DBFORK__PROTO_INVALID (-1)
#define DBFORK__MSG_MSG_MAX 1024 /* longest error message carried, bytes */

enum {
  DBFORK__MSG_TASK = 1,        /* P->W  id=task, arg=attempt, payload=task body */
  DBFORK__MSG_RESULT = 2,      /* W->P  id=task, arg=attempts, payload=reply bytes */
  DBFORK__MSG_ERROR = 3,       /* W->P  id=task, arg=attempts, payload=error body */
  DBFORK__MSG_HELLO = 4,       /* W->P  payload=hello body: connected, ready */
  DBFORK__MSG_INITFAIL = 5,    /* W->P  payload=error body: start failed */
  DBFORK__MSG_STOP = 6,        /* P->W  finish what was sent, run finalizers, exit */
  DBFORK__MSG_RECYCLE = 7,     /* W->P  arg=reason: please stop sending me tasks */
  DBFORK__MSG_CONNINFO = 8,    /* W->P  payload=hello body: reconnected, new id */
  DBFORK__MSG_BYE = 9,         /* W->P  finalizers ran, exiting; arg=reason */
  DBFORK__MSG_COMMITTING = 10, /* W->P  id=task: COMMIT goes to the server next */
  DBFORK__MSG_FINIFAIL = 11,   /* W->P  arg=finalizer's rank, payload=error body */
  DBFORK__MSG_TYPE_MAX = 11
};

/* Reasons carried in RECYCLE/BYE arg. */
enum {
  DBFORK__WHY_DRAIN = 0,  /* parent sent STOP */
  DBFORK__WHY_SIGNAL = 1, /* SIGTERM/SIGINT/SIGHUP */
  DBFORK__WHY_PARENT = 2, /* parent died */
  DBFORK__WHY_RSS = 3,    /* max RSS exceeded */
  DBFORK__WHY_CONN = 4    /* connection could not be re-established */
};

typedef struct dbfork__frame {
  uint32_t len;
  uint8_t type;
  uint8_t flags;
  uint16_t arg;
  uint64_t id;
  const uint8_t *payload; /* points into the parsed buffer */
} dbfork__frame;

/* Error body: i32 status, u32 mysql_errno, 5 bytes sqlstate (NUL padded),
 * u16 msglen, msglen bytes of message (not NUL-terminated on the wire). */
typedef struct dbfork__errbody {
  int32_t status;
  uint32_t mysql_errno;
  char sqlstate[6]; /* NUL-terminated after decode */
  const char *msg;  /* decode: points into the payload, NOT NUL-terminated */
  uint16_t msglen;  /* <= DBFORK__MSG_MSG_MAX */
} dbfork__errbody;
#define DBFORK__ERRBODY_FIXED 15

/* Task body: u32 index into the pool's task table, then the task's bytes.
 * What crosses is the index, never a function pointer: a worker that was
 * not forked from the parent (spawn) has the same table at other addresses. */
#define DBFORK__TASKBODY_FIXED 4

/* Hello body: u32 pid, i32 slot, u64 connection id. */
typedef struct dbfork__hello {
  uint32_t pid;
  int32_t slot;
  uint64_t connection_id;
} dbfork__hello;
#define DBFORK__HELLO_LEN 16

/* Parses one frame at buf[0..len). On success fills *f (payload points into
 * buf) and returns DBFORK__HDR_LEN + f->len. */
ssize_t dbfork__frame_parse(const void *buf, size_t len, size_t max_payload, dbfork__frame *f);

/* Writes a 16-byte header to out. */
void dbfork__frame_header(uint8_t out[DBFORK__HDR_LEN], uint8_t type, uint16_t arg, uint64_t id,
                          uint32_t len);

/* Error bodies. size() is the encoded length; encode() writes it to out
 * (cap bytes) and returns the length, or 0 if cap is too small; a message
 * longer than DBFORK__MSG_MSG_MAX is truncated. decode() returns 0 or
 * DBFORK__PROTO_INVALID. */
size_t dbfork__errbody_size(const dbfork__errbody *e);
size_t dbfork__errbody_encode(uint8_t *out, size_t cap, const dbfork__errbody *e);
int dbfork__errbody_decode(const uint8_t *p, size_t len, dbfork__errbody *e);

/* Task bodies: prefix() writes the index; decode() returns 0 and the index
 * and bytes (pointing into p), or DBFORK__PROTO_INVALID if p is too short. */
void dbfork__taskbody_prefix(uint8_t out[DBFORK__TASKBODY_FIXED], uint32_t task);
int dbfork__taskbody_decode(const uint8_t *p, size_t len, uint32_t *task, const uint8_t **bytes,
                            size_t *n);

void dbfork__hello_encode(uint8_t out[DBFORK__HELLO_LEN], const dbfork__hello *h);
int dbfork__hello_decode(const uint8_t *p, size_t len, dbfork__hello *h);

#endif
