-- Schema version 2 (as the SQLite store's `schema_2.sql`).
CREATE INDEX metrics_by_run_name ON expc.metrics(run_id, name, value);
