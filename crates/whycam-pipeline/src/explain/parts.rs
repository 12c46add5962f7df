//! An explain run cut into parts that run apart (Ray actors, other processes, other machines
//! sharing a file system) and write into one directory exactly what `whycam explain` writes
//! there. The driver plans the run with [`plan_parts`]: the inputs in the run's batches (the
//! same images together, so the same rounding) and each input's file stem fixed up front, so
//! that two parts never pick the same name. Each part explains whole batches with
//! [`ExplainRun::explain_part`], writing the run's files and appending each image's entry to
//! its own journal (a [`JsonSummary`] in `DIR/.whycam-parts/<part>/`). The driver then joins
//! the journals into `DIR/explanations.json` with [`finish_parts`] (written atomically) and
//! removes them. A directory is resumable as `--resume` resumes one: a batch whose images are
//! all complete (entry recorded, files there) is not planned again, and an image recorded by
//! two parts (a batch retried after its worker died) is listed once.

use super::summary::{
    ImageError, ImageSummary, JsonSummary, RunHeader, RunSummary, complete as file_complete,
    files_of, previous_run, stem_of,
};
use super::{
    ExplainRun, RESERVED_STEMS, image_summary, non_finite, record, unique_stem, write_image,
};
use crate::error::{InputError, InputErrorKind, PipelineError, Result};
use crate::explain::sink::{ExplainSink, RunInfo, WrittenFile};
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::io::BufRead;
use std::path::Path;
use whycam_data::Source;

/// The folder of the parts' journals inside the output directory.
pub const PARTS_DIR: &str = ".whycam-parts";

/// One input of a planned run.
#[derive(Debug, Clone)]
pub struct PlannedInput {
    /// Its place among the run's inputs.
    pub position: usize,
    pub source: Source,
    /// The stem of its files' names, unique in the run (`cat`, `cat-2`).
    pub stem: OsString,
}

/// A run over a directory, planned: what is left to do.
#[derive(Debug, Default)]
pub struct PartPlan {
    /// The batches still to explain, each as the uninterrupted run batches them.
    pub pending: Vec<Vec<PlannedInput>>,
    /// How many inputs are complete in the directory already.
    pub done: usize,
}

/// Plans `sources` in batches of `batch_size`, given the entries already complete in the
/// output directory (see [`completed_parts`]): a batch whose every input is complete is left
/// out. Stems are given as `whycam explain --resume` gives them: the complete entries keep
/// theirs, the rest are numbered in input order (`cat`, `cat-2`). Unlike one process, an input
/// that will fail to decode keeps the stem it was given here.
pub fn plan_parts(
    sources: &[Source],
    batch_size: usize,
    done: &HashMap<String, ImageSummary>,
) -> PartPlan {
    let mut stems: HashSet<String> = RESERVED_STEMS.iter().map(|s| s.to_string()).collect();
    let entry = |source: &Source| done.get(&source.to_string());
    for source in sources {
        if let Some(e) = entry(source) {
            stems.insert(stem_of(e));
        }
    }
    let mut plan = PartPlan::default();
    for (start, chunk) in (0..)
        .step_by(batch_size.max(1))
        .zip(sources.chunks(batch_size.max(1)))
    {
        if chunk.iter().all(|s| entry(s).is_some()) {
            plan.done += chunk.len();
            continue;
        }
        let batch = chunk
            .iter()
            .enumerate()
            .map(|(i, source)| PlannedInput {
                position: start + i,
                source: source.clone(),
                stem: match entry(source) {
                    Some(e) => OsString::from(stem_of(e)),
                    None => unique_stem(&mut stems, &source.stem()),
                },
            })
            .collect();
        plan.pending.push(batch);
    }
    plan
}

impl ExplainRun<'_> {
    /// What this run tells its sinks before the first image (`inputs`: how many it has).
    pub fn info(&self, inputs: usize) -> RunInfo {
        RunInfo {
            model: self.opened.model.name.clone(),
            weights: whycam_data::shown_path(&self.opened.model.weights).into_owned(),
            layers: self.layer_names(),
            methods: self.methods().to_vec(),
            target: self.plan.config.target.clone(),
            aug_smooth: self.plan.config.aug_smooth,
            eigen_smooth: self.plan.config.eigen_smooth,
            inputs,
        }
    }

    /// Explains one planned batch as [`ExplainRun::run`] explains a batch: each image handed
    /// to every sink (begun by the caller), its entry recorded. The sinks write into
    /// `written`; entries name the files under `recorded` instead (the output directory as the
    /// user gave it, where `written` is where this process reaches it). Returns the inputs
    /// that failed.
    pub fn explain_part(
        &self,
        batch: &[PlannedInput],
        sinks: &mut [Box<dyn ExplainSink + '_>],
        written: &Path,
        recorded: &Path,
    ) -> Vec<InputError> {
        let feeding = crate::batch::Feeding {
            preprocess: &self.opened.preprocess,
            limits: &self.opened.limits,
            fetch: &self.plan.config.fetch,
        };
        let mut errors = Vec::new();
        let mut fail = |error: InputError, sinks: &mut [Box<dyn ExplainSink + '_>]| {
            for sink in sinks.iter_mut() {
                sink.error(&error);
            }
            errors.push(error);
        };
        let sources: Vec<Source> = batch.iter().map(|p| p.source.clone()).collect();
        let mut decoded = Vec::new();
        let mut planned = Vec::new();
        for (result, input) in feeding.decode_all(&sources).into_iter().zip(batch) {
            match result {
                Ok(d) => {
                    decoded.push(d);
                    planned.push(input);
                }
                Err(e) => fail(e, sinks),
            }
        }
        if decoded.is_empty() {
            return errors;
        }
        let explanations = match self.explain_batch(&decoded) {
            Ok(explanations) => explanations,
            Err(e) => {
                for item in &decoded {
                    let input = item.source.to_string();
                    fail(InputError::other(input, InputErrorKind::Model, &e), sinks);
                }
                return errors;
            }
        };
        let layers = self.layer_names();
        for ((item, explanation), input) in decoded.iter().zip(&explanations).zip(planned) {
            if let Some(e) = non_finite(item, explanation) {
                fail(e, sinks);
                continue;
            }
            let image = self.explained_image(item, explanation, &input.stem, input.position);
            let done = write_image(&image, sinks).and_then(|files| {
                let files = files
                    .into_iter()
                    .map(|f| WrittenFile {
                        path: match f.path.strip_prefix(written) {
                            Ok(rest) => recorded.join(rest),
                            Err(_) => f.path,
                        },
                        ..f
                    })
                    .collect();
                let entry = image_summary(&image, files, &layers);
                record(sinks, &entry, input.position, false)
            });
            if let Err(e) = done {
                let input = item.source.to_string();
                fail(InputError::other(input, InputErrorKind::Io, e), sinks);
            }
        }
        errors
    }
}

/// The journal sink of part `part` of the run in `dir`: its entries go to
/// `dir/.whycam-parts/<part>/explanations.partial.jsonl` (created here).
pub fn part_journal(dir: &Path, part: &str) -> Result<JsonSummary> {
    let folder = dir.join(PARTS_DIR).join(part);
    std::fs::create_dir_all(&folder).map_err(PipelineError::io("creating", &folder))?;
    Ok(JsonSummary::new(&folder))
}

/// The complete entries of the run in `dir`, by input: those of its `explanations.json`, of
/// an interrupted `whycam explain`'s journal and of every part's journal whose listed files
/// are all there and not empty. A run with other settings is refused, as `--resume` refuses it.
pub fn completed_parts(dir: &Path, header: &RunHeader) -> Result<HashMap<String, ImageSummary>> {
    let mut entries = previous_run(dir, header)?;
    let Ok(parts) = std::fs::read_dir(dir.join(PARTS_DIR)) else {
        return Ok(entries);
    };
    for part in parts.filter_map(|p| p.ok()) {
        let journal = part.path().join(JsonSummary::JOURNAL);
        let Ok(file) = std::fs::File::open(&journal) else {
            continue;
        };
        let mut lines = std::io::BufReader::new(file).lines();
        // A part that died before its header was written recorded nothing.
        let Some(Ok(first)) = lines.next() else {
            continue;
        };
        let Ok(found) = serde_json::from_str::<RunHeader>(&first) else {
            continue;
        };
        if found != *header {
            return Err(header.mismatch(&found, dir));
        }
        // A line cut by a crash does not parse and is left out.
        for entry in lines
            .map_while(std::result::Result::ok)
            .filter_map(|l| serde_json::from_str::<ImageSummary>(&l).ok())
            .filter(|e| complete(dir, e))
        {
            entries.insert(entry.image.clone(), entry);
        }
    }
    Ok(entries)
}

/// Whether every file `entry` lists is in `dir` (or where it was recorded), not empty.
fn complete(dir: &Path, entry: &ImageSummary) -> bool {
    files_of(entry).all(|f| file_complete(dir, f))
}

/// Writes `dir/explanations.json` of the run over `sources` (as [`RunSummary`] of `info`)
/// from the complete entries in `dir`, in input order, with `errors` (those of inputs that
/// have no entry: a batch retried after a failure may have failed once), and removes the parts'
/// journals. The file is what `whycam explain` writes for the same inputs.
pub fn finish_parts(
    dir: &Path,
    info: &RunInfo,
    sources: &[Source],
    errors: Vec<ImageError>,
) -> Result<RunSummary> {
    let header = RunHeader::of(info);
    let mut entries = completed_parts(dir, &header)?;
    let images: Vec<ImageSummary> = sources
        .iter()
        .filter_map(|s| entries.remove(&s.to_string()))
        .collect();
    let explained: HashSet<&str> = images.iter().map(|i| i.image.as_str()).collect();
    let mut seen = HashSet::new();
    let errors = errors
        .into_iter()
        .filter(|e| !explained.contains(e.image.as_str()) && seen.insert(e.image.clone()))
        .collect();
    let summary = RunSummary {
        model: header.model,
        weights: header.weights,
        layers: header.layers,
        methods: header.methods,
        target: header.target,
        aug_smooth: header.aug_smooth,
        eigen_smooth: header.eigen_smooth,
        images,
        grids: Vec::new(),
        errors,
        interrupted: false,
    };
    let path = dir.join(JsonSummary::FILE);
    crate::write::atomically(&path, format!("{}\n", summary.to_json()).as_bytes())?;
    let parts = dir.join(PARTS_DIR);
    if parts.exists() {
        std::fs::remove_dir_all(&parts).map_err(PipelineError::io("removing", &parts))?;
    }
    Ok(summary)
}

/// An input's error as a line of JSON (as `explanations.json` records it), to carry it from
/// a part to the driver.
pub fn error_to_json(error: &InputError) -> String {
    serde_json::to_string(&ImageError::from(error)).expect("an error serialises")
}

/// An error [`error_to_json`] wrote; `None` if `line` is not one.
pub fn error_from_json(line: &str) -> Option<ImageError> {
    serde_json::from_str(line).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::sink::FileRole;
    use crate::explain::summary::{ClassProbability, ExplanationSummary, TargetSummary};
    use std::path::PathBuf;

    fn file(path: &str) -> Source {
        Source::File(PathBuf::from(path))
    }

    /// An entry of `image` whose overlay is `<stem>.gradcam.png`.
    fn entry(image: &str, stem: &str) -> ImageSummary {
        let class = ClassProbability {
            index: 0,
            label: "a".into(),
            probability: 1.0,
        };
        ImageSummary {
            image: image.into(),
            original: None,
            prediction: class.clone(),
            top: vec![class],
            truth: None,
            explanations: vec![ExplanationSummary {
                target: TargetSummary {
                    index: Some(0),
                    label: "a".into(),
                    score: 1.0,
                    probability: 1.0,
                },
                method: "gradcam".into(),
                layers: vec!["features".into()],
                files: vec![format!("out/{stem}.gradcam.png")],
                roles: vec![FileRole::Overlay],
                other_files: Vec::new(),
            }],
            figures: Vec::new(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn plans_the_runs_batches_and_stems_skipping_complete_batches() {
        let sources: Vec<Source> = [
            "a/cat.png",
            "b/cat.png",
            "grid.png",
            "c/dog.png",
            "d/cat.png",
        ]
        .iter()
        .map(|p| file(p))
        .collect();
        let fresh = plan_parts(&sources, 2, &HashMap::new());
        assert_eq!(fresh.done, 0);
        let stems: Vec<Vec<(usize, String)>> = fresh
            .pending
            .iter()
            .map(|b| {
                b.iter()
                    .map(|p| (p.position, p.stem.to_string_lossy().into_owned()))
                    .collect()
            })
            .collect();
        assert_eq!(
            stems,
            [
                vec![(0, "cat".to_string()), (1, "cat-2".to_string())],
                vec![(2, "grid-2".to_string()), (3, "dog".to_string())],
                vec![(4, "cat-3".to_string())],
            ]
        );
        // The first batch complete, the second half done: only the first is skipped, and the
        // complete entries keep their stems ("cat-2" taken by an earlier run stays taken).
        let done: HashMap<String, ImageSummary> = [
            ("a/cat.png", "cat"),
            ("b/cat.png", "cat-2"),
            ("grid.png", "grid-2"),
        ]
        .iter()
        .map(|(image, stem)| (image.to_string(), entry(image, stem)))
        .collect();
        let resumed = plan_parts(&sources, 2, &done);
        assert_eq!(resumed.done, 2);
        let stems: Vec<String> = resumed
            .pending
            .iter()
            .flatten()
            .map(|p| p.stem.to_string_lossy().into_owned())
            .collect();
        assert_eq!(stems, ["grid-2", "dog", "cat-3"]);
    }
}
