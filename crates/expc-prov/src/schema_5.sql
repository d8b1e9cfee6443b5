-- Schema version 5: how an instance used a file. A file named in a task's command (the
-- program of `python3 ${train_py}`) is recorded like an input, with `used_as = 'program'`;
-- what a call passes to an input is `'input'`, as every usage before.
ALTER TABLE usages ADD COLUMN used_as TEXT NOT NULL DEFAULT 'input'
  CHECK (used_as IN ('input', 'program'));

DROP VIEW IF EXISTS task_reads;
CREATE VIEW task_reads AS
  SELECT t.run_id, t.id AS task_id, t.instance, u.input, a.path, a.digest, a.role,
         a.name AS artifact, u.used_as
  FROM tasks t
  JOIN usages u ON u.run_id = COALESCE(t.source_run, t.run_id)
               AND u.task_id = COALESCE(t.source_task, t.id)
  JOIN artifacts a ON a.run_id = u.run_id AND a.id = u.artifact_id;
