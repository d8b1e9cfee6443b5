//! The Slurm artifacts of `expc build`, submitted to a real Slurm cluster.
//!
//! Needs a cluster that answers `sinfo` (on this kind of machine, `scripts/dev-slurm.sh
//! up` starts one, as `.ci/run` does). Without one, each test is ignored with the reason,
//! unless `CI=true`: under CI an unreachable cluster fails every test. The specs run from
//! a copy of `slurm/`, never from the checkout.
//!
//! Each test builds a spec from `slurm/`, runs the generated `submit.sh`, follows the jobs
//! with one `squeue` call per poll for all of them, and checks what Slurm and the jobs'
//! provenance hooks say happened.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use expc_run::engine::slurm::queue::{SlurmJobStatus, explain, parse_squeue, squeue_args};
use expc_run::hook::{HookEvent, HookRecord, read_hook_records};
use expc_tests::{Engine, Suite};

pub fn trials(suite: &mut Suite) {
    suite.needs(
        Engine::Slurm,
        "a_chain_completes_in_order",
        a_chain_completes_in_order,
    );
    suite.needs(
        Engine::Slurm,
        "a_failing_job_cancels_its_dependents_with_the_reason",
        a_failing_job_cancels_its_dependents_with_the_reason,
    );
    suite.needs(
        Engine::Slurm,
        "hostile_values_reach_argv_byte_exact",
        hostile_values_reach_argv_byte_exact,
    );
    suite.needs(
        Engine::Slurm,
        "a_sweep_of_2500_becomes_three_throttled_arrays_and_completes",
        a_sweep_of_2500_becomes_three_throttled_arrays_and_completes,
    );
    suite.needs(
        Engine::Slurm,
        "a_sweep_read_element_wise_waits_per_task_with_aftercorr",
        a_sweep_read_element_wise_waits_per_task_with_aftercorr,
    );
    suite.needs(
        Engine::Slurm,
        "a_profile_runs_a_spec_placed_here_on_slurm_in_its_order",
        a_profile_runs_a_spec_placed_here_on_slurm_in_its_order,
    );
    suite.needs(
        Engine::Slurm,
        "an_mpi_style_task_runs_once_per_task_under_srun",
        an_mpi_style_task_runs_once_per_task_under_srun,
    );
    suite.test(
        "max_overlap_counts_open_intervals",
        max_overlap_counts_open_intervals,
    );
    suite.needs(
        Engine::Slurm,
        "expc_run_submits_to_slurm_and_follows_to_completion",
        expc_run_submits_to_slurm_and_follows_to_completion,
    );
    suite.needs(
        Engine::Slurm,
        "expc_run_reports_a_failed_job_with_the_reason_and_submits_no_dependent",
        expc_run_reports_a_failed_job_with_the_reason_and_submits_no_dependent,
    );
    suite.needs(
        Engine::Slurm,
        "a_pipeline_mixing_local_tasks_and_slurm_runs_each_where_it_is_placed",
        a_pipeline_mixing_local_tasks_and_slurm_runs_each_where_it_is_placed,
    );
    suite.needs(
        Engine::Slurm,
        "ctrl_c_cancels_the_submitted_jobs",
        ctrl_c_cancels_the_submitted_jobs,
    );
    suite.needs(
        Engine::Slurm,
        "sigterm_and_sighup_cancel_the_submitted_jobs_like_ctrl_c",
        sigterm_and_sighup_cancel_the_submitted_jobs_like_ctrl_c,
    );
    suite.needs(
        Engine::Slurm,
        "a_head_killed_at_random_moments_never_runs_an_instance_twice",
        a_head_killed_at_random_moments_never_runs_an_instance_twice,
    );
    suite.needs(
        Engine::Slurm,
        "status_and_cancel_show_and_stop_what_a_killed_run_left",
        status_and_cancel_show_and_stop_what_a_killed_run_left,
    );
    suite.needs(
        Engine::Slurm,
        "a_detached_run_outlives_its_head_and_attach_follows_it_to_the_end",
        a_detached_run_outlives_its_head_and_attach_follows_it_to_the_end,
    );
    suite.needs(
        Engine::Slurm,
        "cancel_stops_a_detached_run_and_its_jobs",
        cancel_stops_a_detached_run_and_its_jobs,
    );
    suite.needs(
        Engine::Slurm,
        "what_a_job_used_of_what_it_asked_is_recorded_shown_and_hinted",
        what_a_job_used_of_what_it_asked_is_recorded_shown_and_hinted,
    );
    suite.needs(
        Engine::Slurm,
        "a_job_lost_with_its_node_fails_with_slurms_reason_or_is_submitted_again_under_retry",
        a_job_lost_with_its_node_fails_with_slurms_reason_or_is_submitted_again_under_retry,
    );
    suite.needs(
        Engine::Slurm,
        "a_job_sbatch_refuses_is_reported_with_its_message_and_script",
        a_job_sbatch_refuses_is_reported_with_its_message_and_script,
    );
    suite.needs(
        Engine::Slurm,
        "a_controller_that_is_down_is_said_and_nothing_runs_twice_when_it_is_back",
        a_controller_that_is_down_is_said_and_nothing_runs_twice_when_it_is_back,
    );
    suite.needs(
        Engine::Slurm,
        "a_job_no_node_can_hold_is_refused_before_anything_is_submitted",
        a_job_no_node_can_hold_is_refused_before_anything_is_submitted,
    );
    suite.needs(
        Engine::Slurm,
        "a_pending_job_shows_its_reason_and_is_warned_about",
        a_pending_job_shows_its_reason_and_is_warned_about,
    );
    suite.needs(
        Engine::Slurm,
        "shell_task_variables_do_not_change_the_hook_records",
        shell_task_variables_do_not_change_the_hook_records,
    );
    suite.needs(
        Engine::Slurm,
        "cluster_runs_are_ingested_into_the_store_and_queryable",
        cluster_runs_are_ingested_into_the_store_and_queryable,
    );
    suite.needs(
        Engine::Slurm,
        "the_hello_example_on_slurm_matches_a_local_run",
        the_hello_example_on_slurm_matches_a_local_run,
    );
    suite.needs(
        Engine::Slurm,
        "a_file_set_runs_as_an_array_on_slurm_and_matches_a_local_run",
        a_file_set_runs_as_an_array_on_slurm_and_matches_a_local_run,
    );
    suite.needs(
        Engine::Slurm,
        "a_sample_sheet_runs_as_an_array_on_slurm_and_matches_a_local_run",
        a_sample_sheet_runs_as_an_array_on_slurm_and_matches_a_local_run,
    );
    suite.needs(
        Engine::Slurm,
        "target_all_runs_local_and_slurm_parts_in_dependency_order",
        target_all_runs_local_and_slurm_parts_in_dependency_order,
    );
    suite.needs(
        Engine::Slurm,
        "the_simstudy_example_runs_on_the_cluster_with_its_partition_account_and_modules",
        the_simstudy_example_runs_on_the_cluster_with_its_partition_account_and_modules,
    );
}

/// A spec built and submitted.
struct Submitted {
    dir: PathBuf,
    build: PathBuf,
    run: PathBuf,
    /// `submit.sh`'s `jobs.tsv`: label, job id, script.
    jobs: Vec<(String, String, String)>,
}

impl Submitted {
    fn id(&self, label: &str) -> &str {
        &self
            .jobs
            .iter()
            .find(|(l, _, _)| l == label)
            .unwrap_or_else(|| panic!("no job `{label}` in {:?}", self.jobs))
            .1
    }

    fn records(&self) -> Vec<HookRecord> {
        read_hook_records(&self.run.join("provenance"))
            .unwrap_or_else(|e| panic!("the hook records do not parse: {e}"))
    }

    fn log_tail(&self) -> String {
        let mut out = String::new();
        for f in expc_tests::files_in(&self.run.join("logs"), "out") {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            if !text.is_empty() {
                out.push_str(&format!("== {}\n{}\n", f.display(), text));
            }
        }
        out
    }
}

impl Drop for Submitted {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            expc_tests::remove_tree(&self.dir);
        }
    }
}

fn build_and_submit(name: &str, spec: &str, extra: &[&str], env: &[(&str, &str)]) -> Submitted {
    let dir = expc_tests::temp_path("slurm", name);
    std::fs::create_dir_all(&dir).unwrap();
    let build = dir.join("build");
    let mut args = vec!["build", "--target", "slurm", "-o", build.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(spec);
    let out = expc_tests::run(&args);
    assert!(
        out.status.success(),
        "{name}: build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = dir.join("run");
    let mut submit = Command::new(build.join("submit.sh"));
    submit.arg(&run);
    for (k, v) in env {
        submit.env(k, v);
    }
    let out = submit.current_dir(&dir).output().expect("run submit.sh");
    assert!(
        out.status.success(),
        "{name}: submit.sh failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let jobs = std::fs::read_to_string(run.join("jobs.tsv"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 3, "{name}: bad jobs.tsv line {l:?}");
            assert!(f[1].bytes().all(|b| b.is_ascii_digit()), "{l:?}");
            (f[0].to_owned(), f[1].to_owned(), f[2].to_owned())
        })
        .collect();
    Submitted {
        dir,
        build,
        run,
        jobs,
    }
}

/// Polls with one `squeue` call for all jobs until every job and array task has ended;
/// returns the final status of each, by id (`123`, `120_4`).
fn wait(
    sub: &Submitted,
    expected_lines: usize,
    timeout: Duration,
) -> BTreeMap<String, SlurmJobStatus> {
    let ids: Vec<String> = sub.jobs.iter().map(|(_, id, _)| id.clone()).collect();
    let start = Instant::now();
    loop {
        let out = Command::new("squeue")
            .args(squeue_args(&ids))
            .output()
            .expect("squeue");
        let statuses = parse_squeue(&String::from_utf8_lossy(&out.stdout));
        if statuses.len() >= expected_lines && statuses.iter().all(SlurmJobStatus::is_final) {
            return statuses.into_iter().map(|s| (s.id.clone(), s)).collect();
        }
        if start.elapsed() > timeout {
            let open: Vec<_> = statuses.iter().filter(|s| !s.is_final()).take(10).collect();
            panic!(
                "the jobs did not end within {timeout:?}: {} of {expected_lines} seen, still open: {open:?}\n{}",
                statuses.len(),
                sub.log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A spec of `slurm/`, in the copy the tests run (with the folders its specs read).
fn spec(name: &str) -> String {
    expc_tests::shared_copy("tests/run");
    expc_tests::shared_copy("examples/hello");
    expc_tests::shared_copy("examples/filesets");
    expc_tests::shared_copy("examples/samplesheet");
    let copy = expc_tests::shared_copy("tests/slurm");
    copy.join(format!("{name}.exp"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The `end` record of each instance of `job`, by instance.
fn ends<'a>(records: &'a [HookRecord], job: &str) -> BTreeMap<u64, &'a HookRecord> {
    records
        .iter()
        .filter(|r| r.job == job && r.event == HookEvent::End)
        .map(|r| (r.instance, r))
        .collect()
}

fn starts<'a>(records: &'a [HookRecord], job: &str) -> BTreeMap<u64, &'a HookRecord> {
    records
        .iter()
        .filter(|r| r.job == job && r.event == HookEvent::Start)
        .map(|r| (r.instance, r))
        .collect()
}

fn a_sweep_read_element_wise_waits_per_task_with_aftercorr() {
    let sub = build_and_submit("aftercorr", &spec("aftercorr"), &[], &[]);
    let submit = std::fs::read_to_string(sub.build.join("submit.sh")).unwrap();
    assert!(submit.contains("--dependency=aftercorr:${j1}"), "{submit}");
    assert!(submit.contains("--dependency=afterok:${j2}"), "{submit}");
    let statuses = wait(&sub, 9, Duration::from_secs(120));
    assert!(
        statuses.values().all(|s| s.state == "COMPLETED"),
        "{statuses:#?}\n{}",
        sub.log_tail()
    );
    let records = sub.records();
    let (trim_ends, aln_starts) = (ends(&records, "t"), starts(&records, "a"));
    // Each `aln[i]` after its own `trim[i]`; `aln[3]` before the slow `trim[0]` ended.
    for i in 0..4 {
        assert!(aln_starts[&i].time >= trim_ends[&i].time, "a[{i}]");
    }
    assert!(
        aln_starts[&3].time < trim_ends[&0].time,
        "a[3] started at {}, after t[0] ended at {}: it waited for the whole array",
        aln_starts[&3].time,
        trim_ends[&0].time
    );
    // The gather waited for every `aln`.
    let g = &starts(&records, "g")[&0];
    assert!(ends(&records, "a").values().all(|e| g.time >= e.time));
    let all = std::fs::read_to_string(sub.run.join("g/0/all.txt")).unwrap();
    assert_eq!(all, "trim 0\ntrim 1\ntrim 2\ntrim 3\n");
    // `expc plan` says which dependency is which.
    let plan = expc_tests::run(&["plan", &spec("aftercorr")]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        text.contains("after      t (element-wise: aftercorr)"),
        "{text}"
    );
    assert!(text.contains("after      all of a"), "{text}");
}

fn a_chain_completes_in_order() {
    let sub = build_and_submit("chain", &spec("chain"), &[], &[]);
    let statuses = wait(&sub, 3, Duration::from_secs(120));
    for label in ["a", "b", "c"] {
        let s = &statuses[sub.id(label)];
        assert_eq!(s.state, "COMPLETED", "{label}: {s:?}\n{}", sub.log_tail());
    }
    // Each job started after the one it reads ended (times from the hooks).
    let records = sub.records();
    assert_eq!(records.len(), 6, "{records:#?}");
    for (before, after) in [("a", "b"), ("b", "c")] {
        let end = &ends(&records, before)[&0];
        let start = &starts(&records, after)[&0];
        assert!(
            start.time >= end.time,
            "`{after}` started at {} before `{before}` ended at {}",
            start.time,
            end.time
        );
        assert_eq!(end.exit_status, Some(0));
        assert_eq!(end.slurm_job_id.as_deref(), Some(sub.id(before)));
        assert_eq!(end.slurm_array_task_id, None);
    }
    let c = &ends(&records, "c")[&0];
    assert_eq!(c.outputs.len(), 1);
    assert_eq!(c.outputs[0].kind, "file");
    assert_eq!(c.outputs[0].path, "c/0/copy.txt");
    let content = std::fs::read(sub.run.join("c/0/copy.txt")).unwrap();
    assert_eq!(content, b"chain input\n");
    // The digest is the output's SHA-256, as coreutils computes it.
    let sha = Command::new("sha256sum")
        .arg(sub.run.join("c/0/copy.txt"))
        .output()
        .unwrap();
    let sha = String::from_utf8_lossy(&sha.stdout);
    assert_eq!(c.outputs[0].sha256.as_deref(), sha.split(' ').next());
}

fn a_failing_job_cancels_its_dependents_with_the_reason() {
    let sub = build_and_submit("failing", &spec("failing"), &[], &[]);
    let statuses = wait(&sub, 4, Duration::from_secs(120));
    let f = &statuses[sub.id("f")];
    assert_eq!(f.state, "FAILED", "{f:?}");
    assert_eq!(f.reason, "NonZeroExitCode");
    for label in ["after", "after2"] {
        let s = &statuses[sub.id(label)];
        assert_eq!(s.state, "CANCELLED", "{label}: {s:?}");
        assert_eq!(s.reason, "DependencyNeverSatisfied", "{label}: {s:?}");
        let message = explain(s);
        assert!(
            message.contains("was cancelled: a job it depends on did not complete"),
            "{message}"
        );
    }
    assert_eq!(statuses[sub.id("independent")].state, "COMPLETED");

    let records = sub.records();
    let f_end = &ends(&records, "f")[&0];
    assert_eq!(f_end.exit_status, Some(1));
    assert_eq!(f_end.outputs[0].kind, "missing");
    assert_eq!(f_end.outputs[0].sha256, None);
    assert!(ends(&records, "after").is_empty(), "a cancelled job ran");
    assert!(starts(&records, "after2").is_empty(), "a cancelled job ran");
    assert_eq!(ends(&records, "independent")[&0].exit_status, Some(0));
}

fn hostile_values_reach_argv_byte_exact() {
    let corpus = expc_tests::hostile_values(&["--export=ALL", "#SBATCH --wrap=id"]);
    let dir = expc_tests::temp_path("slurm", "params");
    std::fs::create_dir_all(&dir).unwrap();
    let params = dir.join("values.yaml");
    std::fs::write(
        &params,
        format!("values: {}\n", serde_json::to_string(&corpus).unwrap()),
    )
    .unwrap();
    let sub = build_and_submit(
        "injection",
        &spec("injection"),
        &["--params", params.to_str().unwrap()],
        &[],
    );
    let _ = std::fs::remove_dir_all(&dir);
    let statuses = wait(&sub, corpus.len(), Duration::from_secs(180));
    for s in statuses.values() {
        assert_eq!(s.state, "COMPLETED", "{s:?}\n{}", sub.log_tail());
    }
    for (i, value) in corpus.iter().enumerate() {
        let path = sub.run.join(format!("echo/{i}/argv.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), sub.log_tail()));
        let argv: Vec<String> = serde_json::from_str(&text).unwrap();
        assert_eq!(
            argv,
            [
                value.to_string(),
                format!("prefix-{value}"),
                format!("--flag={value}")
            ],
            "value {value:?} did not arrive intact"
        );
    }
    let walk_pwned = Command::new("find")
        .arg(&sub.run)
        .args(["-name", "pwned"])
        .output()
        .unwrap();
    assert!(
        walk_pwned.status.success() && walk_pwned.stdout.is_empty(),
        "a value was run by a shell: {}",
        String::from_utf8_lossy(&walk_pwned.stdout)
    );

    let records = sub.records();
    assert_eq!(records.len(), 2 * corpus.len());
    for (i, r) in ends(&records, "echo") {
        assert_eq!(r.exit_status, Some(0));
        assert_eq!(r.slurm_array_task_id, Some(i.to_string()));
        assert_eq!(r.slurm_array_job_id.as_deref(), Some(sub.id("echo[0-23]")));
    }
}

/// The largest number of intervals open at once.
fn max_overlap(intervals: &[(String, String)]) -> usize {
    // Ends sort before starts at the same instant, so touching intervals do not overlap.
    let mut events: Vec<(&str, i32)> = Vec::new();
    for (s, e) in intervals {
        events.push((s, 1));
        events.push((e, -1));
    }
    events.sort();
    let (mut open, mut most) = (0i32, 0i32);
    for (_, d) in events {
        open += d;
        most = most.max(open);
    }
    most as usize
}

fn a_sweep_of_2500_becomes_three_throttled_arrays_and_completes() {
    let started = Instant::now();
    // The job environment is the submitting one (`SBATCH_EXPORT=ALL` overrides the
    // scripts' `--export=NONE`): loading a login environment for each of 2,500 tasks costs
    // ~0.15 s of CPU apiece on two cores and would measure the machine's shell profile,
    // not the arrays. The other tests run the scripts as built.
    let sub = build_and_submit("sweep", &spec("sweep"), &[], &[("SBATCH_EXPORT", "ALL")]);
    let labels: Vec<&str> = sub.jobs.iter().map(|(l, _, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        ["m[0-1000]", "m[1001-2001]", "m[2002-2499]", "g"],
        "the sweep is not three arrays and a gather"
    );
    for (script, array) in [
        ("m.0.sbatch", "--array=0-1000%4"),
        ("m.1.sbatch", "--array=0-1000%4"),
        ("m.2.sbatch", "--array=0-497%4"),
    ] {
        let text = std::fs::read_to_string(sub.build.join("jobs").join(script)).unwrap();
        assert!(text.contains(&format!("#SBATCH {array}\n")), "{script}");
    }
    let statuses = wait(&sub, 2501, Duration::from_secs(1200));
    let elapsed = started.elapsed();
    eprintln!("the 2,500-instance sweep and its gather took {elapsed:.1?} on this cluster");
    let failed: Vec<_> = statuses
        .values()
        .filter(|s| s.state != "COMPLETED")
        .collect();
    assert!(failed.is_empty(), "{failed:?}\n{}", sub.log_tail());
    // Every instance wrote a file of its own index's size, and the gather read them all.
    for i in 0..2500u64 {
        let len = std::fs::metadata(sub.run.join(format!("m/{i}/mark.txt")))
            .unwrap_or_else(|e| panic!("instance {i}: {e}"))
            .len();
        assert_eq!(len, i, "instance {i} ran with the wrong index");
    }
    let all = std::fs::metadata(sub.run.join("g/0/all.txt"))
        .unwrap()
        .len();
    assert_eq!(all, 2499 * 2500 / 2);

    let records = sub.records();
    assert_eq!(records.len(), 2 * 2501);
    let m = ends(&records, "m");
    assert_eq!(m.len(), 2500);
    let s = starts(&records, "m");
    // The array task id plus the chunk's offset is the instance.
    let mut per_array: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (i, end) in &m {
        let array = end.slurm_array_job_id.clone().expect("an array task");
        let task: u64 = end.slurm_array_task_id.as_deref().unwrap().parse().unwrap();
        let offset = match array.as_str() {
            a if a == sub.id("m[0-1000]") => 0,
            a if a == sub.id("m[1001-2001]") => 1001,
            a if a == sub.id("m[2002-2499]") => 2002,
            a => panic!("instance {i} ran in an unknown array {a}"),
        };
        assert_eq!(task + offset, *i);
        per_array
            .entry(array)
            .or_default()
            .push((s[i].time.clone(), end.time.clone()));
    }
    assert_eq!(per_array.len(), 3);
    for (array, intervals) in &per_array {
        let most = max_overlap(intervals);
        assert!(
            most <= 4,
            "array {array} ran {most} tasks at once, more than its throttle of 4"
        );
    }
    let g = &starts(&records, "g")[&0];
    let last = m.values().map(|r| r.time.as_str()).max().unwrap();
    assert!(
        g.time.as_str() >= last,
        "the gather started before the sweep ended"
    );
}

fn max_overlap_counts_open_intervals() {
    let iv = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(max_overlap(&iv(&[("1", "3"), ("2", "4"), ("3", "5")])), 2);
    assert_eq!(max_overlap(&iv(&[("1", "2"), ("2", "3")])), 1);
    assert_eq!(max_overlap(&[]), 0);
}

/// The `jobs.tsv` of the only Slurm run under a state directory.
/// The run folders (`run-SECONDS-PID`) under the state folder's `slurm/`, in name order
/// (beside them is the journal of submissions).
fn run_folders(state: &std::path::Path) -> Vec<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(state.join("slurm"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    runs.retain(|p| {
        p.is_dir()
            && p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("run-"))
    });
    runs.sort();
    runs
}

/// How many times each instance started, over every run folder of the state folder.
fn run_starts(state: &std::path::Path) -> BTreeMap<(String, u64), usize> {
    expc_tests::hook_starts(
        run_folders(state)
            .into_iter()
            .map(|r| r.join("run/provenance")),
    )
}

fn run_jobs(state: &std::path::Path) -> Vec<(String, String)> {
    let runs = run_folders(state);
    let Some(run) = runs.first() else {
        return Vec::new();
    };
    std::fs::read_to_string(run.join("run/jobs.tsv"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((f.next()?.to_owned(), f.next()?.to_owned()))
        })
        .collect()
}

fn expc_run(name: &str, spec: &str) -> (std::process::Output, PathBuf) {
    let state = expc_tests::temp_path("slurm", name);
    let out = expc_tests::run(&["run", "--state-dir", state.to_str().unwrap(), spec]);
    (out, state)
}

/// `resources { nodes = 1, tasks = 2 }`: one job of two tasks, whose script `srun` starts
/// twice, each process seeing its own rank.
fn an_mpi_style_task_runs_once_per_task_under_srun() {
    let (out, state) = expc_run("run-mpi", &spec("mpi"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("1 ran, 0 cached, 0 failed"), "{stderr}");
    let script = run_folders(&state)[0].join("build/jobs/ranks.sbatch");
    let script = std::fs::read_to_string(&script).unwrap();
    assert!(script.contains("#SBATCH --ntasks=2\n"), "{script}");
    assert!(script.contains("launcher=(srun --export=ALL)"), "{script}");
    for rank in 0..2 {
        let line = std::fs::read_to_string(state.join(format!("out/ranks/ranks/rank-{rank}.txt")))
            .unwrap();
        assert_eq!(line, format!("rank {rank} of 2\n"));
    }
    expc_tests::remove_tree(&state);
}

fn expc_run_submits_to_slurm_and_follows_to_completion() {
    let (out, state) = expc_run("run-chain", &spec("chain"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // `b` and `c` copy the same bytes with the same task: once `b` has run, `c`'s cache
    // key is `b`'s, so `c` is not submitted.
    assert!(stderr.contains("2 ran, 1 cached, 0 failed"), "{stderr}");
    // One submission per job, each after the one before it completed.
    let jobs = run_jobs(&state);
    assert_eq!(
        jobs.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(),
        ["a[0]", "b[0]"],
        "{stderr}"
    );
    for (label, id) in &jobs {
        assert!(
            stderr.contains(&format!("submitted {label} to Slurm as job {id}")),
            "{stderr}"
        );
    }
    let runs = run_folders(&state);
    // The output is stored like a local task's, and linked where Slurm jobs read it.
    let content = std::fs::read(state.join("out/c/copy.txt")).unwrap();
    assert_eq!(content, b"chain input\n");
    assert_eq!(
        std::fs::read(runs[0].join("run/c/0/copy.txt")).unwrap(),
        content
    );
    let records = read_hook_records(&runs[0].join("run/provenance")).unwrap();
    assert_eq!(
        records.len(),
        4,
        "a start and an end for each submitted job"
    );
    // Completed Slurm jobs are cached like local tasks: a second run submits nothing.
    let again = expc_tests::run(&[
        "run",
        "--state-dir",
        state.to_str().unwrap(),
        &spec("chain"),
    ]);
    let stderr2 = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr2}");
    assert!(stderr2.contains("0 ran, 3 cached"), "{stderr2}");
    assert!(!stderr2.contains("submitted"), "{stderr2}");
    assert_eq!(
        run_folders(&state).len(),
        1,
        "a run that submitted nothing left a Slurm folder"
    );
    // The run is in the provenance store, as a local run would be.
    assert!(stderr.contains("provenance: run "), "{stderr}");
    let listed = expc_tests::run(&[
        "runs",
        "--state-dir",
        state.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    // Newest first: the cached run, then the one that ran on Slurm.
    assert_eq!(listed[1]["status"], "succeeded", "{listed}");
    assert_eq!(listed[1]["ran"], 2, "{listed}");
    assert_eq!(listed[0]["cached"], 3, "{listed}");
    let rows = query(
        &state,
        "SELECT call, backend, job_id, host FROM tasks WHERE status = 'ran' ORDER BY call",
    );
    assert_eq!(rows.len(), 2, "{rows:#?}");
    for (row, (label, id)) in rows.iter().zip(&jobs) {
        assert_eq!(row["backend"], "slurm", "{rows:#?}");
        assert_eq!(row["job_id"], format!("{id}_0"), "{label}: {rows:#?}");
        assert!(
            row["host"].as_str().is_some_and(|h| !h.is_empty()),
            "{rows:#?}"
        );
    }
    expc_tests::remove_tree(&state);
}

/// A job that fails on the cluster is reported with Slurm's state and reason and the end
/// of its log; its dependents are never submitted (the scheduler checks the upstream's
/// real state first) and an independent job still completes.
fn expc_run_reports_a_failed_job_with_the_reason_and_submits_no_dependent() {
    let (out, state) = expc_run("run-failing", &spec("failing"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let jobs: BTreeMap<String, String> = run_jobs(&state).into_iter().collect();
    assert_eq!(
        jobs.keys().map(String::as_str).collect::<Vec<_>>(),
        ["f[0]", "independent[0]"],
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "failed: f (exit 1): Slurm job {}_0 failed: the command exited with a non-zero status",
            jobs["f[0]"]
        )),
        "{stderr}"
    );
    assert!(stderr.contains("logs: "), "{stderr}");
    assert!(
        stderr.contains("1 ran, 0 cached, 1 failed, 2 not run"),
        "{stderr}"
    );
    let rows = query(&state, "SELECT call, status FROM tasks ORDER BY call");
    let status: BTreeMap<&str, &str> = rows
        .iter()
        .map(|r| (r["call"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(status["f"], "failed", "{rows:#?}");
    assert_eq!(status["independent"], "ran", "{rows:#?}");
    assert_eq!(status["after"], "skipped", "{rows:#?}");
    assert_eq!(status["after2"], "skipped", "{rows:#?}");
    expc_tests::remove_tree(&state);
}

/// A pipeline that mixes this machine with Slurm, as the rainfall example does: the local
/// tasks run here, the sweep goes to the cluster as one throttled job array once its input
/// is made, and the local summary reads what the cluster wrote.
fn a_pipeline_mixing_local_tasks_and_slurm_runs_each_where_it_is_placed() {
    let (out, state) = expc_run("mixed", &spec("mixed"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("6 ran, 0 cached, 0 failed"), "{stderr}");
    let jobs = run_jobs(&state);
    assert_eq!(jobs.len(), 1, "one array for the sweep: {jobs:?}");
    assert_eq!(jobs[0].0, "t[0-3]");
    let rows = query(
        &state,
        "SELECT call, backend, job_id FROM tasks ORDER BY call, idx",
    );
    let placed: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["call"].as_str().unwrap().to_owned(),
                r["backend"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("g", "local"),
        ("summarise", "local"),
        ("t", "slurm"),
        ("t", "slurm"),
        ("t", "slurm"),
        ("t", "slurm"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(placed, want, "{rows:#?}");
    for r in &rows {
        let on_slurm = r["backend"] == "slurm";
        assert_eq!(r["job_id"].is_string(), on_slurm, "{rows:#?}");
    }
    // The same bytes as the whole pipeline run here.
    let local = state.join("local");
    let here = expc_tests::run(&[
        "run",
        "--local",
        "--state-dir",
        local.to_str().unwrap(),
        &spec("mixed"),
    ]);
    assert!(
        here.status.success(),
        "{}",
        String::from_utf8_lossy(&here.stderr)
    );
    for file in ["summary.csv", "report.txt"] {
        let mixed = std::fs::read(state.join("out/summarise").join(file)).unwrap();
        let all_here = std::fs::read(local.join("out/summarise").join(file)).unwrap();
        assert!(!mixed.is_empty(), "{file} is empty");
        assert_eq!(mixed, all_here, "{file} differs from a local run");
    }
    // Both runs computed the same keys: the local run reused nothing, but a third run on
    // the first state directory submits nothing.
    let again = expc_tests::run(&[
        "run",
        "--state-dir",
        state.to_str().unwrap(),
        &spec("mixed"),
    ]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("0 ran, 6 cached"), "{stderr}");
    expc_tests::remove_tree(&state);
}

fn ctrl_c_cancels_the_submitted_jobs() {
    cancels_on_signal("INT", "SIGINT");
}

fn sigterm_and_sighup_cancel_the_submitted_jobs_like_ctrl_c() {
    cancels_on_signal("TERM", "SIGTERM");
    cancels_on_signal("HUP", "SIGHUP");
}

/// `expc run` sent `kill -SIGNAL` while its job runs: it cancels the job and says why.
fn cancels_on_signal(signal: &str, name: &str) {
    let state = expc_tests::temp_path("slurm", &format!("slow-{signal}"));
    let child = Command::new(expc_tests::expc())
        .args(["run", "--state-dir", state.to_str().unwrap(), &spec("slow")])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the job runs.
    let start = Instant::now();
    let id = loop {
        if let Some((_, id)) = run_jobs(&state).into_iter().next() {
            let out = Command::new("squeue")
                .args(["-h", "-j", &id, "-o", "%T"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).trim() == "RUNNING" {
                break id;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the job never ran"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let kill = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("interrupted ({name})")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("cancelling Slurm jobs {id} (")),
        "{stderr}"
    );
    // Slurm cancels it: the state becomes CANCELLED within a few seconds.
    let start = Instant::now();
    loop {
        let out = Command::new("squeue")
            .args(["-h", "-t", "all", "-j", &id, "-o", "%T"])
            .output()
            .unwrap();
        let state = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if state == "CANCELLED" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "job {id} is {state}, not cancelled"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    expc_tests::remove_tree(&state);
}

/// `kill -9` of `expc run` at ten random moments, each followed by a new `expc run` of the
/// same state folder, then one left to finish: every instance started exactly once (its
/// provenance hook's `start` records, over every run folder), and the result is right.
fn a_head_killed_at_random_moments_never_runs_an_instance_twice() {
    let state = expc_tests::temp_path("slurm", "adopt");
    let spec = spec("adopt");
    let moments = expc_tests::kill_at_random_moments(10, 200, 3800, || {
        let mut c = Command::new(expc_tests::expc());
        c.args(["run", "--state-dir", state.to_str().unwrap(), &spec]);
        c
    });
    let out = expc_tests::run(&["run", "--state-dir", state.to_str().unwrap(), &spec]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = format!("{moments}\n{stderr}");
    assert!(out.status.success(), "{context}");
    // Every start of every instance, from the hook records of every run folder.
    let starts = run_starts(&state);
    let mut expected: BTreeMap<(String, u64), usize> =
        (0..4).map(|i| (("m".to_owned(), i), 1)).collect();
    expected.insert(("g".to_owned(), 0), 1);
    assert_eq!(starts, expected, "{context}");
    // The gather's output, from the outputs folder of the last run.
    let all = expc_tests::files_in(&state.join("out"), "txt")
        .into_iter()
        .find(|p| p.ends_with("all.txt"))
        .unwrap_or_else(|| panic!("no all.txt under out/: {context}"));
    assert_eq!(
        std::fs::read_to_string(all).unwrap(),
        "mark 0\nmark 1\nmark 2\nmark 3\n",
        "{context}"
    );
    // Nothing is left in the queue.
    expc_tests::remove_tree(&state);
}

fn status_and_cancel_show_and_stop_what_a_killed_run_left() {
    let state = expc_tests::temp_path("slurm", "killed-status");
    let state_arg = state.to_str().unwrap().to_owned();
    let mut child = Command::new(expc_tests::expc())
        .args(["run", "--state-dir", &state_arg, &spec("slow")])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let id = loop {
        if let Some((_, id)) = run_jobs(&state).into_iter().next() {
            break id;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "nothing submitted"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    // Left running: `expc status` shows it, as Slurm sees it now.
    let start = Instant::now();
    let shown = loop {
        let out = expc_tests::run(&["status", "--state-dir", &state_arg]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("RUNNING") {
            break text;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{text}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        shown.contains(&format!("wait[0]  {id}_0  RUNNING")),
        "{shown}"
    );
    assert!(shown.contains("1 queued or running"), "{shown}");
    let out = expc_tests::run(&["cancel", "--state-dir", &state_arg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("cancelled 1 Slurm task: {id}_0")),
        "{text}"
    );
    let start = Instant::now();
    loop {
        let out = expc_tests::run(&["status", "--state-dir", &state_arg]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("CANCELLED") {
            assert!(text.contains("0 queued or running"), "{text}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{text}");
        std::thread::sleep(Duration::from_millis(300));
    }
    expc_tests::remove_tree(&state);
}

/// `expc run --detach` of a state folder: the run id it printed, and the head's process id.
fn detach(state: &str, spec: &str) -> (String, u32) {
    let out = expc_tests::run(&["run", "--detach", "--state-dir", state, spec]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let id = stderr
        .split_whitespace()
        .nth(1)
        .filter(|_| stderr.starts_with("run ") && stderr.contains("started in the background"))
        .unwrap_or_else(|| panic!("no run id: {stderr}"))
        .to_owned();
    let head: serde_json::Value = serde_json::from_slice(
        &std::fs::read(std::path::Path::new(state).join(format!("heads/{id}/head.json"))).unwrap(),
    )
    .unwrap();
    (id, head["pid"].as_u64().unwrap() as u32)
}

/// `expc run --detach` returns while the jobs run; `expc status` shows the run and its
/// jobs; the head killed with `kill -9`, `expc attach` starts a new head that adopts
/// what was submitted and follows it to the end: every instance ran exactly once, the
/// result is right and the run is recorded.
fn a_detached_run_outlives_its_head_and_attach_follows_it_to_the_end() {
    let state = expc_tests::temp_path("slurm", "detached");
    let state_arg = state.to_str().unwrap().to_owned();
    let started = Instant::now();
    let (id, pid) = detach(&state_arg, &spec("adopt"));
    // Back before the work is done: the sweep's jobs alone sleep 2 s each.
    assert!(started.elapsed() < Duration::from_secs(30));
    let start = Instant::now();
    let shown = loop {
        let out = expc_tests::run(&["status", &id, "--state-dir", &state_arg]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{text}");
        if text.contains("m[0]") {
            break text;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{text}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        shown.contains(&format!("run {id}: in the background (pid {pid}")),
        "{shown}"
    );
    // The head is killed while its jobs are on the cluster.
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    let out = expc_tests::run(&["attach", &id, "--state-dir", &state_arg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("ended before the run did"), "{stderr}");
    assert!(stderr.contains("0 failed"), "{stderr}");
    let mut expected: BTreeMap<(String, u64), usize> =
        (0..4).map(|i| (("m".to_owned(), i), 1)).collect();
    expected.insert(("g".to_owned(), 0), 1);
    assert_eq!(run_starts(&state), expected, "{stderr}");
    let all = expc_tests::files_in(&state.join("out"), "txt")
        .into_iter()
        .find(|p| p.ends_with("all.txt"))
        .unwrap_or_else(|| panic!("no all.txt under out/: {stderr}"));
    assert_eq!(
        std::fs::read_to_string(all).unwrap(),
        "mark 0\nmark 1\nmark 2\nmark 3\n"
    );
    // Attached again after the end: the summary, and the run's exit code.
    let again = expc_tests::run(&["attach", &id, "--state-dir", &state_arg]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 failed"));
    let listed = expc_tests::run(&["runs", "--state-dir", &state_arg, "--format", "json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["status"], "succeeded", "{listed}");
    expc_tests::remove_tree(&state);
}

/// `expc cancel RUN` stops a detached run's head as Ctrl-C would: its job is cancelled on
/// the cluster and the run is recorded as interrupted.
fn cancel_stops_a_detached_run_and_its_jobs() {
    let state = expc_tests::temp_path("slurm", "detached-cancel");
    let state_arg = state.to_str().unwrap().to_owned();
    let (id, _) = detach(&state_arg, &spec("slow"));
    let start = Instant::now();
    let job = loop {
        if let Some((_, job)) = run_jobs(&state).into_iter().next() {
            break job;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "nothing submitted"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = expc_tests::run(&["cancel", &id, "--state-dir", &state_arg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("stopped run {id}")), "{text}");
    let start = Instant::now();
    loop {
        let q = Command::new("squeue")
            .args(["-h", "-j", &job, "-o", "%T"])
            .output()
            .unwrap();
        let queued = String::from_utf8_lossy(&q.stdout).trim().to_owned();
        if queued.is_empty() || queued.contains("CANCELLED") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "job {job} is {queued}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let listed = expc_tests::run(&["runs", "--state-dir", &state_arg, "--format", "json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["status"], "interrupted", "{listed}");
    // Attached after the end: the run's exit code (1: it did not finish).
    let again = expc_tests::run(&["attach", &id, "--state-dir", &state_arg]);
    assert_eq!(again.status.code(), Some(1));
    expc_tests::remove_tree(&state);
}

/// A job asking 1 GiB and 2 CPUs for a process holding about 64 MiB on one CPU: the run
/// reads Slurm's accounting (`sacct`) when the job ends, records what it used beside what it
/// asked, says so after the run with a hint for each request far off, and `expc runs show`
/// prints it.
fn what_a_job_used_of_what_it_asked_is_recorded_shown_and_hinted() {
    let (out, state) = expc_run("efficiency", &spec("efficiency"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let rows = query(
        &state,
        "SELECT t.instance, e.elapsed_ms, e.cpu_ms, e.max_rss, e.cpus, e.mem, e.time_limit_s
         FROM efficiency e JOIN tasks t ON t.run_id = e.run_id AND t.id = e.task_id",
    );
    assert_eq!(rows.len(), 1, "{rows:?}\n{stderr}");
    let row = &rows[0];
    let n = |k: &str| row[k].as_i64().unwrap_or_else(|| panic!("{k}: {row}"));
    assert_eq!(row["instance"], "h", "{row}");
    assert!(n("elapsed_ms") >= 2_000, "{row}");
    assert!(n("cpu_ms") > 0, "{row}");
    assert_eq!(n("cpus"), 2, "{row}");
    assert_eq!(n("mem"), 1 << 30, "{row}");
    assert_eq!(n("time_limit_s"), 600, "{row}");
    let rss = n("max_rss");
    assert!((60 << 20..512 << 20).contains(&rss), "max_rss {rss}: {row}");
    // After the run: a summary, and hints for the memory and the CPUs asked.
    assert!(
        stderr.contains("efficiency (1 instance measured by the cluster's accounting)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: `h` asked 1 GiB and used at most"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: `h` was given 2 CPUs"), "{stderr}");
    let show = expc_tests::run(&[
        "runs",
        "show",
        "--state-dir",
        state.to_str().unwrap(),
        "latest",
    ]);
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(
        shown.contains("efficiency (the cluster's accounting):"),
        "{shown}"
    );
    assert!(shown.contains("h  memory: asked 1 GiB, used "), "{shown}");
    assert!(shown.contains("CPU: 2 CPUs for "), "{shown}");
    // The report's instance table has it too.
    let page = state.join("report.html");
    let report = expc_tests::run(&[
        "report",
        "--state-dir",
        state.to_str().unwrap(),
        "-o",
        page.to_str().unwrap(),
    ]);
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("memory: asked 1 GiB, used "),
        "the report lacks the usage"
    );
    expc_tests::remove_tree(&state);
}

/// A cluster of the test's own (`scripts/dev-slurm.sh` with another folder and ports), for
/// what would disturb the shared one's other jobs, like taking its node down. Down when
/// dropped.
struct OwnCluster {
    dir: PathBuf,
    port: &'static str,
}

impl OwnCluster {
    fn up(name: &str, port: &'static str) -> OwnCluster {
        let dir = expc_tests::temp_path("slurm-cluster", name);
        let cluster = OwnCluster { dir, port };
        let out = cluster.script("up");
        assert!(
            out.status.success(),
            "a second cluster did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }

    fn script(&self, verb: &str) -> std::process::Output {
        Command::new(expc_tests::root().join("scripts/dev-slurm.sh"))
            .arg(verb)
            .env("EXPC_SLURM_DIR", &self.dir)
            .env("EXPC_SLURM_PORT", self.port)
            .env("EXPC_SLURM_LINK", "0")
            .output()
            .unwrap()
    }

    fn conf(&self) -> PathBuf {
        self.dir.join("slurm.conf")
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", self.conf()).env("NO_COLOR", "1");
        c
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self.script("down");
        expc_tests::remove_tree(&self.dir);
    }
}

/// The node taken down under a running job (on a cluster of the test's own): with `retry
/// 1` the run says the job was lost with its node and submits it again, which completes;
/// with no retry left the instance fails with Slurm's state and reason.
fn a_job_lost_with_its_node_fails_with_slurms_reason_or_is_submitted_again_under_retry() {
    let cluster = OwnCluster::up("node-lost", "7317");
    let lose_node_under = |retries: &str| {
        let state = expc_tests::temp_path("slurm", &format!("lost-{retries}"));
        let log = state.with_extension("log");
        let child = cluster
            .command(expc_tests::expc())
            .args(["run", "-p", &format!("retries={retries}"), "--state-dir"])
            .arg(&state)
            .arg(spec("lost"))
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // Running: then the node goes down under it.
        let start = Instant::now();
        loop {
            let q = cluster
                .command("squeue")
                .args(["-h", "-o", "%T"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&q.stdout).contains("RUNNING") {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "never ran");
            std::thread::sleep(Duration::from_millis(200));
        }
        let down = cluster
            .command("scontrol")
            .args([
                "update",
                "nodename=localhost",
                "state=down",
                "reason=lost in a test",
            ])
            .output()
            .unwrap();
        assert!(
            down.status.success(),
            "{}",
            String::from_utf8_lossy(&down.stderr)
        );
        let out = child.wait_with_output().unwrap();
        let stderr = std::fs::read_to_string(&log).unwrap();
        (out.status, stderr, state)
    };
    let (status, stderr, state) = lose_node_under("1");
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("h: Slurm ") && stderr.contains("submitting it again (attempt 2 of 2)"),
        "{stderr}"
    );
    assert!(stderr.contains("1 ran, 0 cached, 0 failed"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(state.join("out/h/held.txt")).unwrap(),
        "held 1\n"
    );
    expc_tests::remove_tree(&state);
    let (status, stderr, state) = lose_node_under("0");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("failed: h"), "{stderr}");
    assert!(stderr.contains("lost with its node"), "{stderr}");
    expc_tests::remove_tree(&state);
}

fn flat(text: &str) -> String {
    text.replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn a_job_sbatch_refuses_is_reported_with_its_message_and_script() {
    let (out, state) = expc_run("rejected", &spec("rejected"));
    let stderr = flat(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("sbatch refused t[0]: sbatch: error: Batch job submission failed: Invalid feature specification"),
        "{stderr}"
    );
    let script = run_folders(&state)[0].join("build/jobs/t.sbatch");
    assert!(script.is_file());
    assert!(
        stderr.contains(&format!("(script: {})", script.display())),
        "{stderr}"
    );
    expc_tests::remove_tree(&state);
}

/// A controller that does not answer (the test points the Slurm commands at a port where
/// none listens): the run says so and submits nothing; once it answers again, the next run
/// submits every instance once.
fn a_controller_that_is_down_is_said_and_nothing_runs_twice_when_it_is_back() {
    let state = expc_tests::temp_path("slurm", "down");
    std::fs::create_dir_all(&state).unwrap();
    let conf = std::env::var("SLURM_CONF").unwrap_or_else(|_| "/etc/slurm/slurm.conf".into());
    let text = std::fs::read_to_string(&conf).unwrap();
    let down = state.join("down.conf");
    std::fs::write(
        &down,
        text.lines()
            .filter(|l| !l.starts_with("SlurmctldPort="))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            .replace(
                "SlurmctldHost=localhost",
                "SlurmctldHost=localhost\nSlurmctldPort=6999",
            ),
    )
    .unwrap();
    let spec = spec("adopt");
    let out = Command::new(expc_tests::expc())
        .args(["run", "--state-dir", state.to_str().unwrap(), &spec])
        .env("SLURM_CONF", &down)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = flat(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Unable to contact slurm controller")
            && stderr.contains("the Slurm controller does not answer; nothing was submitted"),
        "{stderr}"
    );
    let again = expc_tests::run(&["run", "--state-dir", state.to_str().unwrap(), &spec]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    let starts = run_starts(&state);
    assert_eq!(starts.len(), 5, "{starts:?}");
    assert!(starts.values().all(|n| *n == 1), "{starts:?}");
    expc_tests::remove_tree(&state);
}

fn a_job_no_node_can_hold_is_refused_before_anything_is_submitted() {
    let (out, state) = expc_run("too-big", &spec("too_big"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The request and the limit side by side, from the cluster's own answer.
    // (miette wraps the message: compared without its frame and line breaks.)
    let flat = flat(&stderr);
    assert!(
        flat.contains("`b` asks for 27 CPUs per task; the largest node of partition `debug` has 2"),
        "{stderr}"
    );
    assert!(flat.contains("nothing was submitted"), "{stderr}");
    // Not even the job that fits was submitted: the run stopped before anything started.
    assert!(!stderr.contains("submitted s"), "{stderr}");
    assert!(
        run_folders(&state)
            .iter()
            .all(|r| !r.join("run/jobs.tsv").exists()),
        "{stderr}"
    );
    expc_tests::remove_tree(&state);
}

/// Brings the test's own partition down while it is held, and deletes it at the end.
struct HeldPartition;

impl HeldPartition {
    const NAME: &str = "expc-held";

    fn create() -> HeldPartition {
        let _ = Command::new("scontrol")
            .args(["delete", &format!("PartitionName={}", Self::NAME)])
            .output();
        let made = Command::new("scontrol")
            .args([
                "create",
                &format!("PartitionName={}", Self::NAME),
                "Nodes=localhost",
                "State=DOWN",
                "OverSubscribe=FORCE:8",
            ])
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "scontrol create: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        HeldPartition
    }

    fn bring_up(&self) {
        let up = Command::new("scontrol")
            .args([
                "update",
                &format!("PartitionName={}", Self::NAME),
                "State=UP",
            ])
            .output()
            .unwrap();
        assert!(
            up.status.success(),
            "{}",
            String::from_utf8_lossy(&up.stderr)
        );
    }
}

impl Drop for HeldPartition {
    fn drop(&mut self) {
        let _ = Command::new("scontrol")
            .args(["delete", &format!("PartitionName={}", Self::NAME)])
            .output();
    }
}

fn a_pending_job_shows_its_reason_and_is_warned_about() {
    use std::io::BufRead as _;
    let partition = HeldPartition::create();
    let state = expc_tests::temp_path("slurm", "held");
    let mut child = Command::new(expc_tests::expc())
        .args([
            "run",
            "--warn-pending",
            "2s",
            "--state-dir",
            state.to_str().unwrap(),
            &spec("held"),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let start = Instant::now();
    let want = |seen: &[String]| {
        seen.iter()
            .any(|l| l.contains("is pending: PartitionDown (its partition is down)"))
            && seen
                .iter()
                .any(|l| l.contains("has waited in the queue for") && l.contains("PartitionDown"))
    };
    while !want(&seen) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no pending reason or warning: {seen:#?}"
        );
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
    }
    // The reason is said once, not at every look.
    assert_eq!(
        seen.iter().filter(|l| l.contains("is pending:")).count(),
        1,
        "{seen:#?}"
    );
    partition.bring_up();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(rx.try_iter());
    assert!(status.success(), "{seen:#?}");
    assert!(
        seen.iter().any(|l| l.contains("1 ran, 0 cached, 0 failed")),
        "{seen:#?}"
    );
    expc_tests::remove_tree(&state);
}

fn shell_task_variables_do_not_change_the_hook_records() {
    let sub = build_and_submit("shell-vars", &spec("shell_vars"), &[], &[]);
    let statuses = wait(&sub, 1, Duration::from_secs(60));
    assert_eq!(
        statuses[sub.id("n")].state,
        "COMPLETED",
        "{}",
        sub.log_tail()
    );
    let note = std::fs::read_to_string(sub.run.join("n/0/note.txt")).unwrap();
    assert_eq!(
        note,
        "a dir|not the job|7|it's; $(touch pwned) `x`\na b\nc\n"
    );
    let records = sub.records();
    assert_eq!(records.len(), 2);
    let end = &ends(&records, "n")[&0];
    assert_eq!(end.job, "n");
    assert_eq!(end.instance, 0);
    assert_eq!(end.outputs[0].path, "n/0/note.txt");
    assert_eq!(end.outputs[0].kind, "file");
}

/// `expc query --format json` on a state directory, as rows.
fn query(state: &std::path::Path, sql: &str) -> Vec<serde_json::Value> {
    expc_tests::query(state, sql)
}

fn cluster_runs_are_ingested_into_the_store_and_queryable() {
    let chain = build_and_submit("ingest-chain", &spec("chain"), &[], &[]);
    let failing = build_and_submit("ingest-failing", &spec("failing"), &[], &[]);
    wait(&chain, 3, Duration::from_secs(120));
    wait(&failing, 4, Duration::from_secs(120));
    let state = chain.dir.join("state");
    for (sub, name) in [(&chain, "chain"), (&failing, "failing")] {
        let out = expc_tests::run(&[
            "prov",
            "ingest",
            "--state-dir",
            state.to_str().unwrap(),
            "--spec",
            &spec(name),
            sub.run.join("provenance").to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{name}: ingest failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rows = query(
        &state,
        "SELECT call, status, job_id, exit_code, host FROM tasks ORDER BY call",
    );
    let by_call: BTreeMap<String, &serde_json::Value> = rows
        .iter()
        .map(|r| (r["call"].as_str().unwrap().to_owned(), r))
        .collect();
    assert_eq!(by_call.len(), 7, "{rows:#?}");
    for call in ["a", "b", "c"] {
        assert_eq!(by_call[call]["status"], "ran", "{call}: {rows:#?}");
        assert_eq!(by_call[call]["job_id"], chain.id(call), "{call}");
        assert_eq!(by_call[call]["exit_code"], 0, "{call}");
    }
    assert_eq!(by_call["f"]["status"], "failed");
    assert_eq!(by_call["f"]["exit_code"], 1);
    assert_eq!(by_call["f"]["job_id"], failing.id("f"));
    assert_eq!(by_call["independent"]["status"], "ran");
    for call in ["after", "after2"] {
        assert_eq!(by_call[call]["status"], "not_run", "{call}: {rows:#?}");
    }
    let outputs = query(
        &state,
        "SELECT COUNT(*) AS n FROM artifacts WHERE digest LIKE 'sha256:%'",
    );
    assert!(outputs[0]["n"].as_i64().unwrap() >= 4, "{outputs:#?}");
}

/// The `hello` example placed on Slurm runs through the cluster with `expc run` and makes
/// the same bytes as a local run of the same spec.
fn the_hello_example_on_slurm_matches_a_local_run() {
    let spec = spec("hello_on_slurm");
    let (out, state) = expc_run("hello-slurm", &spec);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("6 ran, 0 cached, 0 failed"), "{stderr}");
    let local = state.join("local");
    let out = expc_tests::run(&[
        "run",
        "--local",
        "--state-dir",
        local.to_str().unwrap(),
        &spec,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: PathBuf = run_folders(&state)[0].join("run");
    for file in ["summary.csv", "report.txt"] {
        let on_slurm = std::fs::read(state.join("out/summarise").join(file)).unwrap();
        let here = std::fs::read(local.join("out/summarise").join(file)).unwrap();
        assert!(!on_slurm.is_empty(), "{file} is empty");
        assert_eq!(
            on_slurm, here,
            "{file} differs between Slurm and a local run"
        );
    }
    let records = read_hook_records(&run.join("provenance")).unwrap();
    assert_eq!(records.len(), 2 * 6, "one start and one end per instance");
    expc_tests::remove_tree(&state);
}

/// The `filesets` example on Slurm: one array task per file, then the gather; the table
/// is the one a local run makes.
fn a_file_set_runs_as_an_array_on_slurm_and_matches_a_local_run() {
    let spec = spec("filesets_on_slurm");
    let (out, state) = expc_run("filesets-slurm", &spec);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("5 ran, 0 cached, 0 failed"), "{stderr}");
    let local = state.join("local");
    let out = expc_tests::run(&[
        "run",
        "--local",
        "--state-dir",
        local.to_str().unwrap(),
        &spec,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let on_slurm = std::fs::read_to_string(state.join("out/report/counts.csv")).unwrap();
    let here = std::fs::read_to_string(local.join("out/report/counts.csv")).unwrap();
    assert_eq!(on_slurm.lines().count(), 5, "{on_slurm}");
    assert_eq!(
        on_slurm, here,
        "the table differs between Slurm and a local run"
    );
    expc_tests::remove_tree(&state);
}

/// The sample-sheet example on a real Slurm: one array task per row, each reading the two
/// files its row names, then the gather; the table is the one a local run makes.
fn a_sample_sheet_runs_as_an_array_on_slurm_and_matches_a_local_run() {
    let spec = spec("samplesheet_on_slurm");
    let (out, state) = expc_run("samplesheet-slurm", &spec);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("4 ran, 0 cached, 0 failed"), "{stderr}");
    let local = state.join("local");
    let out = expc_tests::run(&[
        "run",
        "--local",
        "--state-dir",
        local.to_str().unwrap(),
        &spec,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let on_slurm = std::fs::read_to_string(state.join("out/report/pairs.csv")).unwrap();
    let here = std::fs::read_to_string(local.join("out/report/pairs.csv")).unwrap();
    assert_eq!(on_slurm.lines().count(), 4, "{on_slurm}");
    assert!(on_slurm.contains("ko_rep1,knockout,5,120,"), "{on_slurm}");
    assert_eq!(
        on_slurm, here,
        "the table differs between Slurm and a local run"
    );
    expc_tests::remove_tree(&state);
}

/// `expc build --target all` of the pipeline that mixes this machine with Slurm: its
/// submit.sh runs the local job with bash, then the sweep with `sbatch --wait` as one
/// array, then the local summary, handing data over in its run folder; the summary is the
/// one `expc run --local` makes.
fn target_all_runs_local_and_slurm_parts_in_dependency_order() {
    let dir = expc_tests::temp_path("slurm", "all");
    let spec = spec("mixed");
    let out = expc_tests::run(&[
        "build",
        "--target",
        "all",
        "-o",
        dir.to_str().unwrap(),
        &spec,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new("bash")
        .arg(dir.join("submit.sh"))
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "{said}");
    let order: Vec<&str> = said.lines().filter(|l| l.ends_with(" completed")).collect();
    assert_eq!(
        order,
        ["g completed", "t completed", "summarise completed"],
        "{said}"
    );
    let records = read_hook_records(&dir.join("run/provenance")).unwrap();
    let on_slurm = records
        .iter()
        .filter(|r| r.job == "t" && r.slurm_array_job_id.is_some())
        .count();
    assert_eq!(
        on_slurm,
        2 * 4,
        "the sweep did not run as a Slurm array: {records:#?}"
    );
    assert!(
        records
            .iter()
            .filter(|r| r.job != "t")
            .all(|r| r.slurm_job_id.is_none()),
        "a local job ran on Slurm"
    );
    let local = dir.join("local-state");
    let here = expc_tests::run(&[
        "run",
        "--local",
        "--state-dir",
        local.to_str().unwrap(),
        &spec,
    ]);
    assert!(here.status.success());
    for file in ["summary.csv", "report.txt"] {
        let built = std::fs::read(dir.join("run/summarise/0").join(file)).unwrap();
        let all_here = std::fs::read(local.join("out/summarise").join(file)).unwrap();
        assert!(!built.is_empty(), "{file} is empty");
        assert_eq!(built, all_here, "{file} differs from expc run --local");
    }
    expc_tests::remove_tree(&dir);
}

/// The shipped `simstudy` example, as written, on the cluster: its sweep goes to the
/// partition, account and throttle of its resource as one job array, each job loads the
/// example's environment modules for real (each run records the modules it saw), the
/// gather runs on the cluster too, and the analysis here; the phase map is the one a run
/// of the whole pipeline on this machine makes.
fn the_simstudy_example_runs_on_the_cluster_with_its_partition_account_and_modules() {
    let state = expc_tests::temp_path("slurm", "simstudy");
    let spec = expc_tests::shared_copy("examples/simstudy").join("simstudy.exp");
    let spec = spec.to_str().unwrap();
    let out = expc_tests::run(&[
        "run",
        "-p",
        "replicas=1",
        "--state-dir",
        state.to_str().unwrap(),
        spec,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("103 ran, 0 cached, 0 failed"), "{stderr}");
    let jobs = run_jobs(&state);
    let labels: Vec<&str> = jobs.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["s[0-99]", "c[0]"], "{stderr}");
    let (_, array) = &jobs[0];
    let shown = Command::new("squeue")
        .args(["-h", "-t", "all", "-r", "-j", array, "-o", "%P|%a"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert_eq!(shown.lines().count(), 100, "{shown}");
    assert!(
        shown.lines().all(|l| l == "short|nonlinear-dynamics"),
        "{shown}"
    );
    for i in [0, 57, 99] {
        let meta: serde_json::Value = serde_json::from_slice(
            &std::fs::read(state.join(format!("out/s/{i}/meta.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            meta["environment"]["modules"],
            serde_json::json!(["gcc/12.2.0", "python/3.11.7"]),
            "s[{i}] did not run with the example's modules: {meta}"
        );
    }
    let local = state.join("local");
    let here = expc_tests::run(&[
        "run",
        "--local",
        "-p",
        "replicas=1",
        "--state-dir",
        local.to_str().unwrap(),
        spec,
    ]);
    assert!(
        here.status.success(),
        "{}",
        String::from_utf8_lossy(&here.stderr)
    );
    let on_cluster = std::fs::read(state.join("out/phase/phase.csv")).unwrap();
    assert!(on_cluster.len() > 100);
    assert_eq!(
        on_cluster,
        std::fs::read(local.join("out/phase/phase.csv")).unwrap(),
        "the phase map differs from a local run's"
    );
    expc_tests::remove_tree(&state);
}

/// `tests/slurm/placed_here.exp` places every call on this machine; `expc run --profile
/// hpc` runs them on the cluster. `b` is submitted only once `a` (which it runs `after`,
/// reading nothing of it) has finished; a second run submits only `s`, whose task says
/// `cache = false`, and the ids the jobs ran under are those of the spec as placed.
fn a_profile_runs_a_spec_placed_here_on_slurm_in_its_order() {
    let spec = spec("placed_here");
    let state = expc_tests::temp_path("slurm", "placed-here");
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--state-dir", state.to_str().unwrap()];
        all.extend_from_slice(args);
        all.push(&spec);
        expc_tests::run(&all)
    };
    let out = run(&["--profile", "hpc"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("3 ran, 0 cached, 0 failed"), "{stderr}");
    let jobs = run_jobs(&state);
    let labels: Vec<&str> = jobs.iter().map(|(l, _)| l.as_str()).collect();
    let at = |l: &str| labels.iter().position(|x| *x == l);
    assert!(
        at("a[0]") < at("b[0]") && at("b[0]").is_some(),
        "{labels:?}"
    );
    let runs = run_folders(&state);
    let records = read_hook_records(&runs[0].join("run/provenance")).unwrap();
    let (a_end, b_start) = (&ends(&records, "a")[&0], &starts(&records, "b")[&0]);
    assert!(
        b_start.time >= a_end.time,
        "b started at {} before a ended at {}",
        b_start.time,
        a_end.time
    );
    // The ids the cluster ran are the plan's without the profile.
    let plan = expc_tests::run(&["plan", "--format", "json", &spec]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let id_of = |key: &str| {
        plan["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["key"] == key)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(a_end.job_id, id_of("a"));
    assert_eq!(b_start.job_id, id_of("b"));
    // Again: only `s` is submitted, the others are cached.
    let again = run(&["--profile", "hpc"]);
    let stderr2 = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr2}");
    assert!(stderr2.contains("1 ran, 2 cached"), "{stderr2}");
    assert!(stderr2.contains("submitted s"), "{stderr2}");
    assert!(
        !stderr2.contains("submitted a") && !stderr2.contains("submitted b"),
        "{stderr2}"
    );
    expc_tests::remove_tree(&state);
}
