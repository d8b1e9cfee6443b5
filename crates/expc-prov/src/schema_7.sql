-- Schema version 7: what an instance used of what it asked, where the engine measured it
-- (Slurm's accounting, `sacct`): elapsed and CPU time, the largest resident set, beside
-- the CPUs, memory and time limit it was given.
CREATE TABLE efficiency (
  run_id       TEXT NOT NULL,
  task_id      INTEGER NOT NULL,
  elapsed_ms   INTEGER NOT NULL,
  cpu_ms       INTEGER NOT NULL,     -- user + system time of all its processes
  max_rss      INTEGER,              -- bytes, when sampled
  cpus         INTEGER NOT NULL,     -- allocated
  mem          INTEGER,              -- bytes asked, when asked
  time_limit_s INTEGER,
  PRIMARY KEY (run_id, task_id),
  FOREIGN KEY (run_id, task_id) REFERENCES tasks(run_id, id) ON DELETE CASCADE
);
