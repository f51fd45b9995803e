-- dbfork load: the progress table that makes a load resumable exactly once.
-- One row per committed chunk, written in the same transaction as the
-- chunk's rows: a chunk is either fully loaded and recorded, or neither.
-- A rerun of the same command (same file, table, dialect and chunk size,
-- hence the same job_id and the same chunk boundaries) skips recorded chunks.
-- `dbfork load` creates it in the target database if it is missing: this
-- file is compiled into the command, so it is the one definition.
CREATE TABLE IF NOT EXISTS dbfork_load_progress (
  job_id       CHAR(16)        NOT NULL COMMENT 'hash of the file''s real path and the table',
  chunk_no     INT UNSIGNED    NOT NULL COMMENT '0-based chunk number',
  byte_offset  BIGINT UNSIGNED NOT NULL,
  byte_len     BIGINT UNSIGNED NOT NULL,
  first_line   BIGINT UNSIGNED NOT NULL COMMENT '1-based line of the chunk''s first record',
  records      BIGINT UNSIGNED NOT NULL COMMENT 'records sent to the server',
  rejected     BIGINT UNSIGNED NOT NULL DEFAULT 0,
  warnings     BIGINT UNSIGNED NOT NULL DEFAULT 0,
  worker_pid   INT UNSIGNED    NOT NULL,
  chunk_hash   BIGINT UNSIGNED NOT NULL COMMENT 'hash of the chunk''s bytes: a rerun checks them',
  committed_at TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (job_id, chunk_no)
) ENGINE=InnoDB;
