-- dbfork exec: the plan of a job, one row per chunk, stored before the
-- chunk is first sent to a worker: its key range (keys above from_lits, up
-- to to_lits included). A rerun runs the chunks that have a row here and
-- none in dbfork_exec_progress with the same range, then cuts new chunks
-- after the last one. Every transaction that runs a chunk first locks the
-- chunk's row here (the claim), so two of them never both commit.
CREATE TABLE IF NOT EXISTS dbfork_exec_plan (
  job_id       CHAR(16)        NOT NULL COMMENT 'dbfork_exec_job.job_id',
  chunk_no     BIGINT UNSIGNED NOT NULL COMMENT '0-based chunk number',
  from_lits    TEXT            NULL COMMENT 'hex of each SQL literal of the key above which it starts; NULL: the first chunk',
  to_lits      TEXT            NOT NULL COMMENT 'hex of each SQL literal of its last key',
  key_from     VARCHAR(1000)   NOT NULL DEFAULT '',
  key_to       VARCHAR(1000)   NOT NULL,
  rows_planned BIGINT UNSIGNED NOT NULL,
  planned_at   TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (job_id, chunk_no)
) ENGINE=InnoDB;
