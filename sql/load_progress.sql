-- dbfork load: the progress table that makes a load resumable exactly once.
-- One row per committed part of a chunk (part 1 is the whole chunk; a chunk
-- that kept losing its worker is split, and the halves of part k are 2k and
-- 2k+1), inserted in the same transaction as the part's rows: a part is
-- either fully loaded and recorded, or neither. Never one shared row that
-- every chunk updates. A rerun of the same command (the same file path and
-- table make the same job_id; the same dialect and chunk size the same chunk
-- boundaries) loads only what is not recorded, after checking the recorded
-- parts' bytes.
-- The loader creates it in the target database if it is missing (a table
-- from dbfork 0.1, without `part`, is upgraded in place): this file is
-- compiled into the library, so it is the one definition.
CREATE TABLE IF NOT EXISTS dbfork_load_progress (
  job_id       CHAR(16)        NOT NULL COMMENT 'dbfork_load_job.job_id',
  chunk_no     INT UNSIGNED    NOT NULL COMMENT '0-based chunk number',
  part         BIGINT UNSIGNED NOT NULL DEFAULT 1 COMMENT '1 = the whole chunk; 2k, 2k+1 = the halves of part k',
  byte_offset  BIGINT UNSIGNED NOT NULL,
  byte_len     BIGINT UNSIGNED NOT NULL,
  first_line   BIGINT UNSIGNED NOT NULL COMMENT '1-based line of the part''s first record',
  records      BIGINT UNSIGNED NOT NULL COMMENT 'records sent to the server',
  rejected     BIGINT UNSIGNED NOT NULL DEFAULT 0,
  warnings     BIGINT UNSIGNED NOT NULL DEFAULT 0,
  worker_pid   INT UNSIGNED    NOT NULL,
  chunk_hash   BIGINT UNSIGNED NOT NULL COMMENT 'hash of the part''s bytes: a rerun checks them',
  committed_at TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (job_id, chunk_no, part)
) ENGINE=InnoDB;
