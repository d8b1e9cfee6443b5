-- Schema version 5 (as the SQLite store's `schema_5.sql`): how an instance used a file.
ALTER TABLE expc.usages ADD COLUMN used_as TEXT NOT NULL DEFAULT 'input'
  CHECK (used_as IN ('input', 'program'));

DROP VIEW expc.task_reads;
CREATE VIEW expc.task_reads WITH (security_invoker = true) AS
  SELECT t.run_id, t.id AS task_id, t.instance, u.input, a.path, a.digest, a.role,
         a.name AS artifact, u.used_as
  FROM expc.tasks t
  JOIN expc.usages u ON u.run_id = COALESCE(t.source_run, t.run_id)
                    AND u.task_id = COALESCE(t.source_task, t.id)
  JOIN expc.artifacts a ON a.run_id = u.run_id AND a.id = u.artifact_id;
GRANT SELECT ON expc.task_reads TO PUBLIC;
