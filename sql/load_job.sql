-- dbfork load: one row per job. A job is a file (its real path) and a
-- target table, and one load of it: the first job of a file and table has
-- the id job_key (a hash of the two), a later one (the file changed after
-- the last job completed, or a reload) the next generation, with an id
-- derived from job_key and the generation. `rejected` is the job's
-- --max-errors budget in use: the rows rejected by its committed parts.
-- Only a part that has rejects updates it, in its own transaction (UPDATE
-- ... WHERE rejected + n <= max), so the committed parts never reject more
-- than --max-errors rows in all, across workers and reruns, and a part that
-- rolls back gives its share back with it. completed_at, file_hash and
-- rows_loaded are set when a run has loaded the whole file: a rerun on the
-- same bytes then loads nothing.
-- Created by the loader beside its progress table if missing; compiled into
-- the library (this file is the one definition; the loader adds the
-- columns a table of an earlier version lacks).
CREATE TABLE IF NOT EXISTS dbfork_load_job (
  job_id       CHAR(16)        NOT NULL COMMENT 'the job (its plan and progress rows)',
  job_key      CHAR(16)        NOT NULL DEFAULT '' COMMENT 'hash of the file''s real path and the table',
  generation   INT UNSIGNED    NOT NULL DEFAULT 1 COMMENT 'jobs of one job_key: 1, 2, ...',
  file         VARBINARY(4096) NOT NULL COMMENT 'the file''s real path',
  table_name   VARBINARY(300)  NOT NULL COMMENT '`db`.`table`',
  file_size    BIGINT UNSIGNED NOT NULL,
  chunk_size   BIGINT UNSIGNED NOT NULL,
  rejected     BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'rows rejected by committed parts',
  created_at   TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  completed_at TIMESTAMP(6)    NULL DEFAULT NULL COMMENT 'when a run loaded the whole file',
  file_hash    BIGINT UNSIGNED NULL DEFAULT NULL COMMENT 'hash of the file''s bytes then',
  rows_loaded  BIGINT UNSIGNED NULL DEFAULT NULL COMMENT 'rows its parts committed',
  PRIMARY KEY (job_id),
  KEY job_key (job_key, generation)
) ENGINE=InnoDB;
