-- Schema version 6 (as the SQLite store's `schema_6.sql`): the model registry. A run's
-- registrations and evaluations are sent with it, visible when the run is; stage changes
-- belong to a project.
CREATE TABLE expc.registrations (
  run_id  TEXT NOT NULL,
  task_id BIGINT NOT NULL,
  output  TEXT NOT NULL,
  name    TEXT NOT NULL,
  PRIMARY KEY (run_id, task_id, output, name)
);
CREATE INDEX registrations_by_name ON expc.registrations(name);

CREATE TABLE expc.evaluations (
  run_id  TEXT NOT NULL,
  task_id BIGINT NOT NULL,
  input   TEXT NOT NULL,
  PRIMARY KEY (run_id, task_id)
);

CREATE TABLE expc.model_stages (
  seq     BIGSERIAL PRIMARY KEY,
  project TEXT NOT NULL,
  name    TEXT NOT NULL,
  digest  TEXT NOT NULL,
  stage   TEXT NOT NULL CHECK (stage IN ('none', 'staging', 'production', 'archived')),
  "user"  TEXT,
  at      TEXT NOT NULL,
  reason  TEXT
);
CREATE INDEX model_stages_by_name ON expc.model_stages(name, digest);

GRANT SELECT, INSERT ON expc.registrations, expc.evaluations, expc.model_stages TO PUBLIC;
GRANT USAGE ON SEQUENCE expc.model_stages_seq_seq TO PUBLIC;

DO $$
DECLARE t TEXT;
BEGIN
  FOREACH t IN ARRAY ARRAY['registrations', 'evaluations'] LOOP
    EXECUTE format('ALTER TABLE expc.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY %I ON expc.%I FOR SELECT USING (run_id IN (SELECT id FROM expc.runs))', t || '_read', t);
    EXECUTE format('CREATE POLICY %I ON expc.%I FOR INSERT WITH CHECK (run_id IN (SELECT id FROM expc.runs r WHERE r.xmin = pg_current_xact_id()::xid AND expc.may(r.project, ''write'')))', t || '_write', t);
  END LOOP;
END $$;
ALTER TABLE expc.model_stages ENABLE ROW LEVEL SECURITY;
CREATE POLICY model_stages_read ON expc.model_stages FOR SELECT USING (expc.may(project, 'read'));
CREATE POLICY model_stages_write ON expc.model_stages FOR INSERT WITH CHECK (expc.may(project, 'write'));

CREATE VIEW expc.model_versions WITH (security_invoker = true) AS
  WITH registered AS (
    SELECT g.name, o.digest, o.path, o.type, g.run_id, g.task_id, o.instance, g.output,
           r.started_at, t.idx,
           ROW_NUMBER() OVER (PARTITION BY g.name, o.digest
                              ORDER BY r.started_at, g.run_id, t.idx, g.task_id) AS nth
    FROM expc.registrations g
    JOIN expc.runs r ON r.id = g.run_id
    JOIN expc.tasks t ON t.run_id = g.run_id AND t.id = g.task_id
    JOIN expc.task_outputs o ON o.run_id = g.run_id AND o.task_id = g.task_id AND o.name = g.output
  )
  SELECT name,
         ROW_NUMBER() OVER (PARTITION BY name ORDER BY started_at, run_id, idx, task_id) AS version,
         digest, path, type, run_id, task_id, instance, output, started_at AS registered_at
  FROM registered WHERE nth = 1;

CREATE VIEW expc.model_stage WITH (security_invoker = true) AS
  SELECT v.name, v.version, v.digest,
         COALESCE((SELECT s.stage FROM expc.model_stages s
                   WHERE s.name = v.name AND s.digest = v.digest
                   ORDER BY s.seq DESC LIMIT 1), 'none') AS stage
  FROM expc.model_versions v;

CREATE VIEW expc.model_metrics WITH (security_invoker = true) AS
  SELECT v.name, v.version, v.digest, m.name AS metric, m.value, 'trained' AS source,
         m.run_id, m.instance
  FROM expc.model_versions v
  JOIN expc.task_metrics m ON m.run_id = v.run_id AND m.task_id = v.task_id
  UNION ALL
  SELECT v.name, v.version, v.digest, m.name, m.value, 'evaluated', m.run_id, m.instance
  FROM expc.model_versions v
  JOIN expc.task_reads rd ON rd.digest = v.digest
  JOIN expc.evaluations e ON e.run_id = rd.run_id AND e.task_id = rd.task_id AND e.input = rd.input
  JOIN expc.tasks et ON et.run_id = rd.run_id AND et.id = rd.task_id AND et.source_run IS NULL
  JOIN expc.task_metrics m ON m.run_id = rd.run_id AND m.task_id = rd.task_id;

GRANT SELECT ON expc.model_versions, expc.model_stage, expc.model_metrics TO PUBLIC;
