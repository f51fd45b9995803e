-- dbfork load: one row per job (a file path and a target table). `rejected`
-- is the job's --max-errors budget in use: the rows rejected by its
-- committed parts. Only a part that has rejects updates it, in its own
-- transaction (UPDATE ... WHERE rejected + n <= max), so the committed parts
-- never reject more than --max-errors rows in all, across workers and
-- reruns, and a part that rolls back gives its share back with it.
-- Created by the loader in the target database if missing; compiled into
-- the library (this file is the one definition).
CREATE TABLE IF NOT EXISTS dbfork_load_job (
  job_id       CHAR(16)        NOT NULL COMMENT 'hash of the file''s real path and the table',
  file         VARBINARY(4096) NOT NULL COMMENT 'the file''s real path',
  table_name   VARBINARY(300)  NOT NULL COMMENT '`db`.`table`',
  file_size    BIGINT UNSIGNED NOT NULL,
  chunk_size   BIGINT UNSIGNED NOT NULL,
  rejected     BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'rows rejected by committed parts',
  created_at   TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (job_id)
) ENGINE=InnoDB;
