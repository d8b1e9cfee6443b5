//! What the scheduler does with an instance's outputs: links cached ones into place,
//! checks, stores and links new ones, and — once what waited for the instance has
//! started — writes its cache entry, passes its record on and frees its work directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use expc_plan::plan::Plan;

use crate::engine::Engine;
use crate::events::{Event, Generated, InstanceRecord, MadeBy, Sink};
use crate::resolve::{Files, Resolved};
use crate::store::{self, CacheEntry, Store, StoredOutput, StoredOutputs, Unusable};

/// An instance's outputs: where they are and their digests, how they are stored, and
/// what is left to do.
pub(super) type Collected = (Files, StoredOutputs, Bookkeeping);

/// An output that cannot be linked: its name, and why.
pub(super) type NotLinked = (String, Unusable);

/// Links the stored outputs of an instance into `.expc/out/`: their paths, with the
/// stamps their objects have now, and — when any of these is not the one `stored` notes
/// — the outputs with the stamps to note instead.
pub(super) fn materialise(
    store: &Store,
    plan: &Plan,
    j: usize,
    index: u64,
    stored: &[(String, StoredOutput)],
) -> Result<(Files, Option<StoredOutputs>), NotLinked> {
    let job = &plan.jobs[j];
    let dir = store.out_dir(&job.key, index, !job.loops.is_empty());
    let mut files = BTreeMap::new();
    let mut moved: Option<Vec<(String, StoredOutput)>> = None;
    for o in &job.outputs {
        let Some(s) = store::stored_output(stored, &o.name) else {
            let missing = std::io::Error::other(format!("no stored output `{}`", o.name));
            return Err((o.name.clone(), Unusable::Io(missing)));
        };
        let linked = store
            .materialise(&dir, &o.path, s)
            .map_err(|e| (o.name.clone(), e))?;
        if let Some(stamp) = linked.stamp {
            let outputs = moved.get_or_insert_with(|| stored.to_vec());
            if let Some((_, out)) = outputs.iter_mut().find(|(n, _)| *n == o.name) {
                out.stamp = Some(stamp);
            }
        }
        let stamp = linked.stamp.or(s.stamp);
        files.insert(o.name.clone(), (linked.path, s.digest.clone(), stamp));
    }
    Ok((files.into(), moved.map(Into::into)))
}

/// What a cached output that cannot be used means for its instance, as a note.
pub(super) fn not_linked_note(name: &str, (output, why): &NotLinked) -> String {
    match why {
        Unusable::Missing => format!(
            "{name}: its cached output `{output}` is no longer in the store; running it again"
        ),
        Unusable::Damaged(how) => format!(
            "{name}: its cached output `{output}` was changed after it was stored ({how}); running it again"
        ),
        Unusable::Io(e) => format!(
            "{name}: its cached output `{output}` could not be linked ({e}); running it again"
        ),
    }
}

/// After a successful attempt: checks, hashes and stores the outputs, and makes the
/// cache entry to record.
#[allow(clippy::too_many_arguments)]
pub(super) fn collect(
    store: &Store,
    program: &expc_check::ir::Program,
    plan: &Plan,
    j: usize,
    index: u64,
    resolved: &Resolved,
    work: &Path,
    attempts: u32,
    started: Instant,
) -> Result<Collected, String> {
    let mut stored = BTreeMap::new();
    for (name, rel, metrics) in &resolved.outputs {
        let path = work.join(rel);
        let meta = std::fs::symlink_metadata(&path).map_err(|_| {
            format!(
                "exited with status 0 but did not write its output `{name}` (expected at `{rel}` in its work directory)"
            )
        })?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).unwrap_or_default();
            return Err(format!(
                "its output `{name}` (`{rel}`) is a symbolic link to `{}`: expc stores what a task writes, not links to files elsewhere, which could change or vanish. Write the file itself there (for example with `cp -L`)",
                target.display()
            ));
        }
        if *metrics {
            crate::exec::check_metrics(&path)
                .map_err(|e| format!("its output `{name}` is not a metrics file: {e}"))?;
        }
        if let Some(o) = plan.jobs[j].outputs.iter().find(|o| o.name == *name) {
            crate::tables::check(&path, &program.shape(&o.ty))
                .map_err(|e| format!("its output `{name}` (`{rel}`, `{}`) {e}", o.ty))?;
        }
        if let Some(pattern) = crate::produced::pattern(program, &plan.jobs[j].task, name) {
            crate::produced::check(work, name, pattern)?;
        }
        let (digest, dir, size) = crate::hash::output_digest(&path)
            .map_err(|e| format!("cannot read its output `{name}`: {e}"))?;
        store
            .store(&path, &digest, dir)
            .map_err(|e| format!("cannot store its output `{name}`: {e}"))?;
        stored.insert(
            name.clone(),
            StoredOutput {
                digest,
                dir,
                size,
                stamp: None,
            },
        );
    }
    let stored: StoredOutputs = stored.into_iter().collect();
    // Linking takes each object's stamp, which the entry notes.
    let (files, stamped) = materialise(store, plan, j, index, &stored)
        .map_err(|(output, e)| format!("cannot link its output `{output}`: {e}"))?;
    let stored = stamped.unwrap_or(stored);
    let job = &plan.jobs[j];
    let entry = CacheEntry {
        key: resolved.key.clone(),
        job: job.key.clone(),
        index,
        outputs: stored.iter().cloned().collect(),
        exit_code: 0,
        attempts,
        duration_ms: started.elapsed().as_millis() as u64,
        key_doc: resolved.key_doc(),
        made_by: None,
    };
    let rest = Bookkeeping {
        entry,
        work: Some(work.to_path_buf()),
        engine: 0,
        record: None,
    };
    Ok((files, stored, rest))
}

/// The outputs of an instance, as provenance records them.
pub(super) fn generated(
    plan: &Plan,
    j: usize,
    files: &Files,
    stored: &[(String, StoredOutput)],
) -> Vec<Generated> {
    plan.jobs[j]
        .outputs
        .iter()
        .filter_map(|o| {
            let (path, digest) = files.get(&o.name)?;
            let s = store::stored_output(stored, &o.name)?;
            Some(Generated {
                name: o.name.clone(),
                path: path.clone(),
                digest: digest.clone(),
                size: s.size,
                is_dir: s.dir,
                ty: o.ty.clone(),
            })
        })
        .collect()
}

/// What is left to do for an instance whose outputs are stored and linked: its cache
/// entry (written after its objects, so a run killed before only runs it again), its
/// work directory, and its provenance record. A run does this after starting the
/// instances that were waiting for it, off the critical path of a chain.
#[derive(Debug)]
pub(super) struct Bookkeeping {
    pub entry: CacheEntry,
    /// The work directory to free, unless the engine already did.
    pub work: Option<PathBuf>,
    /// The engine that ran it.
    pub engine: usize,
    pub record: Option<InstanceRecord>,
}

impl Bookkeeping {
    /// Writes the cache entry, passes the record on, and gives the work directory back to
    /// its engine. The instance's record is the next one passed on. Returns the entry as
    /// `last-keys` notes it ([`store::entry_text`]), once recorded.
    pub fn finish(
        mut self,
        store: &Store,
        sink: &mut Numbered<'_>,
        run_id: Option<&str>,
        engine: &mut dyn Engine,
    ) -> Result<Option<String>, String> {
        self.entry.made_by = run_id.map(|run| MadeBy {
            run: run.to_owned(),
            task: sink.records,
        });
        let written = store
            .record(&self.entry)
            .map_err(|e| format!("cannot record its outputs: {e}"));
        if let Some(work) = &self.work {
            engine.release(work, store);
        }
        if let Some(r) = self.record.take() {
            sink.instance(r);
        }
        written?;
        let e = &self.entry;
        let outputs = e.outputs.iter().map(|(n, o)| (n.as_str(), o));
        Ok(store::entry_text(e.made_by.as_ref(), outputs))
    }
}

/// A run's sink, counting the records passed on. Records are numbered from 0 in the order
/// given, as provenance numbers a run's instances, so a cache entry can name the record of
/// the instance that made it.
pub(crate) struct Numbered<'a> {
    sink: &'a mut dyn Sink,
    records: u64,
}

impl<'a> Numbered<'a> {
    pub fn new(sink: &'a mut dyn Sink) -> Self {
        Numbered { sink, records: 0 }
    }
}

impl Sink for Numbered<'_> {
    fn event(&mut self, event: Event) {
        self.sink.event(event);
    }

    fn instance(&mut self, record: InstanceRecord) {
        self.sink.instance(record);
        self.records += 1;
    }

    fn can_refer(&mut self, made_by: &MadeBy) -> bool {
        self.sink.can_refer(made_by)
    }
}
