"""Reads back what `expc prov push --mlflow` sent, with MLflow's own client, as JSON:
tests/mlflow/read_back.py URL. Runs of every experiment (expc tags, params, metrics,
status) and the versions of every registered model (stage, tags, run, source)."""
import json
import sys

from mlflow.tracking import MlflowClient

client = MlflowClient(tracking_uri=sys.argv[1])
out = {"runs": [], "versions": []}
for experiment in client.search_experiments():
    for run in client.search_runs([experiment.experiment_id]):
        out["runs"].append({
            "experiment": experiment.name,
            "run_id": run.info.run_id,
            "status": run.info.status,
            "tags": {k: v for k, v in run.data.tags.items() if k.startswith("expc.")},
            "params": run.data.params,
            "metrics": run.data.metrics,
        })
for model in client.search_registered_models():
    for mv in client.search_model_versions(f"name = '{model.name}'"):
        out["versions"].append({
            "name": mv.name,
            "version": mv.version,
            "stage": mv.current_stage,
            "tags": mv.tags,
            "run_id": mv.run_id,
            "source": mv.source,
        })
print(json.dumps(out))
