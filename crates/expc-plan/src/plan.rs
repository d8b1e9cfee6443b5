//! The plan: every job a pipeline will submit, with its command, inputs, outputs,
//! resources and placement, and the totals a reviewer needs.
//!
//! A *job* is one call of a task in the pipeline; inside `for` loops it stands for one
//! *instance* per point of the loops' sweeps (a job array on Slurm, an Indexed Job on
//! Kubernetes). Instances are not stored one by one: their coordinates follow from their
//! index, so a sweep of a million points costs a few bytes per point.

use std::collections::BTreeMap;

use expc_check::ir::{self, Backend};
use expc_check::value::Value;
use serde::Serialize;

/// Bumped on any incompatible change of the plan's JSON.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub schema_version: u32,
    pub root: String,
    pub experiment: Option<String>,
    pub pipeline: String,
    pub params: Vec<Param>,
    /// The profile and `--on` moves the placements are under, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ir::AppliedProfile>,
    pub jobs: Vec<Job>,
    pub totals: Vec<Totals>,
    pub warnings: Vec<String>,
    /// The shipped tables a run checks against their schema before anything starts.
    pub checked_data: Vec<CheckedData>,
    /// The `if`s decided when the experiment was planned, in source order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<crate::decision::PlannedIf>,
    /// The sweeps the jobs loop over, by id, to compute instance coordinates.
    #[serde(skip)]
    pub sweeps: BTreeMap<String, ir::Sweep>,
    /// The position of each job by key.
    #[serde(skip)]
    pub index: std::collections::HashMap<String, usize>,
}

/// A declared data item a run checks before anything starts, and what it checks.
#[derive(Clone, Debug, Serialize)]
pub struct CheckedData {
    pub data: String,
    pub path: String,
    pub checks: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Param {
    pub id: String,
    pub value: Option<Value>,
    pub source: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct Job {
    /// The pipeline binding (`let t = …`), or `_N` for the N-th call without one.
    pub key: String,
    /// A digest of everything that determines the job's results: the task's definition,
    /// its resolved arguments and the ids of the jobs it reads from. Resources and
    /// placement are not in it.
    pub id: String,
    pub task: String,
    pub doc: Option<String>,
    pub on: String,
    pub backend: Backend,
    /// The loops around the call, outermost first.
    pub loops: Vec<Loop>,
    pub instances: u64,
    pub inputs: BTreeMap<String, String>,
    pub outputs: Vec<Output>,
    pub command: Command,
    pub resources: Resources,
    pub env: Env,
    pub retry: ir::Retry,
    /// Whether a run may serve its instances from the cache (`cache = false`: never).
    #[serde(skip_serializing_if = "is_true")]
    pub cache: bool,
    /// The jobs this one reads outputs of, and those it runs after without reading
    /// (`order_only`).
    pub after: Vec<Dep>,
    /// The resource the spec places the call on, when a profile or `--on` moved it to
    /// `on`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<String>,
    /// Fields of the resource the job is placed on, as the engine will see them.
    pub placement: BTreeMap<String, Value>,
    /// The plan-time conditions whose taken branch holds the call (`fast is true`),
    /// outermost first: not in the id, since they change nothing the job computes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<String>,
    /// For a loop over what a call produces (`for x in s.parts`): what decides the
    /// instances, which are known only when that call has run (`instances` is 0 until the
    /// run expands them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_after: Option<crate::expansion::KnownAfter>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Loop {
    /// Which `for` statement, numbered in source order: two loops over one sweep are two
    /// loops.
    pub id: u32,
    pub var: String,
    /// The name of the position, in `for (i, x) in …`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    pub sweep: String,
    pub strategy: ir::Strategy,
    pub points: u64,
    pub axes: Vec<String>,
    pub seed: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Output {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub path: String,
    /// What a run checks of the output's content when the task ends (a table's header and
    /// cells), if anything beyond its kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Command {
    /// Words of the argv; `{…}` stands for what is known only per instance or at run time.
    Run {
        argv: Vec<String>,
    },
    Shell {
        script: String,
    },
    Spark {
        app: String,
        args: Vec<String>,
        settings: BTreeMap<String, Value>,
    },
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Resources {
    pub cpus: f64,
    pub mem_bytes: Option<u64>,
    pub time_ms: Option<u64>,
    pub gpus: i64,
    /// An MPI-style task's nodes (`resources { nodes = 2 }`), when it sets them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<i64>,
    /// An MPI-style task's processes (`resources { tasks = 27 }`), when it sets them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<i64>,
}

impl Resources {
    /// Whether the command is started by `srun` as an MPI-style task: the task sets
    /// `nodes` or `tasks`.
    pub fn is_mpi(&self) -> bool {
        self.nodes.is_some() || self.tasks.is_some()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Env {
    pub image: Option<String>,
    pub modules: Vec<String>,
    pub conda: Option<String>,
    /// Variables and what they are set to; secrets as `secret(name)`.
    pub vars: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dep {
    pub job: String,
    /// `each`: each instance reads the matching instance of `job`; `all`: each instance
    /// reads every instance of `job` (a gather after a sweep).
    pub relation: Relation,
    /// An order only (`after [..]`): nothing of `job` is read, so its outputs are in no
    /// key and no command of this job.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub order_only: bool,
}

fn is_true(b: &bool) -> bool {
    *b
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    Each,
    All,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    pub backend: String,
    pub jobs: u64,
    pub instances: u64,
    /// Slurm job arrays after splitting at the site's `max_array_size`.
    pub arrays: u64,
    pub cpu_hours: f64,
    pub gpu_hours: f64,
    /// The largest memory one instance asks for.
    pub max_mem_bytes: Option<u64>,
    /// Instances whose wall time is not set, so not in the hours.
    pub instances_without_time: u64,
}

impl Job {
    /// The call outputs this job's inputs read whole (not gathered): `(binding, output)`.
    pub fn reads_whole(&self, program: &ir::Program) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let calls = program
            .pipelines
            .iter()
            .flat_map(|p| crate::lower::calls_in(&p.body));
        for c in calls.filter(|c| c.binding == self.key) {
            for arg in c.args.values() {
                if let ir::IrExpr::CallOutput {
                    binding,
                    output,
                    gathered: false,
                } = arg
                {
                    out.push((binding.clone(), output.clone()));
                }
            }
        }
        out
    }
}

impl Plan {
    pub fn job(&self, key: &str) -> Option<&Job> {
        self.position(key).map(|i| &self.jobs[i])
    }

    pub fn position(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// Whether job `job` waits for the job `dep` names element by element on Slurm
    /// (`aftercorr`): each of its instances reads the instance of the same index of a job
    /// array of as many (a sweep after a sweep over the same points), both on Slurm.
    /// Otherwise a Slurm job waits for all of it (`afterok`: a gather, or one instance
    /// reading a sweep).
    pub fn element_wise(&self, job: usize, dep: &Dep) -> bool {
        let Some(up) = self.position(&dep.job) else {
            return false;
        };
        let (a, b) = (&self.jobs[job], &self.jobs[up]);
        dep.relation == Relation::Each
            && a.backend == Backend::Slurm
            && b.backend == Backend::Slurm
            && a.instances > 1
            && a.instances == b.instances
            && !a.loops.is_empty()
            && !b.loops.is_empty()
    }

    /// The name of an instance in messages: `t`, or `t[3]` inside a sweep.
    pub fn instance_name(&self, job: usize, index: u64) -> String {
        let j = &self.jobs[job];
        if j.loops.is_empty() {
            j.key.clone()
        } else {
            format!("{}[{index}]", j.key)
        }
    }

    pub fn total_instances(&self) -> u64 {
        self.jobs.iter().map(|j| j.instances).sum()
    }

    /// The point of each loop of a job at instance `index`, outermost first.
    pub fn loop_points(&self, job: &Job, index: u64) -> Vec<u64> {
        let mut rest = index;
        let mut per_loop = vec![0u64; job.loops.len()];
        for (i, l) in job.loops.iter().enumerate().rev() {
            let n = l.points.max(1);
            per_loop[i] = rest % n;
            rest /= n;
        }
        per_loop
    }

    /// The coordinates of instance `index` of a job: `(var.axis, value)` for each loop
    /// over a sweep, `(var, element)` for each loop over a list. A list's positions are
    /// not coordinates: an instance is known by its element, so that adding a file to a
    /// file set renames no other instance.
    pub fn coords(&self, job: &Job, index: u64) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for (l, p) in job.loops.iter().zip(self.loop_points(job, index)) {
            if let Some(sweep) = self.sweeps.get(&l.sweep) {
                for (axis, v) in crate::sweep::point(sweep, p) {
                    if axis.is_empty() {
                        out.push((l.var.clone(), v));
                    } else {
                        out.push((format!("{}.{axis}", l.var), v));
                    }
                }
            }
        }
        out
    }

    /// A stable id of one instance: the job's id and the instance's coordinates.
    pub fn instance_id(&self, job: &Job, index: u64) -> String {
        let mut h = blake3::Hasher::new();
        h.update(job.id.as_bytes());
        for (k, v) in self.coords(job, index) {
            h.update(k.as_bytes());
            h.update(b"=");
            h.update(v.to_string().as_bytes());
            h.update(b";");
        }
        h.finalize().to_hex()[..16].to_owned()
    }
}

/// The plan's JSON: the plan with every instance's index, id and coordinates, written as
/// it is serialised (not built in memory first).
#[derive(Serialize)]
#[allow(missing_debug_implementations)]
pub struct PlanJson<'a> {
    #[serde(flatten)]
    header: PlanHeader<'a>,
    jobs: Vec<JobJson<'a>>,
    totals: &'a [Totals],
    warnings: &'a [String],
}

#[derive(Serialize)]
struct PlanHeader<'a> {
    schema_version: u32,
    root: &'a str,
    experiment: &'a Option<String>,
    pipeline: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<&'a ir::AppliedProfile>,
    params: &'a [Param],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    checked_data: &'a [CheckedData],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    decisions: &'a [crate::decision::PlannedIf],
}

#[derive(Serialize)]
struct JobJson<'a> {
    #[serde(flatten)]
    job: &'a Job,
    instance_list: Instances<'a>,
}

struct Instances<'a> {
    plan: &'a Plan,
    job: &'a Job,
}

impl Serialize for Instances<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        struct Coords(Vec<(String, Value)>);
        impl Serialize for Coords {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (k, v) in &self.0 {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
        #[derive(Serialize)]
        struct One {
            index: u64,
            id: String,
            coords: Coords,
        }
        let mut seq = s.serialize_seq(Some(self.job.instances as usize))?;
        for i in 0..self.job.instances {
            seq.serialize_element(&One {
                index: i,
                id: self.plan.instance_id(self.job, i),
                coords: Coords(self.plan.coords(self.job, i)),
            })?;
        }
        seq.end()
    }
}

impl Plan {
    pub fn json(&self) -> PlanJson<'_> {
        PlanJson {
            header: PlanHeader {
                schema_version: self.schema_version,
                root: &self.root,
                experiment: &self.experiment,
                pipeline: &self.pipeline,
                profile: self.profile.as_ref(),
                params: &self.params,
                checked_data: &self.checked_data,
                decisions: &self.decisions,
            },
            jobs: self
                .jobs
                .iter()
                .map(|job| JobJson {
                    job,
                    instance_list: Instances { plan: self, job },
                })
                .collect(),
            totals: &self.totals,
            warnings: &self.warnings,
        }
    }
}
