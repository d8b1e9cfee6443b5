-- Schema version 6: the model registry. A run records which instances' model outputs it
-- registered under a name (`register t.model as "nowcaster"`), and which instances
-- evaluated a model (`evaluates = model`): their metrics are that model's scores. A
-- version of a registered model is a content digest: numbered per name in the order its
-- digest was first registered, so the same digest registered again is the same version.
-- Stage changes (`expc models promote`) are kept whole, in the order they were made.
CREATE TABLE registrations (
  run_id  TEXT NOT NULL,
  task_id INTEGER NOT NULL,
  output  TEXT NOT NULL,             -- the instance's output holding the model
  name    TEXT NOT NULL,             -- the registry's name for it
  PRIMARY KEY (run_id, task_id, output, name),
  FOREIGN KEY (run_id, task_id) REFERENCES tasks(run_id, id) ON DELETE CASCADE
);
CREATE INDEX registrations_by_name ON registrations(name);

CREATE TABLE evaluations (
  run_id  TEXT NOT NULL,
  task_id INTEGER NOT NULL,
  input   TEXT NOT NULL,             -- the input holding the model under evaluation
  PRIMARY KEY (run_id, task_id),
  FOREIGN KEY (run_id, task_id) REFERENCES tasks(run_id, id) ON DELETE CASCADE
);

CREATE TABLE model_stages (
  seq    INTEGER PRIMARY KEY,        -- the order of the changes
  name   TEXT NOT NULL,
  digest TEXT NOT NULL,              -- the version, by content
  stage  TEXT NOT NULL CHECK (stage IN ('none', 'staging', 'production', 'archived')),
  user   TEXT,
  at     TEXT NOT NULL,
  reason TEXT
);
CREATE INDEX model_stages_by_name ON model_stages(name, digest);

-- Every registered (name, digest) once, with the instance that first registered it.
CREATE VIEW model_versions AS
  WITH registered AS (
    SELECT g.name, o.digest, o.path, o.type, g.run_id, g.task_id, o.instance, g.output,
           r.started_at, t.idx,
           ROW_NUMBER() OVER (PARTITION BY g.name, o.digest
                              ORDER BY r.started_at, g.run_id, t.idx, g.task_id) AS nth
    FROM registrations g
    JOIN runs r ON r.id = g.run_id
    JOIN tasks t ON t.run_id = g.run_id AND t.id = g.task_id
    JOIN task_outputs o ON o.run_id = g.run_id AND o.task_id = g.task_id AND o.name = g.output
  )
  SELECT name,
         ROW_NUMBER() OVER (PARTITION BY name ORDER BY started_at, run_id, idx, task_id) AS version,
         digest, path, type, run_id, task_id, instance, output, started_at AS registered_at
  FROM registered WHERE nth = 1;

-- Each version's stage now: its last change, `none` when it never had one.
CREATE VIEW model_stage AS
  SELECT v.name, v.version, v.digest,
         COALESCE((SELECT s.stage FROM model_stages s
                   WHERE s.name = v.name AND s.digest = v.digest
                   ORDER BY s.seq DESC LIMIT 1), 'none') AS stage
  FROM model_versions v;

-- The scores of each version: the metrics of the instances that made it, and of those
-- that read it as the model under evaluation (`evaluates = INPUT`), in any run (a cached
-- evaluation that refers to the record of the one that ran is not counted again).
CREATE VIEW model_metrics AS
  SELECT v.name, v.version, v.digest, m.name AS metric, m.value, 'trained' AS source,
         m.run_id, m.instance
  FROM model_versions v
  JOIN task_metrics m ON m.run_id = v.run_id AND m.task_id = v.task_id
  UNION ALL
  SELECT v.name, v.version, v.digest, m.name, m.value, 'evaluated', m.run_id, m.instance
  FROM model_versions v
  JOIN task_reads rd ON rd.digest = v.digest
  JOIN evaluations e ON e.run_id = rd.run_id AND e.task_id = rd.task_id AND e.input = rd.input
  JOIN tasks et ON et.run_id = rd.run_id AND et.id = rd.task_id AND et.source_run IS NULL
  JOIN task_metrics m ON m.run_id = rd.run_id AND m.task_id = rd.task_id;
