-- Schema version 2: the best (or any) metric of each run found without scanning every
-- instance's metrics, for queries such as "runs ordered by their lowest val_loss".
CREATE INDEX metrics_by_run_name ON metrics(run_id, name, value);
