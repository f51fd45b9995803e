-- The table the load benchmark (bench/load.sh) and several tests load into:
-- the shape of a typical ETL fact table.
CREATE TABLE IF NOT EXISTS bench_orders (
  id          BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  customer_id INT UNSIGNED    NOT NULL,
  amount      DECIMAL(12,2)   NOT NULL,
  created_at  DATETIME        NOT NULL,
  note        VARCHAR(32)     NULL
) ENGINE=InnoDB;
