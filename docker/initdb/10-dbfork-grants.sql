-- Run once by the official mysql/mariadb images' entrypoint after it created
-- MYSQL_USER/MARIADB_USER 'dbfork'@'%' with MYSQL_DATABASE dbfork_test.
-- The test suite needs what tests/server.sh grants its throwaway server:
-- everything (PROCESS and performance_schema to count sessions, KILL /
-- CONNECTION_ADMIN for the pool's control connection, CREATE DATABASE for
-- the demo's and loader's databases).
GRANT ALL PRIVILEGES ON *.* TO 'dbfork'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
