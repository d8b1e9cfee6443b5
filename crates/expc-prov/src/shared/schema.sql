-- The shared provenance store on PostgreSQL, schema version 1: the tables of the SQLite
-- store's `schema.sql` (same columns, same meaning; INTEGER is BIGINT, REAL is DOUBLE
-- PRECISION), in the schema `expc`, plus what only a shared store needs: each run's
-- project, who may read, write or administer a project (`members`), and the row-level
-- security that enforces it on every table. The references between tables are not
-- declared as foreign keys (the embedded store's recorder also writes with them off):
-- rows come only from `expc prov push`, which sends a run whole in one transaction, and
-- the policies let a run's rows be added only in the transaction that adds the run, so a
-- run is complete and never changes once it is here. Every later change is a new script, applied
-- by `expc store migrate`, mirroring the SQLite store's migrations version for version.

CREATE TABLE expc.store_version (version BIGINT NOT NULL);
INSERT INTO expc.store_version VALUES (1);

-- Who may do what in a project: `member` is a PostgreSQL role (a login or a group),
-- `level` one of read < write < admin. The store's owner (who ran `expc store init`)
-- may do everything everywhere.
CREATE TABLE expc.members (
  project TEXT NOT NULL,
  member  TEXT NOT NULL,
  level   TEXT NOT NULL CHECK (level IN ('read', 'write', 'admin')),
  PRIMARY KEY (project, member)
);

-- Whether the connected user (`session_user`, so `SET ROLE` changes nothing) holds at
-- least `needed` in `project`, directly or through a group. It reads `members` as its
-- owner, so the policies on `members` itself do not recurse.
CREATE FUNCTION expc.may(project TEXT, needed TEXT) RETURNS BOOLEAN
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = expc, pg_catalog AS $$
    SELECT pg_has_role(session_user, (SELECT nspowner FROM pg_namespace WHERE nspname = 'expc'), 'MEMBER')
        OR EXISTS (
          SELECT 1 FROM expc.members m JOIN pg_roles r ON r.rolname = m.member
           WHERE m.project = $1
             AND pg_has_role(session_user, r.oid, 'MEMBER')
             AND CASE $2 WHEN 'read' THEN true
                         WHEN 'write' THEN m.level IN ('write', 'admin')
                         ELSE m.level = 'admin' END)
$$;

CREATE TABLE expc.runs (
  id            TEXT PRIMARY KEY,
  experiment    TEXT,
  spec_path     TEXT NOT NULL,
  spec_hash     TEXT NOT NULL,
  pipeline      TEXT NOT NULL,
  expc_version  TEXT NOT NULL,
  "user"        TEXT,
  host          TEXT,
  pid           BIGINT,
  pid_start     TEXT,
  started_at    TEXT NOT NULL,
  ended_at      TEXT,
  status        TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
  git_commit    TEXT,
  git_dirty     BIGINT,
  git_diff_hash TEXT,
  environment   TEXT NOT NULL,
  instances     BIGINT NOT NULL DEFAULT 0,
  ran           BIGINT NOT NULL DEFAULT 0,
  cached        BIGINT NOT NULL DEFAULT 0,
  failed        BIGINT NOT NULL DEFAULT 0,
  skipped       BIGINT NOT NULL DEFAULT 0,
  project       TEXT NOT NULL
);

CREATE TABLE expc.params (
  run_id TEXT NOT NULL,
  name   TEXT NOT NULL,
  type   TEXT NOT NULL,
  value  TEXT NOT NULL,
  num    DOUBLE PRECISION,
  PRIMARY KEY (run_id, name)
);

CREATE TABLE expc.tasks (
  run_id     TEXT NOT NULL,
  id         BIGINT NOT NULL,
  instance   TEXT NOT NULL,
  call       TEXT NOT NULL,
  task       TEXT NOT NULL,
  idx        BIGINT NOT NULL,
  cache_key  TEXT,
  argv       TEXT,
  status     TEXT NOT NULL CHECK (status IN ('ran', 'cached', 'failed', 'skipped', 'not_run')),
  started_at TEXT,
  ended_at   TEXT,
  host       TEXT,
  exit_code  BIGINT,
  attempts   BIGINT NOT NULL DEFAULT 0,
  backend    TEXT NOT NULL,
  resource   TEXT NOT NULL,
  job_id     TEXT,
  message    TEXT,
  PRIMARY KEY (run_id, id)
);

CREATE TABLE expc.task_values (
  run_id  TEXT NOT NULL,
  task_id BIGINT NOT NULL,
  name    TEXT NOT NULL,
  value   TEXT NOT NULL,
  num     DOUBLE PRECISION,
  PRIMARY KEY (run_id, task_id, name)
);

CREATE TABLE expc.artifacts (
  run_id      TEXT NOT NULL,
  id          BIGINT NOT NULL,
  path        TEXT NOT NULL,
  digest      TEXT NOT NULL,
  size        BIGINT,
  is_dir      BIGINT NOT NULL DEFAULT 0,
  type        TEXT,
  role        TEXT NOT NULL CHECK (role IN ('data', 'model', 'output', 'metrics', 'file')),
  name        TEXT,
  produced_by BIGINT,
  PRIMARY KEY (run_id, id)
);

CREATE TABLE expc.usages (
  run_id      TEXT NOT NULL,
  task_id     BIGINT NOT NULL,
  artifact_id BIGINT NOT NULL,
  input       TEXT NOT NULL
);

CREATE TABLE expc.metrics (
  run_id  TEXT NOT NULL,
  task_id BIGINT NOT NULL,
  name    TEXT NOT NULL,
  value   DOUBLE PRECISION NOT NULL
);

-- Views read with the rights of whoever queries them (`security_invoker`), so they show
-- no row the tables would not.
CREATE VIEW expc.models WITH (security_invoker = true) AS
  SELECT a.run_id, a.digest AS version, a.path, a.type, a.name AS output,
         t.id AS task_id, t.instance, r.started_at
  FROM expc.artifacts a
  JOIN expc.runs r ON r.id = a.run_id
  LEFT JOIN expc.tasks t ON t.run_id = a.run_id AND t.id = a.produced_by
  WHERE a.role = 'model';

CREATE INDEX runs_by_project ON expc.runs(project);
CREATE INDEX artifacts_by_digest ON expc.artifacts(digest);
CREATE INDEX artifacts_by_producer ON expc.artifacts(run_id, produced_by);
CREATE INDEX usages_by_task ON expc.usages(run_id, task_id);
CREATE INDEX usages_by_artifact ON expc.usages(run_id, artifact_id);
CREATE INDEX metrics_by_name ON expc.metrics(name, value);
CREATE INDEX metrics_by_task ON expc.metrics(run_id, task_id);
CREATE INDEX params_by_name ON expc.params(name, num);
CREATE INDEX task_values_by_name ON expc.task_values(name, num);

-- Permissions. Every role that can connect may read and add rows; the policies decide
-- which. Nobody but the owner updates or deletes a run: provenance is appended.
GRANT USAGE ON SCHEMA expc TO PUBLIC;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA expc TO PUBLIC;
GRANT DELETE ON expc.members TO PUBLIC;

ALTER TABLE expc.members ENABLE ROW LEVEL SECURITY;
-- (A grant to a role dropped since is shown to the project's admins, and never fails.)
CREATE POLICY members_read ON expc.members FOR SELECT
  USING (member IN (SELECT rolname FROM pg_roles WHERE pg_has_role(session_user, oid, 'MEMBER'))
         OR expc.may(project, 'admin'));
CREATE POLICY members_grant ON expc.members FOR INSERT WITH CHECK (expc.may(project, 'admin'));
CREATE POLICY members_revoke ON expc.members FOR DELETE USING (expc.may(project, 'admin'));

ALTER TABLE expc.runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY runs_read ON expc.runs FOR SELECT USING (expc.may(project, 'read'));
CREATE POLICY runs_write ON expc.runs FOR INSERT WITH CHECK (expc.may(project, 'write'));

-- A row of a run's other tables is visible when its run is, and added only in the
-- transaction that added its run (to a project that may be written): nobody adds rows to
-- a run already sent. (`xmin` is the transaction that made the run's row.)
DO $$
DECLARE t TEXT;
BEGIN
  FOREACH t IN ARRAY ARRAY['params', 'tasks', 'task_values', 'artifacts', 'usages', 'metrics'] LOOP
    EXECUTE format('ALTER TABLE expc.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY %I ON expc.%I FOR SELECT USING (run_id IN (SELECT id FROM expc.runs))', t || '_read', t);
    EXECUTE format('CREATE POLICY %I ON expc.%I FOR INSERT WITH CHECK (run_id IN (SELECT id FROM expc.runs r WHERE r.xmin = pg_current_xact_id()::xid AND expc.may(r.project, ''write'')))', t || '_write', t);
  END LOOP;
END $$;
