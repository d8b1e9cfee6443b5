-- The provenance store, schema version 1. Documented in docs/provenance.md; every change
-- is a new migration appended in schema.rs, never an edit of this one.
--
-- Times are UTC, RFC 3339 with milliseconds (`2026-12-01T23:05:12.345Z`), so they sort
-- as text. Digests are BLAKE3, lowercase hex, of a file's bytes (a directory's digest
-- covers its files' names and contents).

-- One row per `expc run` (or per ingested cluster run).
CREATE TABLE runs (
  id            TEXT PRIMARY KEY,   -- time-ordered: 20261201T230512Z-3fa9c1
  experiment    TEXT,               -- the `experiment` header's name
  spec_path     TEXT NOT NULL,      -- absolute path of the spec run
  spec_hash     TEXT NOT NULL,      -- BLAKE3 of the spec's and its imports' sources
  pipeline      TEXT NOT NULL,
  expc_version  TEXT NOT NULL,
  user          TEXT,
  host          TEXT,
  pid           INTEGER,            -- of the expc process, to tell a killed run
  pid_start     TEXT,               -- that process's start tick, against pid reuse
  started_at    TEXT NOT NULL,
  ended_at      TEXT,
  status        TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
  git_commit    TEXT,               -- HEAD of the repository holding the spec
  git_dirty     INTEGER,            -- 1 when tracked files differ from HEAD
  git_diff_hash TEXT,               -- BLAKE3 of `git diff HEAD`, when dirty
  environment   TEXT NOT NULL,      -- JSON: os, kernel, arch, cpus, memory, tools, modules, containers, conda
  instances     INTEGER NOT NULL DEFAULT 0,
  ran           INTEGER NOT NULL DEFAULT 0,
  cached        INTEGER NOT NULL DEFAULT 0,
  failed        INTEGER NOT NULL DEFAULT 0,
  skipped       INTEGER NOT NULL DEFAULT 0
);

-- The value of every param of a run. `value` is the value as JSON; `num` the number when
-- the value is one (Int, Float, and quantities in their base unit), for comparisons.
CREATE TABLE params (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  name   TEXT NOT NULL,
  type   TEXT NOT NULL,
  value  TEXT NOT NULL,
  num    REAL,
  PRIMARY KEY (run_id, name)
);

-- One row per task instance of a run: ran, cached, failed, skipped or not run.
CREATE TABLE tasks (
  run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  id         INTEGER NOT NULL,      -- the order in which the run settled it
  instance   TEXT NOT NULL,         -- `train[3]`
  call       TEXT NOT NULL,         -- the pipeline binding
  task       TEXT NOT NULL,         -- the task's name
  idx        INTEGER NOT NULL,      -- the index in its sweep (0 outside one)
  cache_key  TEXT,
  argv       TEXT,                  -- JSON array; secrets appear as `secret(NAME)`
  status     TEXT NOT NULL CHECK (status IN ('ran', 'cached', 'failed', 'skipped', 'not_run')),
  started_at TEXT,
  ended_at   TEXT,
  host       TEXT,
  exit_code  INTEGER,
  attempts   INTEGER NOT NULL DEFAULT 0,
  backend    TEXT NOT NULL,         -- local, slurm, kubernetes, spark
  resource   TEXT NOT NULL,         -- the resource it was placed on
  job_id     TEXT,                  -- the engine's job id, when an engine ran it
  message    TEXT,                  -- why it failed or did not run
  PRIMARY KEY (run_id, id)
);

-- The scalar inputs of an instance (a sweep point's values, params passed in).
CREATE TABLE task_values (
  run_id  TEXT NOT NULL,
  task_id INTEGER NOT NULL,
  name    TEXT NOT NULL,
  value   TEXT NOT NULL,
  num     REAL,
  PRIMARY KEY (run_id, task_id, name),
  FOREIGN KEY (run_id, task_id) REFERENCES tasks(run_id, id) ON DELETE CASCADE
);

-- Files and directories a run read or made, one row per (path, digest) in a run.
CREATE TABLE artifacts (
  run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  id          INTEGER NOT NULL,
  path        TEXT NOT NULL,
  digest      TEXT NOT NULL,
  size        INTEGER,
  is_dir      INTEGER NOT NULL DEFAULT 0,
  type        TEXT,                 -- declared type: `Table<Csv>`, `Model<Onnx>`, `Metrics`
  role        TEXT NOT NULL CHECK (role IN ('data', 'model', 'output', 'metrics', 'file')),
  name        TEXT,                 -- the declared data/model id, or the output's name
  produced_by INTEGER,              -- tasks.id of the instance that made it
  PRIMARY KEY (run_id, id)
);

-- Which instance read which artifact, as which input.
CREATE TABLE usages (
  run_id      TEXT NOT NULL,
  task_id     INTEGER NOT NULL,
  artifact_id INTEGER NOT NULL,
  input       TEXT NOT NULL,
  FOREIGN KEY (run_id, task_id) REFERENCES tasks(run_id, id) ON DELETE CASCADE
);

-- Numbers read from the `Metrics` outputs of instances.
CREATE TABLE metrics (
  run_id  TEXT NOT NULL,
  task_id INTEGER NOT NULL,
  name    TEXT NOT NULL,
  value   REAL NOT NULL,
  FOREIGN KEY (run_id, task_id) REFERENCES tasks(run_id, id) ON DELETE CASCADE
);

-- Model artifacts: their version is their digest.
CREATE VIEW models AS
  SELECT a.run_id, a.digest AS version, a.path, a.type, a.name AS output,
         t.id AS task_id, t.instance, r.started_at
  FROM artifacts a
  JOIN runs r ON r.id = a.run_id
  LEFT JOIN tasks t ON t.run_id = a.run_id AND t.id = a.produced_by
  WHERE a.role = 'model';

CREATE INDEX tasks_by_status ON tasks(run_id, status);
CREATE INDEX artifacts_by_digest ON artifacts(digest);
CREATE INDEX artifacts_by_producer ON artifacts(run_id, produced_by);
CREATE INDEX usages_by_task ON usages(run_id, task_id);
CREATE INDEX usages_by_artifact ON usages(run_id, artifact_id);
CREATE INDEX metrics_by_name ON metrics(name, value);
CREATE INDEX metrics_by_task ON metrics(run_id, task_id);
CREATE INDEX params_by_name ON params(name, num);
CREATE INDEX task_values_by_name ON task_values(name, num);
