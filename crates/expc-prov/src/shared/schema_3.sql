-- Schema version 3 (as the SQLite store's `schema_3.sql`): cached instances refer to the
-- record that made their outputs; the views that read a run whole.
ALTER TABLE expc.tasks ADD COLUMN source_run TEXT;
ALTER TABLE expc.tasks ADD COLUMN source_task BIGINT;

CREATE VIEW expc.task_inputs WITH (security_invoker = true) AS
  SELECT t.run_id, t.id AS task_id, t.instance, v.name, v.value, v.num
  FROM expc.tasks t
  JOIN expc.task_values v ON v.run_id = COALESCE(t.source_run, t.run_id)
                         AND v.task_id = COALESCE(t.source_task, t.id);

CREATE VIEW expc.task_outputs WITH (security_invoker = true) AS
  SELECT t.run_id, t.id AS task_id, t.instance, a.name, a.path, a.digest, a.size, a.is_dir,
         a.type, a.role, a.run_id AS made_in
  FROM expc.tasks t
  JOIN expc.artifacts a ON a.run_id = COALESCE(t.source_run, t.run_id)
                       AND a.produced_by = COALESCE(t.source_task, t.id);

CREATE VIEW expc.task_reads WITH (security_invoker = true) AS
  SELECT t.run_id, t.id AS task_id, t.instance, u.input, a.path, a.digest, a.role,
         a.name AS artifact
  FROM expc.tasks t
  JOIN expc.usages u ON u.run_id = COALESCE(t.source_run, t.run_id)
                    AND u.task_id = COALESCE(t.source_task, t.id)
  JOIN expc.artifacts a ON a.run_id = u.run_id AND a.id = u.artifact_id;

CREATE VIEW expc.task_metrics WITH (security_invoker = true) AS
  SELECT t.run_id, t.id AS task_id, t.instance, m.name, m.value
  FROM expc.tasks t
  JOIN expc.metrics m ON m.run_id = COALESCE(t.source_run, t.run_id)
                     AND m.task_id = COALESCE(t.source_task, t.id);

DROP VIEW expc.models;
CREATE VIEW expc.models WITH (security_invoker = true) AS
  SELECT a.run_id, a.digest AS version, a.path, a.type, a.name AS output,
         t.id AS task_id, t.instance, r.started_at
  FROM expc.artifacts a
  JOIN expc.runs r ON r.id = a.run_id
  LEFT JOIN expc.tasks t ON t.run_id = a.run_id AND t.id = a.produced_by
  WHERE a.role = 'model' AND t.status IS DISTINCT FROM 'cached';

GRANT SELECT ON expc.task_inputs, expc.task_outputs, expc.task_reads, expc.task_metrics, expc.models TO PUBLIC;
