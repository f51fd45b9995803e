-- dbfork load: the processes of a job shared with --job, one row each (the
-- same columns as dbfork_exec_process): where it runs, the connection ids
-- of its sessions (the parent's first, then its workers' as they connect),
-- and a heartbeat the parent updates about once a second. A process whose
-- heartbeat is older than --dead-after is taken for dead by any other live
-- process of the job, which sets killed_by and KILLs its sessions.
-- Created by dbfork load beside its other tables, for shared jobs only;
-- compiled into the library (this file is the one definition).
CREATE TABLE IF NOT EXISTS dbfork_load_process (
  job_id       CHAR(16)        NOT NULL COMMENT 'dbfork_load_job.job_id',
  process_id   VARCHAR(120)    NOT NULL COMMENT 'host:pid:start',
  job_name     VARCHAR(64)     NOT NULL COMMENT 'the --job name',
  host         VARCHAR(64)     NOT NULL,
  pid          INT UNSIGNED    NOT NULL,
  workers      INT UNSIGNED    NOT NULL,
  sessions     TEXT            NOT NULL COMMENT 'connection ids, comma-separated',
  chunks_done  BIGINT UNSIGNED NOT NULL DEFAULT 0,
  rows_done    BIGINT UNSIGNED NOT NULL DEFAULT 0,
  started_at   TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  heartbeat_at TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  ended_at     TIMESTAMP(6)    NULL DEFAULT NULL,
  killed_by    VARCHAR(120)    NULL DEFAULT NULL COMMENT 'the process that KILLed its sessions',
  PRIMARY KEY (job_id, process_id)
) ENGINE=InnoDB;
