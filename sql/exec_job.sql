-- dbfork exec: one row per job. A job is a table, the key that chunks it
-- and the statements (job_id is a hash of the three): a rerun of the same
-- command is the same job, and resumes it. until_lits is the last key of
-- the job, fixed when it first started (NULL: the table was empty), kept
-- for its reruns; completed_at is set when a run has committed every chunk.
-- Created by dbfork exec in the target's database (or --progress-db) if
-- missing; compiled into the library (this file is the one definition).
CREATE TABLE IF NOT EXISTS dbfork_exec_job (
  job_id       CHAR(16)        NOT NULL,
  target       VARCHAR(300)    NOT NULL COMMENT 'db.table',
  key_columns  VARCHAR(2000)   NOT NULL,
  statements   MEDIUMTEXT      NOT NULL,
  until_lits   TEXT            NULL COMMENT 'the last key: hex of each SQL literal',
  until_key    VARCHAR(1000)   NULL COMMENT 'the same, readable',
  started_at   TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  completed_at TIMESTAMP(6)    NULL DEFAULT NULL,
  PRIMARY KEY (job_id)
) ENGINE=InnoDB;
