-- Schema version 3: a cached instance refers to the record of the instance that made its
-- outputs instead of copying it. A rerun that reuses 10,000 instances adds 10,000 short
-- rows to `tasks`, not their values, outputs, reads and metrics again.
--
-- For a cached instance whose outputs were made by an instance of a run recorded whole,
-- `source_run` and `source_task` name that instance's row; its values, outputs (artifacts
-- it produced), reads (usages) and metrics are that row's. An output of such an instance
-- gets an artifact row in the reusing run only when an instance of that run reads it.
-- Rows of cached instances without a source (stores written before this version, or
-- reusing a run that was killed) carry their own copies, as before.
ALTER TABLE tasks ADD COLUMN source_run TEXT;
ALTER TABLE tasks ADD COLUMN source_task INTEGER;

-- Every instance of every run with what it read, made and measured, taken from its
-- source's record when it has one: the views to query a run whole.
CREATE VIEW task_inputs AS
  SELECT t.run_id, t.id AS task_id, t.instance, v.name, v.value, v.num
  FROM tasks t
  JOIN task_values v ON v.run_id = COALESCE(t.source_run, t.run_id)
                    AND v.task_id = COALESCE(t.source_task, t.id);

CREATE VIEW task_outputs AS
  SELECT t.run_id, t.id AS task_id, t.instance, a.name, a.path, a.digest, a.size, a.is_dir,
         a.type, a.role, a.run_id AS made_in
  FROM tasks t
  JOIN artifacts a ON a.run_id = COALESCE(t.source_run, t.run_id)
                  AND a.produced_by = COALESCE(t.source_task, t.id);

CREATE VIEW task_reads AS
  SELECT t.run_id, t.id AS task_id, t.instance, u.input, a.path, a.digest, a.role,
         a.name AS artifact
  FROM tasks t
  JOIN usages u ON u.run_id = COALESCE(t.source_run, t.run_id)
               AND u.task_id = COALESCE(t.source_task, t.id)
  JOIN artifacts a ON a.run_id = u.run_id AND a.id = u.artifact_id;

CREATE VIEW task_metrics AS
  SELECT t.run_id, t.id AS task_id, t.instance, m.name, m.value
  FROM tasks t
  JOIN metrics m ON m.run_id = COALESCE(t.source_run, t.run_id)
                AND m.task_id = COALESCE(t.source_task, t.id);

-- A model version is listed once, with the run and instance that made it (not again for
-- every run that reused it).
DROP VIEW models;
CREATE VIEW models AS
  SELECT a.run_id, a.digest AS version, a.path, a.type, a.name AS output,
         t.id AS task_id, t.instance, r.started_at
  FROM artifacts a
  JOIN runs r ON r.id = a.run_id
  LEFT JOIN tasks t ON t.run_id = a.run_id AND t.id = a.produced_by
  WHERE a.role = 'model' AND t.status IS NOT 'cached';
