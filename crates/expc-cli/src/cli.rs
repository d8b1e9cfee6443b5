//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// expc compiles experiment specifications (`.exp` files): it checks them, plans them, builds
/// Slurm, Kubernetes and Spark artifacts from them and runs them, recording provenance.
#[derive(Debug, Parser)]
#[command(name = "expc", version, propagate_version = true, max_term_width = 100)]
#[command(after_help = "Run `expc explain CODE` to learn about a diagnostic code.")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// When to colour output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and `NO_COLOR` is unset.
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check specifications for errors, and print every diagnostic.
    ///
    /// Exits 0 with no output when every file is valid, 1 when any has an error.
    Check(CheckArgs),
    /// Show every job the pipeline will run, with its command, inputs, outputs,
    /// resources and placement, and the totals per backend.
    Plan(PlanArgs),
    /// Draw the pipeline's jobs and their dependencies (Graphviz DOT or Mermaid).
    Graph(GraphArgs),
    /// Show what changes between the plans of two versions of a spec: jobs added,
    /// removed and changed, field by field, and the jobs that re-run because of them.
    Diff(DiffArgs),
    /// Write submission artifacts for a target engine, with provenance hooks: sbatch
    /// scripts (a job array per sweep), spark-submit scripts, Kubernetes Jobs (an Indexed
    /// Job per sweep), or all of them with one `submit.sh` running them in order.
    ///
    /// Fails, writing nothing, when a job cannot be submitted as planned (a name or a
    /// script too long, resources over the site's limits). The output is byte-identical
    /// from build to build.
    Build(BuildArgs),
    /// Run the pipeline, each call where it is placed, with a content-addressed cache,
    /// resume and retries.
    ///
    /// Local tasks run here; Slurm, Spark and Kubernetes tasks are submitted to their
    /// engine once their inputs are ready (`--local` runs everything here). Tasks whose
    /// inputs, command and environment are unchanged since they last succeeded do not run
    /// again, wherever they ran. A run that was stopped (Ctrl-C, or killed) resumes
    /// where it was when run again. Exits 1 when a task failed.
    Run(RunArgs),
    /// Explain why each instance of a task will run, or is cached, field by field.
    Why(WhyArgs),
    /// Pin every remote input of a spec (`https://…`, `s3://…`) to its content: fetch
    /// what the store lacks and write `expc.lock` beside the spec, with each input's
    /// SHA-256, size and ETag or version. Commit it, as `Cargo.lock`.
    Lock(LockArgs),
    /// Hash every object of the store again and evict those whose bytes are not the ones
    /// stored, naming the cached instances that made them.
    ///
    /// A run trusts an object while its stamp (inode, size, modification and change times)
    /// is the one it was stored with, and hashes it again when not; this hashes them all.
    /// The instances whose outputs are evicted run again on the next `expc run`. Exits 1
    /// when it found damage.
    Verify(VerifyArgs),
    /// Show the runs of a spec still going: each background run (`expc run --detach`)
    /// with its progress, and every Slurm task submitted whose outputs no run has stored
    /// yet, with its state now and, for a pending one, the scheduler's reason.
    ///
    /// A run killed without cancelling (`kill -9`, a lost ssh session) leaves its jobs on
    /// the cluster; the next `expc run` (or `expc attach`) of the spec adopts them. Exits 0.
    Status(QueueArgs),
    /// Follow a background run (`expc run --detach`) to its end with the usual progress,
    /// then print its summary; exits as the run does.
    ///
    /// Ctrl-C stops following, not the run (`expc cancel` stops it). When the run's head
    /// has ended before the run did (killed, the machine restarted), `attach` runs the spec
    /// again here with the same arguments: what is queued or running on a cluster is
    /// adopted, what finished is collected, nothing runs twice.
    Attach(QueueArgs),
    /// Stop a background run (its head cancels what it submitted and records the run as
    /// interrupted), then cancel every Slurm task of the spec still queued or running (a
    /// run killed without cancelling leaves them); the next `expc run` submits them again.
    Cancel(QueueArgs),
    /// Remove what no kept run needs: provenance runs past a retention you choose, the
    /// cache entries and store objects only they used, Slurm and Kubernetes run folders
    /// nothing can adopt any more, and leftover work areas.
    ///
    /// Without `--keep-last` or `--older-than` every recorded run is kept, and only what
    /// none of them (nor the last success of any instance) needs is removed. An instance
    /// whose entry is removed runs again when next needed. `--dry-run` says what would go
    /// and how much, removing nothing.
    Gc(GcArgs),
    /// List the recorded runs; show one, or compare two side by side.
    ///
    /// Every `expc run` is recorded in `.expc/provenance.db`: params, git state,
    /// environment, each task's argv, times and exit, every file read and made with its
    /// digest, and metrics. RUN is an id, a unique prefix of one, or `latest`.
    Runs(RunsArgs),
    /// Answer a read-only SQL query on the provenance store.
    ///
    /// Tables: runs, params, tasks, task_values, artifacts, usages, metrics, and the view
    /// models (docs/provenance.md documents every column).
    Query(QueryArgs),
    /// The model registry: registered models with their versions, stages and scores; show
    /// one, promote or archive a version.
    ///
    /// `register t.model as "NAME"` in a pipeline registers the model each instance of
    /// `t` makes, a version per content digest. `--all` lists every model output
    /// recorded, registered or not, with the metrics and inputs of the task that made it.
    Models(ModelsArgs),
    /// Export a run's provenance as W3C PROV-JSON or as a Workflow Run RO-Crate.
    Prov(ProvArgs),
    /// Write a self-contained HTML report of runs: summary, DAG, timeline, tasks with
    /// their logs' tails and, for several runs or a sweep, linked plots of params and
    /// metrics.
    ///
    /// RUN is an id, a unique prefix of one, or `latest` (the default). Several RUNs
    /// compare those runs. The file needs no network access to open.
    Report(ReportArgs),
    /// Keep a team's shared provenance store: create, migrate, grant and revoke access.
    Store(StoreAdminArgs),
    /// Format specifications in the canonical style.
    ///
    /// Rewrites the files in place; with `--check`, changes nothing, shows a diff and exits
    /// 1 when a file is not formatted. Use `-` to read standard input and write standard
    /// output.
    Fmt(FmtArgs),
    /// Explain a diagnostic code, with an example.
    Explain(ExplainArgs),
    /// Run the language server on standard input and output, for editors.
    ///
    /// Diagnostics as you type (from the same checker as `expc check`), hover, go to
    /// definition, references, completion, symbols, formatting, rename and quick fixes.
    Lsp,
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Make a new project that checks and runs at once: a spec with a param, a sweep, two
    /// tasks and a gather, its scripts, a `.gitignore` for `.expc/`, a README with the next
    /// commands and editor settings recommending the extension.
    ///
    /// DIR (default: this folder) is made when missing; a folder that holds anything is
    /// refused unless `--force` is given, and then no file in it is overwritten.
    Init(InitArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project's folder; its name becomes the experiment's.
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Where the simulations are placed.
    #[arg(long, value_enum, default_value_t = InitTemplate::Local)]
    pub template: InitTemplate,
    /// Add the project's files to a folder that is not empty (existing files are kept).
    #[arg(long)]
    pub force: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InitTemplate {
    /// Everything on this machine.
    Local,
    /// The simulations on a Slurm partition, the summary here (`expc run --local` runs
    /// all of it here).
    Slurm,
    /// The simulations as Spark applications on a Spark cluster, the summary here
    /// (`expc run --local` runs them with `spark-submit --master local[N]`).
    Spark,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The specification files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output format of the diagnostics.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Treat warnings as errors.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Set a param, as a literal of its type: `-p epochs=50`, `-p mem=8GiB`,
    /// `-p 'seeds=[1, 2]'`. A `String` or `Path` param takes the text after `=` byte for
    /// byte, quotes included: `-p name=rio` is `rio`, `-p 'name="rio"'` is `"rio"`.
    /// Repeatable; a later value wins.
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    #[command(flatten)]
    pub placement: PlacementArgs,
    /// Print an intermediate form of the (single) checked file on standard output.
    #[arg(long, value_enum, value_name = "FORM")]
    pub emit: Option<Emit>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// The typed IR as JSON, with a `schema_version`.
    Ir,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable, with source excerpts.
    Text,
    /// One JSON document with a `schema_version`, for editors and CI.
    Json,
}

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// The files to format, or `-` for standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Do not write; exit 1 and show a diff if a file is not formatted.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A code such as `E0010`, or its name such as `unexpected-token`.
    #[arg(value_name = "CODE", required_unless_present = "list")]
    pub code: Option<String>,
    /// List every code with its summary.
    #[arg(long)]
    pub list: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// How to read a program for planning: param values and the pipeline.
#[derive(Debug, Args)]
pub struct ProgramArgs {
    /// Set a param, as a literal of its type: `-p epochs=50`, `-p mem=8GiB`. A `String`
    /// or `Path` param takes the text after `=` byte for byte, quotes included:
    /// `-p name=rio` is `rio`, `-p 'name="rio"'` is `"rio"` (in a `--params` file, YAML
    /// quoting applies). Repeatable; applied after `--params` files, a later value
    /// winning.
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// A YAML file of param values (`epochs: 50`). Repeatable, applied in order.
    #[arg(long = "params", value_name = "FILE.yaml")]
    pub params_files: Vec<PathBuf>,
    /// The pipeline to plan.
    #[arg(long, default_value = "main", value_name = "NAME")]
    pub pipeline: String,
    #[command(flatten)]
    pub placement: PlacementArgs,
}

/// Where calls run: a profile of the spec and moves of the command line.
#[derive(Debug, Args, Default)]
pub struct PlacementArgs {
    /// Apply the spec's `profile NAME { from = to … }`: the calls placed on each `from`
    /// resource run on its `to` (ids do not change). In `expc diff`, the new side only, so
    /// `expc diff spec.exp spec.exp --profile hpc` shows what the profile moves.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Run the calls placed on the resource FROM on the resource TO, like a profile's
    /// entry (and after the profile's, winning). Repeatable. In `expc diff`, the new side
    /// only.
    #[arg(long = "on", value_name = "FROM=TO")]
    pub on: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The specification to plan.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub program: ProgramArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT (`expc graph spec.exp | dot -Tsvg > plan.svg`).
    Dot,
    /// Mermaid, for Markdown that renders it.
    Mermaid,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The specification to draw.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub program: ProgramArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
    /// Draw every instance of a sweep instead of one node per sweep.
    #[arg(long)]
    pub expand: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old version of the specification.
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The new version of the specification.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// Params and pipeline for both sides.
    #[command(flatten)]
    pub program: ProgramArgs,
    /// Set a param of the old side only.
    #[arg(long = "old-param", value_name = "NAME=VALUE")]
    pub old_params: Vec<String>,
    /// Set a param of the new side only.
    #[arg(long = "new-param", value_name = "NAME=VALUE")]
    pub new_params: Vec<String>,
    /// A params file for the old side only.
    #[arg(long = "old-params", value_name = "FILE.yaml")]
    pub old_params_files: Vec<PathBuf>,
    /// A params file for the new side only.
    #[arg(long = "new-params", value_name = "FILE.yaml")]
    pub new_params_files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BuildTarget {
    /// sbatch scripts, job arrays and a submit script.
    Slurm,
    /// spark-submit scripts and a submit script.
    Spark,
    /// Kubernetes Jobs (Indexed Jobs for sweeps), a kustomization and a submit script.
    #[value(name = "k8s")]
    K8s,
    /// Every engine the pipeline is placed on, each in its own folder, and a submit script
    /// that runs the parts in dependency order.
    All,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The specification to build.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub program: ProgramArgs,
    /// The engine to build for.
    #[arg(long, value_enum)]
    pub target: BuildTarget,
    /// The directory to write into (created; the files of an earlier build there are
    /// replaced, and no other file is touched).
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// Overwrite files of the same names that expc did not write (or that were edited
    /// since it did); other files are still left alone.
    #[arg(long)]
    pub force: bool,
    /// A directory of templates replacing the built-in ones (`sbatch.hbs`,
    /// `hook.sh.hbs`, `submit.sh.hbs`); those it does not hold stay built-in.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// The folder the jobs resolve data paths against on the cluster (default: the
    /// spec's folder, as an absolute path).
    #[arg(long, value_name = "DIR")]
    pub spec_dir: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The specification to run.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub program: ProgramArgs,
    /// Most tasks running at once (default: the number of CPUs).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Run every task on this machine, whatever its placement (`on`).
    #[arg(long)]
    pub local: bool,
    /// Stop at the first failure instead of finishing the independent branches.
    #[arg(long)]
    pub fail_fast: bool,
    /// Print one JSON object per line for every event instead of progress.
    #[arg(long)]
    pub json: bool,
    /// Where the cache, outputs and logs are kept (default: `.expc` beside the spec).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// When another `expc run` is using the state folder, wait for it to finish instead
    /// of refusing.
    #[arg(long)]
    pub wait: bool,
    /// Warn, with the scheduler's reason, about a cluster job still queued after this
    /// long (`90s`, `10m`, `2h`).
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub warn_pending: Span,
    /// Start the run in the background and return once it has started, with its id:
    /// `expc status`, `expc attach` and `expc cancel` find it. Closing the terminal or
    /// ending the session does not stop it.
    #[arg(long)]
    pub detach: bool,
    /// The folder of a detached run's head, where it writes its events, log and
    /// summary (set by `--detach`).
    #[arg(long, value_name = "DIR", hide = true)]
    pub head: Option<PathBuf>,
    /// The id to record the run under (set by `--detach`).
    #[arg(long, value_name = "ID", hide = true)]
    pub run_id: Option<String>,
    #[command(flatten)]
    pub shared: SharedArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// How a run reaches remote inputs (`https://…`, `s3://…`); see docs/remote-data.md.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// Ask the servers again about every remote input (a conditional request where the
    /// ETag is known) instead of trusting the store and `expc.lock`.
    #[arg(long)]
    pub refresh: bool,
    /// Refuse remote content other than `expc.lock`'s, naming the URL and both digests.
    #[arg(long, conflicts_with = "offline")]
    pub locked: bool,
    /// Make no network request: run from the store alone, and fail, naming it, on a remote
    /// input it does not hold.
    #[arg(long, conflicts_with = "refresh")]
    pub offline: bool,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// The specification whose remote inputs to lock (`expc.lock` is written beside it).
    #[arg(value_name = "SPEC")]
    pub file: PathBuf,
    #[command(flatten)]
    pub program: ProgramArgs,
    /// Ask the servers again about inputs already locked (else they are kept as locked).
    #[arg(long)]
    pub refresh: bool,
    /// Where the store is kept (default: `.expc` beside the spec).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// A length of time on the command line: a whole number with `s`, `m`, `h` or `d`.
#[derive(Debug, Clone, Copy)]
pub struct Span(pub std::time::Duration);

impl std::str::FromStr for Span {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let unit_at = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (n, unit) = text.split_at(unit_at);
        let n: u64 = n
            .parse()
            .map_err(|_| format!("`{text}` is not a duration; write e.g. `90s`, `10m` or `2h`"))?;
        let secs = match unit {
            "s" | "" => n,
            "m" => n * 60,
            "h" => n * 3600,
            "d" => n * 86_400,
            _ => return Err(format!("`{text}`: the unit must be s, m, h or d")),
        };
        Ok(Span(std::time::Duration::from_secs(secs)))
    }
}

/// A team's shared provenance store, for the commands that record or send runs.
#[derive(Debug, Args)]
pub struct SharedArgs {
    /// A shared store to send the run to as well (`postgres://user@host:5432/db`; the
    /// password from PGPASSWORD). Default: EXPC_STORE, else `expc-store.toml` beside the
    /// spec; `local` for none.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The project runs are recorded under in the shared store (default: EXPC_PROJECT,
    /// else `expc-store.toml`, else the experiment's name).
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
}

#[derive(Debug, Args)]
pub struct WhyArgs {
    /// The specification.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The task: a pipeline binding such as `t`, or a call's task name.
    #[arg(value_name = "TASK")]
    pub task: Option<String>,
    #[command(flatten)]
    pub program: ProgramArgs,
    /// Where the cache is kept (default: `.expc` beside the spec).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// The specification whose state folder to collect (`.expc` beside it); without it,
    /// `.expc` here.
    #[arg(value_name = "SPEC")]
    pub file: Option<PathBuf>,
    /// The state folder (default: `.expc` beside the spec).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Keep the newest N recorded runs (with `--older-than`: a run either keeps is kept).
    #[arg(long, value_name = "N")]
    pub keep_last: Option<usize>,
    /// Keep the runs started less than this long ago (`30d`, `12h`).
    #[arg(long, value_name = "DURATION")]
    pub older_than: Option<Span>,
    /// Say what would be removed, and how much, removing nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct QueueArgs {
    /// A run id (`20261207T231647Z-f1d66f`, as `expc run --detach` printed it), or the
    /// specification whose state folder to read (`.expc` beside it). Without a run id:
    /// the latest background run of the state folder; without a spec: `.expc` here.
    #[arg(value_name = "RUN|SPEC")]
    pub target: Option<String>,
    /// The specification, when the first argument is a run id.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// The state folder (default: `.expc` beside the spec).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// `attach`: print one JSON object per line for every event instead of progress.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The specification whose state folder to verify (`.expc` beside it); without it,
    /// `.expc` here.
    #[arg(value_name = "SPEC")]
    pub file: Option<PathBuf>,
    /// Report what is damaged, evicting nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The state folder to verify.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Where the provenance store is: `--state-dir DIR`, else `.expc` beside `--spec SPEC`,
/// else the nearest `.expc` holding one, here or in a parent folder.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The state directory holding `provenance.db` (default: the `.expc` beside
    /// `--spec`, else `.expc` here or in the nearest parent folder that has one).
    #[arg(long, visible_alias = "state", value_name = "DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// The spec whose runs to read: the store is in the `.expc` folder beside it, where
    /// `expc run SPEC` recorded them.
    #[arg(long, value_name = "SPEC", global = true, conflicts_with = "state_dir")]
    pub spec: Option<PathBuf>,
    /// Read a team's shared store instead (`postgres://user@host:5432/db`; the password
    /// from PGPASSWORD). Default: EXPC_STORE, else `expc-store.toml` beside `--spec` or
    /// here, unless `--state-dir` is given; `local` for the embedded store.
    #[arg(long, value_name = "URL", global = true, conflicts_with = "state_dir")]
    pub store: Option<String>,
}

/// Where the provenance store is, for `expc prov` (whose `ingest` has its own `--spec`).
#[derive(Debug, Args)]
pub struct StateDirArgs {
    /// The state directory holding `provenance.db` (default: `.expc` here or in the
    /// nearest parent folder that has one).
    #[arg(long, visible_alias = "state", value_name = "DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// A team's shared store (`postgres://user@host:5432/db`): `export` reads it, `push`
    /// and `ingest` send to it. Default: EXPC_STORE, else `expc-store.toml` here (beside
    /// the spec for `ingest`); `local` for none.
    #[arg(long, value_name = "URL", global = true)]
    pub store: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    /// Aligned columns.
    Table,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub action: Option<RunsAction>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table, global = true)]
    pub format: TableFormat,
}

#[derive(Debug, Subcommand)]
pub enum RunsAction {
    /// Everything recorded about one run.
    Show {
        /// A run id, a unique prefix of one, or `latest`.
        #[arg(value_name = "RUN")]
        run: String,
    },
    /// Params, metrics and outputs of two runs side by side, differences marked.
    Compare {
        #[arg(value_name = "RUN")]
        a: String,
        #[arg(value_name = "RUN")]
        b: String,
    },
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// One SQL statement that reads (`SELECT …`).
    #[arg(value_name = "SQL")]
    pub sql: String,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The runs to report on (default: `latest`).
    #[arg(value_name = "RUN")]
    pub runs: Vec<String>,
    /// Where to write the report.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        default_value = "report.html"
    )]
    pub output: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub action: Option<ModelsAction>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table, global = true)]
    pub format: TableFormat,
    /// List every model output recorded (a version is its digest), registered or not.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// A registered model's version: its lineage (run, code, params, inputs), its scores
    /// (from the instance that made it and those that evaluated it) and its stage history.
    Show {
        /// `NAME@VERSION`, or `NAME` for its latest version.
        #[arg(value_name = "NAME[@VERSION]")]
        model: String,
    },
    /// Move a version to a stage (`staging`, `production`, `archived`, `none`), recording
    /// who, when and why.
    Promote {
        #[arg(value_name = "NAME@VERSION")]
        model: String,
        #[arg(value_name = "STAGE")]
        stage: String,
        /// Why, kept in the stage history.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Move a version to the stage `archived`.
    Archive {
        #[arg(value_name = "NAME@VERSION")]
        model: String,
        /// Why, kept in the stage history.
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ProvArgs {
    #[command(subcommand)]
    pub action: ProvAction,
    #[command(flatten)]
    pub store: StateDirArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProvFormat {
    /// W3C PROV-JSON, one file `prov.json`.
    ProvJson,
    /// A Workflow Run RO-Crate: `ro-crate-metadata.json` with the spec and copies of the
    /// files the run read and made.
    RoCrate,
}

#[derive(Debug, Subcommand)]
pub enum ProvAction {
    /// Load the records that generated jobs' provenance hooks wrote (a Slurm run's
    /// `run/provenance/`) into the store, as a run.
    ///
    /// The spec and params must be those the artifacts were built from: records from
    /// another plan are refused.
    Ingest {
        /// The provenance directory the hooks wrote (`RUN_DIR/provenance`).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The spec the artifacts were built from.
        #[arg(long, value_name = "FILE")]
        spec: PathBuf,
        #[command(flatten)]
        program: ProgramArgs,
        /// The directory output paths in the records are relative to (default: the
        /// parent of DIR).
        #[arg(long, value_name = "RUN_DIR")]
        run_dir: Option<PathBuf>,
    },
    /// Send the runs recorded here that the shared store lacks (each whole, in one
    /// transaction; a run already there is not sent again).
    ///
    /// With `--mlflow URL`, send them to an MLflow tracking server instead: each ended run
    /// with its params, metrics and expc ids as tags, and the model registry's versions
    /// and stages (docs/models.md). A run or version sent before is not sent again.
    Push {
        /// The project the runs go under (default: EXPC_PROJECT, else
        /// `expc-store.toml`, else each run's experiment name).
        #[arg(long, value_name = "NAME")]
        project: Option<String>,
        /// An MLflow tracking server to send the runs and registered models to
        /// (`http://HOST:PORT`).
        #[arg(long, value_name = "URL", conflicts_with = "project")]
        mlflow: Option<String>,
    },
    /// Write a run's provenance into a directory.
    Export {
        /// A run id, a unique prefix of one, or `latest`.
        #[arg(value_name = "RUN")]
        run: String,
        #[arg(long, value_enum, default_value_t = ProvFormat::ProvJson)]
        format: ProvFormat,
        /// The directory to write into (created when missing).
        #[arg(short = 'o', long, value_name = "DIR")]
        output: PathBuf,
        /// The license of the RO-Crate's content: a URL (such as
        /// `https://spdx.org/licenses/CC-BY-4.0`) or a name. Without it the crate says
        /// "not specified".
        #[arg(long, value_name = "LICENSE")]
        license: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct StoreAdminArgs {
    #[command(subcommand)]
    pub action: StoreAction,
    /// The shared store (`postgres://user@host:5432/db`; the password from PGPASSWORD).
    /// Default: EXPC_STORE, else `expc-store.toml` here.
    #[arg(long, value_name = "URL", global = true)]
    pub store: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum StoreAction {
    /// Create the store's tables in an empty PostgreSQL database; you become its owner.
    Init,
    /// Upgrade a store of an older schema version to this expc's (its owner only; every
    /// expc using it must then be this version or newer).
    Migrate,
    /// Let a PostgreSQL role read, write or administer a project's runs (replacing what
    /// it had there). Admins of the project and the store's owner may.
    Grant {
        #[arg(value_name = "PROJECT")]
        project: String,
        #[arg(value_name = "ROLE")]
        role: String,
        #[arg(value_name = "LEVEL", value_parser = ["read", "write", "admin"])]
        level: String,
    },
    /// Take a role's access to a project away.
    Revoke {
        #[arg(value_name = "PROJECT")]
        project: String,
        #[arg(value_name = "ROLE")]
        role: String,
    },
    /// The grants you can see: yours, and all of the projects you administer.
    Members {
        /// Output format.
        #[arg(long, value_enum, default_value_t = TableFormat::Table)]
        format: TableFormat,
    },
}
