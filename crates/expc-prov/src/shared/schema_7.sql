-- Schema version 7 (as the SQLite store's `schema_7.sql`): what an instance used of what
-- it asked, where the engine measured it.
CREATE TABLE expc.efficiency (
  run_id       TEXT NOT NULL,
  task_id      BIGINT NOT NULL,
  elapsed_ms   BIGINT NOT NULL,
  cpu_ms       BIGINT NOT NULL,
  max_rss      BIGINT,
  cpus         BIGINT NOT NULL,
  mem          BIGINT,
  time_limit_s BIGINT,
  PRIMARY KEY (run_id, task_id),
  FOREIGN KEY (run_id, task_id) REFERENCES expc.tasks(run_id, id) ON DELETE CASCADE
);
ALTER TABLE expc.efficiency ENABLE ROW LEVEL SECURITY;
CREATE POLICY efficiency_read ON expc.efficiency FOR SELECT
  USING (run_id IN (SELECT id FROM expc.runs));
CREATE POLICY efficiency_write ON expc.efficiency FOR INSERT
  WITH CHECK (run_id IN (SELECT id FROM expc.runs r WHERE r.xmin = pg_current_xact_id()::xid AND expc.may(r.project, 'write')));
GRANT SELECT, INSERT ON expc.efficiency TO PUBLIC;
