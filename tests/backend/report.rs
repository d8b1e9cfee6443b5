//! `expc report` end to end: real runs through the real binary, the report opened in
//! headless Chromium (Debian's `chromium`, driven over the DevTools protocol on a pipe
//! by `tests/report/chromium.py`), which must render it with no console error and no
//! request, drawing the DAG, the timeline and the parallel-coordinates plot with one mark
//! per node, execution and instance. Screenshots are saved under
//! `target/test-artifacts/`.
//!
//! Without Chromium these tests are ignored, with the reason, except under `CI=true`,
//! where they fail (`scripts/install-test-deps.sh` installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use expc_tests::{Engine, Suite};
use serde_json::Value;

pub fn trials(suite: &mut Suite) {
    suite.needs(
        Engine::Chromium,
        "report_of_a_sweep_renders_its_dag_timeline_and_parallel_coordinates",
        report_of_a_sweep_renders_its_dag_timeline_and_parallel_coordinates,
    );
    suite.needs(
        Engine::Chromium,
        "a_hostile_value_stays_text",
        a_hostile_value_stays_text,
    );
    suite.needs(
        Engine::Chromium,
        "the_report_of_a_thousand_tasks_stays_small",
        the_report_of_a_thousand_tasks_stays_small,
    );
}

struct Project {
    dir: PathBuf,
}

impl Drop for Project {
    fn drop(&mut self) {
        expc_tests::remove_tree(&self.dir);
    }
}

/// A copy of `tests/prov`: a sweep of three trainings with metrics, a pick, a report.
fn prov_project(name: &str) -> Project {
    let files = ["train.exp", "train.py", "rows.csv"];
    Project {
        dir: expc_tests::fresh_copy(&format!("report-{name}"), "tests/prov", &files),
    }
}

impl Project {
    fn expc(&self, args: &[&str]) -> Output {
        Command::new(expc_tests::expc())
            .args(args)
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .env("EXPC_PROV_TEST_TOKEN", "report-test-token")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.expc(args);
        assert!(
            out.status.success(),
            "expc {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn query(&self, sql: &str) -> Vec<Value> {
        let text = self.ok(&["query", "--format", "json", sql]);
        match serde_json::from_str(&text).unwrap() {
            Value::Array(rows) => rows,
            other => panic!("not rows: {other}"),
        }
    }

    fn count(&self, sql: &str) -> u64 {
        self.query(sql)[0]["n"].as_u64().unwrap()
    }

    fn latest(&self) -> String {
        self.query("SELECT id FROM runs ORDER BY started_at DESC, id DESC LIMIT 1")[0]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// Where screenshots go: `target/test-artifacts/`.
fn artifacts() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/report-…
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The Chromium to open reports with, for a test that needs [`Engine::Chromium`].
fn chromium() -> PathBuf {
    expc_tests::engine::chromium().expect("a test that needs Engine::Chromium")
}

/// Opens a report in headless Chromium; what `tests/report/chromium.py` saw.
fn render(chromium: &Path, report: &Path, screenshot: &Path) -> Value {
    render_then(chromium, report, screenshot, None)
}

/// Opens a report, runs `then` in the page once it is drawn, and reads it.
fn render_then(chromium: &Path, report: &Path, screenshot: &Path, then: Option<&str>) -> Value {
    let mut cmd = Command::new("python3");
    cmd.arg(expc_tests::root().join("tests/report/chromium.py"))
        .arg(report)
        .arg("--chromium")
        .arg(chromium)
        .arg("--screenshot")
        .arg(screenshot);
    if let Some(js) = then {
        cmd.args(["--then", js]);
    }
    let out = cmd.output().expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium.py failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let facts: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        facts["errors"],
        serde_json::json!([]),
        "console errors: {facts}"
    );
    assert_eq!(
        facts["requests"],
        serde_json::json!([]),
        "network requests: {facts}"
    );
    assert!(
        std::fs::metadata(screenshot).is_ok_and(|m| m.len() > 10_000),
        "no screenshot at {}",
        screenshot.display()
    );
    facts
}

fn mark(facts: &Value, element: &str, what: &str) -> u64 {
    facts["marks"][element][what]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no {element}.{what} in {facts}"))
}

fn report_of_a_sweep_renders_its_dag_timeline_and_parallel_coordinates() {
    let chromium = chromium();
    let p = prov_project("sweep");
    // A pause so that each execution has a visible length.
    p.ok(&["run", "--local", "train.exp", "-p", "pause=0.2"]);
    let first = p.latest();
    let out = p.expc(&["report", "-o", "report.html"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(p.dir.join("report.html")).unwrap();
    assert!(html.contains(&first), "the report names its run");
    assert!(!html.contains("src=\"http"), "the report loads nothing");
    // The tail of the `report` task's stdout is embedded, with the secret it printed
    // redacted as in the log itself.
    assert!(html.contains("signing with"), "no log tail in the report");
    assert!(
        !html.contains("report-test-token"),
        "a secret reached the report"
    );

    let facts = render(
        &chromium,
        &p.dir.join("report.html"),
        &artifacts().join("report-sweep.png"),
    );
    // The DAG: five instances (t[0..3], b, report); t[i] -> b three times, b -> report.
    let instances = p.count(&format!(
        "SELECT COUNT(*) AS n FROM tasks WHERE run_id = '{first}'"
    ));
    assert_eq!(instances, 5);
    assert_eq!(mark(&facts, "dag", "nodes"), instances, "{facts}");
    // Each state of the legend is drawn in a colour of its own.
    let legend = facts["marks"]["dag"]["legend"].as_str().unwrap_or_default();
    let colours: std::collections::BTreeSet<&str> = legend
        .split(';')
        .filter_map(|s| s.split_once('='))
        .map(|(_, c)| c)
        .collect();
    assert_eq!(colours.len(), 5, "legend colours: {legend}");
    // Edges run from a box's border to the next box's border, where the arrowhead shows:
    // a data unit of the DAG is a pixel, as the ports at the borders assume.
    let gap: f64 = facts["marks"]["dag"]["edgeGap"]
        .as_str()
        .and_then(|g| g.parse().ok())
        .unwrap_or(f64::MAX);
    assert!(gap < 1.0, "edge ends {gap} px off the boxes' borders");
    let edges = p.count(&format!(
        "SELECT COUNT(DISTINCT u.task_id || '-' || a.produced_by) AS n
         FROM usages u JOIN artifacts a ON a.run_id = u.run_id AND a.id = u.artifact_id
         WHERE u.run_id = '{first}' AND a.produced_by IS NOT NULL AND a.produced_by != u.task_id"
    ));
    assert_eq!(edges, 4);
    assert_eq!(mark(&facts, "dag", "edges"), edges, "{facts}");
    // The timeline: one bar per execution.
    let executions = p.count(&format!(
        "SELECT COUNT(*) AS n FROM tasks WHERE run_id = '{first}' AND status IN ('ran', 'failed')"
    ));
    assert_eq!(executions, 5);
    assert_eq!(mark(&facts, "timeline", "marks"), executions, "{facts}");
    assert_eq!(mark(&facts, "tasks-table", "rows"), instances, "{facts}");
    // Parallel coordinates: one line per instance with metrics, on the sweep value and
    // the two metrics; the scatter plot and the table show them all until a selection.
    let with_metrics = p.count(&format!(
        "SELECT COUNT(DISTINCT task_id) AS n FROM metrics WHERE run_id = '{first}'"
    ));
    assert_eq!(with_metrics, 3);
    assert_eq!(mark(&facts, "parallel", "marks"), with_metrics, "{facts}");
    assert_eq!(
        mark(&facts, "parallel", "axes"),
        3,
        "factor, rate, val_loss: {facts}"
    );
    assert_eq!(mark(&facts, "scatter", "marks"), with_metrics, "{facts}");
    assert_eq!(
        mark(&facts, "selection-table", "rows"),
        with_metrics,
        "{facts}"
    );

    // Brushing links the plots: factor in [0.9, 1.1] on the parallel plot keeps t[1]
    // alone in the table; a box on the scatter plot (x = factor) around 0.5 keeps t[0];
    // both at once keep nothing.
    let parallel = "echarts.getInstanceByDom(document.getElementById('parallel'))
        .dispatchAction({ type: 'axisAreaSelect', parallelAxisIndex: 0, intervals: [[0.9, 1.1]] })";
    let scatter = "echarts.getInstanceByDom(document.getElementById('scatter'))
        .dispatchAction({ type: 'brush', areas: [{ brushType: 'rect', xAxisIndex: 0, yAxisIndex: 0,
          coordRange: [[0.4, 0.6], [-1, 1]] }] })";
    let report = p.dir.join("report.html");
    let shot = artifacts().join("report-brushed.png");
    let facts = render_then(&chromium, &report, &shot, Some(parallel));
    assert_eq!(mark(&facts, "selection-table", "rows"), 1, "{facts}");
    let facts = render_then(&chromium, &report, &shot, Some(scatter));
    assert_eq!(mark(&facts, "selection-table", "rows"), 1, "{facts}");
    let both = format!("{parallel}; {scatter}");
    let facts = render_then(&chromium, &report, &shot, Some(&both));
    assert_eq!(mark(&facts, "selection-table", "rows"), 0, "{facts}");

    // Two runs compared: the param that differs becomes an axis; six instances.
    p.ok(&[
        "run",
        "--local",
        "train.exp",
        "-p",
        "pause=0.2",
        "-p",
        "lr=0.002",
    ]);
    let second = p.latest();
    p.ok(&["report", &first, &second, "-o", "two.html"]);
    let facts = render(
        &chromium,
        &p.dir.join("two.html"),
        &artifacts().join("report-two-runs.png"),
    );
    assert_eq!(mark(&facts, "parallel", "marks"), 6, "{facts}");
    assert_eq!(
        mark(&facts, "parallel", "axes"),
        4,
        "lr, factor, rate, val_loss: {facts}"
    );
    // The DAG and timeline shown are the first run's.
    assert_eq!(mark(&facts, "dag", "nodes"), 5, "{facts}");
    assert_eq!(mark(&facts, "timeline", "marks"), executions, "{facts}");
}

fn a_hostile_value_stays_text() {
    let chromium = chromium();
    let p = prov_project("hostile");
    std::fs::write(
        p.dir.join("hostile.exp"),
        r#"experiment hostile {
  version = "1.0.0"
}

import std.formats.{Text}
import std.resources.{Local}

param label: String = "plain"

resource here = Local {}

task say(label: String) -> (out: File<Text> = "out.txt") {
  run `sh -c "printf '%s' \"$1\" > \"$0\"; printf '%s\n' \"$1\"" ${out} ${label}`
}

pipeline main {
  say(label = label) on here
}
"#,
    )
    .unwrap();
    let hostile = "</script><script>document.title='pwned'</script><!-- \u{2028}&lt;b&gt;";
    p.ok(&[
        "run",
        "--local",
        "hostile.exp",
        "-p",
        &format!("label=\"{}\"", hostile.replace('"', "\\\"")),
    ]);
    p.ok(&["report", "-o", "hostile.html"]);
    let html = std::fs::read_to_string(p.dir.join("hostile.html")).unwrap();
    assert!(
        !html.contains("document.title='pwned'</script>"),
        "a value broke out"
    );
    let facts = render(
        &chromium,
        &p.dir.join("hostile.html"),
        &artifacts().join("report-hostile.png"),
    );
    assert_eq!(facts["title"], "expc report", "{facts}");
    assert!(
        facts["params"].as_str().unwrap().contains(hostile),
        "the value is shown as text: {facts}"
    );
    assert_eq!(mark(&facts, "dag", "nodes"), 1, "{facts}");
}

/// A run of 1,001 tasks (a 100 x 10 sweep with metrics, then a gather) makes a report
/// under 5 MB that Chromium draws in full: one bar per execution, one line per instance.
/// How long it takes to open is measured by `cargo xtask bench`, not here.
fn the_report_of_a_thousand_tasks_stays_small() {
    let p = prov_project("big");
    std::fs::copy(
        expc_tests::root().join("tests/report/big.exp"),
        p.dir.join("big.exp"),
    )
    .unwrap();
    p.ok(&["run", "--local", "big.exp"]);
    p.ok(&["report", "-o", "big.html"]);
    let size = std::fs::metadata(p.dir.join("big.html")).unwrap().len();
    assert!(size < 5_000_000, "the report is {size} bytes");
    let chromium = chromium();
    let facts = render(
        &chromium,
        &p.dir.join("big.html"),
        &artifacts().join("report-1000.png"),
    );
    assert_eq!(
        mark(&facts, "dag", "nodes"),
        2,
        "one node per call: {facts}"
    );
    assert_eq!(mark(&facts, "dag", "edges"), 1, "{facts}");
    assert_eq!(mark(&facts, "timeline", "marks"), 1001, "{facts}");
    assert_eq!(mark(&facts, "parallel", "marks"), 1000, "{facts}");
}
