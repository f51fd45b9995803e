-- The table `dbfork demo` creates (in database dbfork_demo by default).
CREATE TABLE IF NOT EXISTS demo_rows (
  id          BIGINT UNSIGNED PRIMARY KEY,
  worker_slot INT             NOT NULL,
  amount      DECIMAL(12,2)   NOT NULL,
  note        VARCHAR(64)     NOT NULL
) ENGINE=InnoDB;
