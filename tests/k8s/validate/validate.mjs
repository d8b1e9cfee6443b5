// Validates Kubernetes objects with the kubernetes-models validators (ajv, from the
// official OpenAPI schemas). Usage: node validate.mjs FILE.json...
// Each FILE holds one JSON array of objects (YAML documents converted by the caller).
// Prints one line per invalid object, with every error, and exits 1 if any is invalid;
// an object of a kind this script does not know is an error too.
import { readFileSync } from "node:fs";
import { Job } from "kubernetes-models/batch/v1/Job";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";

const models = { "batch/v1 Job": Job, "v1 ConfigMap": ConfigMap };

let bad = 0;
let checked = 0;
for (const file of process.argv.slice(2)) {
  const objects = JSON.parse(readFileSync(file, "utf8"));
  objects.forEach((obj, i) => {
    const where = `${file}[${i}]`;
    const Model = models[`${obj?.apiVersion} ${obj?.kind}`];
    if (!Model) {
      console.log(`${where}: unknown kind ${obj?.apiVersion} ${obj?.kind}`);
      bad += 1;
      return;
    }
    try {
      new Model(obj).validate();
      checked += 1;
    } catch (e) {
      const details = (e.errors ?? []).map((x) => `${x.instancePath} ${x.message}`).join("; ");
      console.log(`${where}: ${obj.kind} ${obj.metadata?.name}: ${e.message} ${details}`);
      bad += 1;
    }
  });
}
console.log(`kubernetes-models: ${checked} valid, ${bad} invalid`);
process.exit(bad ? 1 : 0);
