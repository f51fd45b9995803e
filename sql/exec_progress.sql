-- dbfork exec: one row per committed chunk, inserted in the chunk's own
-- transaction after its statements: a chunk is either changed and recorded,
-- or neither. Query it afterwards: the key range, the rows the statements
-- matched and changed, how long the chunk took, and the worker and session
-- that ran it.
CREATE TABLE IF NOT EXISTS dbfork_exec_progress (
  job_id        CHAR(16)        NOT NULL COMMENT 'dbfork_exec_job.job_id',
  chunk_no      BIGINT UNSIGNED NOT NULL,
  part          BIGINT UNSIGNED NOT NULL DEFAULT 1 COMMENT 'always 1: exec does not split chunks',
  key_from      VARCHAR(1000)   NOT NULL DEFAULT '' COMMENT 'keys above this one (empty: the first chunk)',
  key_to        VARCHAR(1000)   NOT NULL COMMENT 'up to this one, included',
  rows_planned  BIGINT UNSIGNED NOT NULL,
  rows_matched  BIGINT UNSIGNED NOT NULL COMMENT 'summed over the statements',
  rows_affected BIGINT UNSIGNED NOT NULL COMMENT 'summed over the statements',
  duration_ms   INT UNSIGNED    NOT NULL,
  worker_pid    INT UNSIGNED    NOT NULL,
  connection_id BIGINT UNSIGNED NOT NULL,
  committed_at  TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (job_id, chunk_no, part)
) ENGINE=InnoDB;
