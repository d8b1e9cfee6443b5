-- Schema version 4: no index of tasks by run and status. The queries of a run's tasks read
-- them by the primary key (run, id), which keeps a run's rows together; the index was one
-- of the three B-trees every row is inserted into, and a rerun that reuses 10,000
-- instances inserts 10,000 rows.
DROP INDEX IF EXISTS tasks_by_status;
