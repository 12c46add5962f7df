//! `explanations.json`: what an explain run did, written by [`JsonSummary`] and read back by
//! the report.

use super::sink::{ExplainSink, FileRole, RunInfo, WrittenFile};
use crate::error::{InputError, InputErrorKind, PipelineError, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub model: String,
    pub weights: String,
    pub layers: Vec<String>,
    pub methods: Vec<String>,
    pub target: String,
    pub aug_smooth: bool,
    pub eigen_smooth: bool,
    pub images: Vec<ImageSummary>,
    /// Contact sheets (`--grid`), per method.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grids: Vec<String>,
    pub errors: Vec<ImageError>,
    /// The run was stopped before every input was done (`--resume` goes on with it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

impl RunSummary {
    /// The summary as `explanations.json` holds it.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a summary serialises")
    }

    /// Reads `dir/explanations.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(JsonSummary::FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| PipelineError::NoSummary {
            path: path.clone(),
            dir: dir.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| PipelineError::NotASummary { path, source })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageSummary {
    pub image: String,
    /// A copy of a downloaded input (`<stem>.original.jpg`), so the report can show it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    pub prediction: ClassProbability,
    pub top: Vec<ClassProbability>,
    /// The true label, from `--truth` or the input's folder name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth: Option<Truth>,
    pub explanations: Vec<ExplanationSummary>,
    /// Titled figures (`--figure`), one per method.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub figures: Vec<String>,
    /// What was let through (a truncated JPEG with `--allow-truncated`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// An input's true class.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Truth {
    pub index: usize,
    pub label: String,
    /// Whether the prediction is this class.
    pub correct: bool,
}

/// A class and the model's probability of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassProbability {
    pub index: usize,
    pub label: String,
    pub probability: f32,
}

/// One map of one image: its target, method, layers and files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExplanationSummary {
    pub target: TargetSummary,
    pub method: String,
    pub layers: Vec<String>,
    pub files: Vec<String>,
    /// What each of `files` is, in the same order. Absent in summaries written before roles
    /// were recorded: [`ExplanationSummary::role`] then goes by the file's name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<FileRole>,
    /// The map's other files, each with its role: the signed map as `.signed.npy` beside a
    /// raw `.npy`. Apart from `files`, which lists what it listed before (overlay, raw, signed
    /// PNG), for its readers; absent in summaries written before they were recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_files: Vec<RecordedFile>,
}

/// A file a summary records, with what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedFile {
    pub file: String,
    pub role: FileRole,
}

impl ExplanationSummary {
    /// The role of `files[i]`: as recorded, or (a summary without roles) as its name tells.
    pub fn role(&self, i: usize) -> Option<FileRole> {
        if self.roles.len() == self.files.len() {
            self.roles.get(i).copied()
        } else {
            role_by_name(self.files.get(i)?)
        }
    }

    /// The first of this map's files with `role`.
    pub fn file(&self, role: FileRole) -> Option<&str> {
        (0..self.files.len())
            .find(|&i| self.role(i) == Some(role))
            .map(|i| self.files[i].as_str())
            .or_else(|| {
                let other = self.other_files.iter().find(|f| f.role == role)?;
                Some(other.file.as_str())
            })
    }

    /// Fills in what a summary written before roles and `other_files` were recorded leaves
    /// out, as a fresh run records it: each file's role, and beside a raw `.npy` the
    /// `.signed.npy` written with it.
    fn fill_in(&mut self) {
        if self.roles.len() != self.files.len() {
            let roles = (0..self.files.len()).map(|i| self.role(i));
            self.roles = roles.collect::<Option<_>>().unwrap_or_default();
        }
        if self.other_files.is_empty()
            && let Some(raw) = self.file(FileRole::Raw)
            && let Some(name) = raw.strip_suffix(".npy")
        {
            self.other_files.push(RecordedFile {
                file: format!("{name}.signed.npy"),
                role: FileRole::SignedRaw,
            });
        }
    }
}

/// A map file's role from its name, for summaries written before roles were recorded:
/// `<name>.signed.png`, `<name>.png`, `<name>.signed.npy`, `<name>.npy`.
fn role_by_name(file: &str) -> Option<FileRole> {
    if file.ends_with(".signed.png") {
        Some(FileRole::Signed)
    } else if file.ends_with(".png") {
        Some(FileRole::Overlay)
    } else if file.ends_with(".signed.npy") {
        Some(FileRole::SignedRaw)
    } else if file.ends_with(".npy") {
        Some(FileRole::Raw)
    } else {
        None
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetSummary {
    /// The class index, absent for a group.
    pub index: Option<usize>,
    pub label: String,
    /// The target score (logit, or sum of logits for a group).
    pub score: f32,
    /// The model's probability of the target (summed over a group's classes).
    pub probability: f32,
}

/// An input that failed, as the summary records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageError {
    pub image: String,
    /// What kind of failure (absent in summaries written before kinds were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<InputErrorKind>,
    pub error: String,
    /// The message for the user (the error, naming the input once).
    #[serde(skip)]
    message: Option<String>,
}

impl ImageError {
    /// The message for the user: the error, prefixed with the input unless it names it.
    pub fn message(&self) -> String {
        self.message
            .clone()
            .unwrap_or_else(|| format!("{}: {}", self.image, self.error))
    }
}

impl From<&InputError> for ImageError {
    fn from(e: &InputError) -> Self {
        ImageError {
            image: e.input.clone(),
            kind: Some(e.kind),
            error: e.cause.clone(),
            message: Some(e.message()),
        }
    }
}

/// What a run shares with the one it resumes: the settings that shape every entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    pub model: String,
    pub weights: String,
    pub layers: Vec<String>,
    pub methods: Vec<String>,
    pub target: String,
    pub aug_smooth: bool,
    pub eigen_smooth: bool,
}

impl RunHeader {
    /// The header of the run `info` describes.
    pub fn of(info: &RunInfo) -> Self {
        RunHeader {
            model: info.model.clone(),
            weights: info.weights.clone(),
            layers: info.layers.clone(),
            methods: info.methods.iter().map(|m| m.id().to_string()).collect(),
            target: info.target.clone(),
            aug_smooth: info.aug_smooth,
            eigen_smooth: info.eigen_smooth,
        }
    }

    /// The refusal to resume a run whose header is `found` in `dir` with this header: it names
    /// only the settings that differ, as `layers _blocks.10` against `layers features`.
    pub(crate) fn mismatch(&self, found: &RunHeader, dir: &Path) -> PipelineError {
        let mut there = Vec::new();
        let mut here = Vec::new();
        let mut differ = |name: &str, a: String, b: String| {
            if a != b {
                there.push(format!("{name} {a}"));
                here.push(format!("{name} {b}"));
            }
        };
        let list = |v: &[String]| v.join(",");
        differ("model", found.model.clone(), self.model.clone());
        differ("weights", found.weights.clone(), self.weights.clone());
        differ("layers", list(&found.layers), list(&self.layers));
        differ("methods", list(&found.methods), list(&self.methods));
        differ("target", found.target.clone(), self.target.clone());
        differ(
            "aug-smooth",
            found.aug_smooth.to_string(),
            self.aug_smooth.to_string(),
        );
        differ(
            "eigen-smooth",
            found.eigen_smooth.to_string(),
            self.eigen_smooth.to_string(),
        );
        PipelineError::ResumeMismatch {
            dir: dir.to_path_buf(),
            found: there.join(", "),
            wanted: here.join(", "),
        }
    }

    pub(crate) fn of_summary(s: &RunSummary) -> Self {
        RunHeader {
            model: s.model.clone(),
            weights: s.weights.clone(),
            layers: s.layers.clone(),
            methods: s.methods.clone(),
            target: s.target.clone(),
            aug_smooth: s.aug_smooth,
            eigen_smooth: s.eigen_smooth,
        }
    }
}

/// The complete entries of the run in `dir` (its `explanations.json` and the journal of an
/// interrupted run), by input: those whose every listed file is still there and not empty.
/// A run with other settings cannot be resumed.
pub fn previous_run(dir: &Path, header: &RunHeader) -> Result<HashMap<String, ImageSummary>> {
    let mut entries = HashMap::new();
    let mismatch = |found: &RunHeader| header.mismatch(found, dir);
    if dir.join(JsonSummary::FILE).is_file() {
        let done = RunSummary::read(dir)?;
        let found = RunHeader::of_summary(&done);
        if found != *header {
            return Err(mismatch(&found));
        }
        entries.extend(done.images.into_iter().map(|e| (e.image.clone(), e)));
    }
    let journal = dir.join(JsonSummary::JOURNAL);
    if let Ok(file) = std::fs::File::open(&journal) {
        let mut lines = std::io::BufReader::new(file).lines();
        if let Some(Ok(first)) = lines.next() {
            // A journal cut before its header was ended is no run to resume.
            if let Ok(found) = serde_json::from_str::<RunHeader>(&first) {
                if found != *header {
                    return Err(mismatch(&found));
                }
                // A line cut by a crash does not parse and is left out.
                for entry in lines
                    .map_while(std::result::Result::ok)
                    .filter_map(|l| serde_json::from_str::<ImageSummary>(&l).ok())
                {
                    entries.insert(entry.image.clone(), entry);
                }
            }
        }
    }
    // Entries of an older run get what a fresh run records, so their signed arrays are
    // checked too.
    for explanation in entries.values_mut().flat_map(|e| &mut e.explanations) {
        explanation.fill_in();
    }
    entries.retain(|_, e| files_of(e).all(|f| complete(dir, f)));
    Ok(entries)
}

/// Every file an entry lists.
pub(crate) fn files_of(entry: &ImageSummary) -> impl Iterator<Item = &String> {
    entry
        .explanations
        .iter()
        .flat_map(|e| e.files.iter().chain(e.other_files.iter().map(|f| &f.file)))
        .chain(&entry.figures)
        .chain(&entry.original)
}

/// Whether a file an entry lists is there, whole (outputs are renamed into place when
/// complete, so one that exists and is not empty is whole).
pub(crate) fn complete(dir: &Path, file: &str) -> bool {
    locate(dir, file).is_some_and(|found| std::fs::metadata(found).is_ok_and(|m| m.len() > 0))
}

/// Where a file a summary records is now: as recorded, or by its name inside `dir` when
/// the run's directory was moved or is read from another working directory. The record is
/// the name as shown ([`whycam_data::shown_path`]); a name that is not UTF-8 is found by
/// its bytes. `None` when it is not a regular file.
pub(crate) fn locate(dir: &Path, file: &str) -> Option<PathBuf> {
    let recorded = whycam_data::path_from_shown(file);
    if recorded.is_file() {
        return Some(recorded);
    }
    // A path relative to the run's directory (a merged run names its shards' files so).
    let below = dir.join(&recorded);
    if recorded.is_relative() && below.is_file() {
        return Some(below);
    }
    let inside = dir.join(recorded.file_name()?);
    inside.is_file().then_some(inside)
}

/// The stem an entry's files were named with: its first file's name up to `.<method>`.
pub fn stem_of(entry: &ImageSummary) -> String {
    entry
        .explanations
        .iter()
        .find_map(|e| {
            let file = e.files.first()?;
            let name = Path::new(file).file_name()?.to_str()?;
            let at = name.rfind(&format!(".{}.", e.method))?;
            Some(name[..at].to_string())
        })
        .unwrap_or_default()
}

/// Writes `explanations.json` into a directory at the end of the run, and while it runs a
/// journal of the images done (`explanations.partial.jsonl`: the run's settings, then one
/// entry per line), from which `--resume` goes on after a crash.
pub struct JsonSummary {
    path: PathBuf,
    journal_path: PathBuf,
    journal: Option<std::fs::File>,
}

impl JsonSummary {
    /// The file's name in the output directory.
    pub const FILE: &'static str = "explanations.json";
    /// The journal's name in the output directory.
    pub const JOURNAL: &'static str = "explanations.partial.jsonl";

    /// A sink writing `dir/explanations.json`.
    pub fn new(dir: &Path) -> Self {
        JsonSummary {
            path: dir.join(Self::FILE),
            journal_path: dir.join(Self::JOURNAL),
            journal: None,
        }
    }

    fn append(&mut self, line: &str) -> Result<()> {
        let fail = PipelineError::io("writing", &self.journal_path);
        if let Some(file) = &mut self.journal {
            // One write per line, so a crash cuts at most the last one.
            file.write_all(format!("{line}\n").as_bytes())
                .map_err(fail)?;
        }
        Ok(())
    }
}

impl ExplainSink for JsonSummary {
    fn begin(&mut self, run: &RunInfo) -> Result<()> {
        // A fresh journal: a resumed run records the entries it keeps again.
        let file = std::fs::File::create(&self.journal_path)
            .map_err(PipelineError::io("writing", &self.journal_path))?;
        self.journal = Some(file);
        let header = serde_json::to_string(&RunHeader::of(run)).expect("a header serialises");
        self.append(&header)
    }

    fn recorded(&mut self, entry: &ImageSummary, _position: usize, _resumed: bool) -> Result<()> {
        let line = serde_json::to_string(entry).expect("an entry serialises");
        self.append(&line)
    }

    fn finish(&mut self, summary: &RunSummary) -> Result<Vec<WrittenFile>> {
        crate::write::atomically(&self.path, format!("{}\n", summary.to_json()).as_bytes())?;
        // The summary holds everything the journal did.
        self.journal = None;
        std::fs::remove_file(&self.journal_path)
            .map_err(PipelineError::io("removing", &self.journal_path))?;
        Ok(vec![WrittenFile::new(&self.path, FileRole::Summary)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header of a Grad-CAM run of the default model at its default layer.
    fn header() -> RunHeader {
        RunHeader {
            model: "efficientnet-lite0".into(),
            weights: "pretrained".into(),
            layers: vec!["features".into()],
            methods: vec!["gradcam".into()],
            target: "auto".into(),
            aug_smooth: false,
            eigen_smooth: false,
        }
    }

    /// An entry of a run that recorded raw arrays but not their signed twins (before
    /// `other_files`): resuming records the `.signed.npy` and keeps the entry only while it
    /// is there.
    #[test]
    fn resuming_an_older_run_checks_its_signed_arrays() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let header = RunHeader {
            model: "m".into(),
            weights: "w".into(),
            ..header()
        };
        let file = |name: &str| whycam_data::shown_path(&out.join(name)).into_owned();
        for name in [
            "cat.gradcam.png",
            "cat.gradcam.npy",
            "cat.gradcam.signed.npy",
        ] {
            std::fs::write(out.join(name), b"x").unwrap();
        }
        let class = serde_json::json!({"index": 0, "label": "cat", "probability": 1.0});
        let older = serde_json::json!({
            "model": "m", "weights": "w", "layers": ["features"], "methods": ["gradcam"],
            "target": "auto", "aug_smooth": false, "eigen_smooth": false, "errors": [],
            "images": [{
                "image": "cat.png", "prediction": class, "top": [class],
                "explanations": [{
                    "target": {"index": 0, "label": "cat", "score": 1.0, "probability": 1.0},
                    "method": "gradcam", "layers": ["features"],
                    "files": [file("cat.gradcam.png"), file("cat.gradcam.npy")]
                }]
            }]
        });
        std::fs::write(out.join(JsonSummary::FILE), older.to_string()).unwrap();
        let entries = previous_run(out, &header).unwrap();
        let explanation = &entries["cat.png"].explanations[0];
        assert_eq!(explanation.roles, [FileRole::Overlay, FileRole::Raw]);
        assert_eq!(
            explanation.other_files,
            [RecordedFile {
                file: file("cat.gradcam.signed.npy"),
                role: FileRole::SignedRaw
            }]
        );
        assert_eq!(
            explanation.file(FileRole::SignedRaw),
            Some(file("cat.gradcam.signed.npy").as_str())
        );
        // Without its signed array the entry is not complete: explained again.
        std::fs::remove_file(out.join("cat.gradcam.signed.npy")).unwrap();
        assert!(previous_run(out, &header).unwrap().is_empty());
    }

    #[test]
    fn a_resume_refusal_names_only_the_settings_that_differ() {
        let earlier = header();
        let now = RunHeader {
            layers: vec!["_blocks.10".into()],
            methods: vec!["gradcam".into(), "layercam".into()],
            ..earlier.clone()
        };
        let message = now.mismatch(&earlier, Path::new("out")).to_string();
        assert!(
            message.contains(
                "(layers features, methods gradcam); this run has layers \
                              _blocks.10, methods gradcam,layercam"
            ),
            "{message}"
        );
        assert!(
            !message.contains("efficientnet") && !message.contains("RunHeader"),
            "{message}"
        );
    }
}
