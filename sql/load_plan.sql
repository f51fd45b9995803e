-- dbfork load: the plan of a job, one row per chunk of the file, stored by
-- the loader before the chunk is first sent to a worker. Every transaction
-- that loads a chunk (or a part of it) first locks the chunk's row here
-- (SELECT ... FOR UPDATE on its primary key): the claim. So two
-- transactions of one chunk never both commit, even when a retry starts
-- while the first attempt's COMMIT is still in flight on the server, or a
-- rerun starts while a killed run's worker is still finishing.
-- Created by the loader in the target database if missing; compiled into
-- the library (this file is the one definition).
CREATE TABLE IF NOT EXISTS dbfork_load_plan (
  job_id       CHAR(16)        NOT NULL COMMENT 'dbfork_load_job.job_id',
  chunk_no     INT UNSIGNED    NOT NULL COMMENT '0-based chunk number',
  byte_offset  BIGINT UNSIGNED NOT NULL,
  byte_len     BIGINT UNSIGNED NOT NULL,
  first_line   BIGINT UNSIGNED NOT NULL COMMENT '1-based line of the chunk''s first record',
  records      BIGINT UNSIGNED NOT NULL,
  planned_at   TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (job_id, chunk_no)
) ENGINE=InnoDB;
