//! The one trait between the explain run and what it writes (ripgrep's `Sink`): the run
//! calls [`ExplainSink::begin`] once, [`ExplainSink::image`] for each explained image (every
//! sink of a run in parallel), [`ExplainSink::recorded`] once the image's entry is complete
//! (or taken over from the run it resumes), [`ExplainSink::error`] for each input that failed
//! and [`ExplainSink::finish`] once with the summary. Overlays, raw arrays, signed maps, figures,
//! contact sheets, `explanations.json` and the HTML report are sinks; a front end adds its
//! own (a progress bar, a web response).

use super::summary::{ClassProbability, ImageSummary, RunSummary, TargetSummary, Truth};
use crate::error::{InputError, Result};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use whycam_cam::{Method, Plane};
use whycam_data::{CropRegion, RgbImage, Source};

/// What a run is about, told to each sink before the first image.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The model's name and where its weights came from.
    pub model: String,
    pub weights: String,
    /// The target layers, as the user named them or by default.
    pub layers: Vec<String>,
    /// The methods, in the order each image's maps come.
    pub methods: Vec<Method>,
    /// What is explained (`auto`, a class, a group), as given.
    pub target: String,
    pub aug_smooth: bool,
    pub eigen_smooth: bool,
    /// How many inputs the run was given (including those already known to fail).
    pub inputs: usize,
}

/// One explained image, handed to every sink.
pub struct ExplainedImage<'a> {
    /// Where it came from.
    pub source: &'a Source,
    /// Its place among the run's inputs (results come in input order, but a resumed run
    /// records its earlier images first).
    pub position: usize,
    /// The stem of its files' names, unique in the run (`cat`, `cat-2`), byte for byte as
    /// the input's own (see [`whycam_data::shown_name`] for showing it).
    pub stem: &'a OsStr,
    /// The image as decoded.
    pub original: &'a RgbImage,
    /// The part of it the network saw.
    pub region: &'a CropRegion,
    /// The predicted class and the five best.
    pub prediction: ClassProbability,
    pub top: Vec<ClassProbability>,
    /// The true class, when known.
    pub truth: Option<Truth>,
    /// What the decoder let through (a truncated JPEG allowed).
    pub warnings: &'a [String],
    /// Its maps: for each target, one per method.
    pub maps: Vec<ExplainedMap<'a>>,
}

/// One map of one image: a target, a method.
pub struct ExplainedMap<'a> {
    pub method: Method,
    pub target: TargetSummary,
    /// The map in `[0, 1]` at the target layer's resolution.
    pub map: &'a Plane,
    /// Per target layer, the map before ReLU and scaling.
    pub signed: &'a [Plane],
    /// The heatmap drawn over the original image.
    pub overlay: RgbImage,
    /// `<stem>.<method>`, with `.<class>` when an image has several targets: the start of
    /// this map's file names.
    pub name: OsString,
}

impl ExplainedMap<'_> {
    /// `dir/<name>.<ext>`.
    pub fn path(&self, dir: &Path, ext: &str) -> PathBuf {
        dir.join(with_suffix(&self.name, &format!(".{ext}")))
    }
}

/// `name` followed by `suffix`: a file name that keeps `name`'s bytes even where they are
/// not UTF-8.
pub fn with_suffix(name: &OsStr, suffix: &str) -> OsString {
    let mut out = name.to_os_string();
    out.push(suffix);
    out
}

/// What a written file is; `explanations.json` records it beside each map's files
/// (`"overlay"`, `"raw"`, `"signed"`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FileRole {
    /// A heatmap over the image (PNG).
    Overlay,
    /// A map as float32 `.npy`.
    Raw,
    /// A map before ReLU and scaling as float32 `.npy`.
    SignedRaw,
    /// A signed map in blue-white-red with a colour bar (PNG).
    Signed,
    /// A titled figure: the image beside its heatmaps.
    Figure,
    /// A contact sheet of many images.
    Grid,
    /// A copy of a downloaded input.
    Original,
    /// `explanations.json`.
    Summary,
    /// The HTML report.
    Report,
    /// A role this version does not know (a summary written by a newer whycam), so that such
    /// a summary still reads and resumes.
    #[serde(other)]
    Other,
}

/// A file a sink wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    pub path: PathBuf,
    pub role: FileRole,
    /// The index into [`ExplainedImage::maps`] of the map it shows, for per-map files.
    pub map: Option<usize>,
}

impl WrittenFile {
    /// A file of the whole image or run.
    pub fn new(path: impl Into<PathBuf>, role: FileRole) -> Self {
        WrittenFile {
            path: path.into(),
            role,
            map: None,
        }
    }

    /// A file of map `index`.
    pub fn of_map(path: impl Into<PathBuf>, role: FileRole, index: usize) -> Self {
        WrittenFile {
            path: path.into(),
            role,
            map: Some(index),
        }
    }
}

/// Where explanations go. Every method has a default that does nothing.
pub trait ExplainSink: Send {
    /// Called once before the first image.
    fn begin(&mut self, _run: &RunInfo) -> Result<()> {
        Ok(())
    }

    /// Writes what this sink makes of one image; returns the files written. An error fails
    /// this image (recorded as its error), not the run.
    fn image(&mut self, _image: &ExplainedImage<'_>) -> Result<Vec<WrittenFile>> {
        Ok(Vec::new())
    }

    /// An image's summary entry is complete: its files are all written, now or (`resumed`)
    /// by the run this one resumes, at input `position`. An error fails this image.
    fn recorded(&mut self, _entry: &ImageSummary, _position: usize, _resumed: bool) -> Result<()> {
        Ok(())
    }

    /// One input could not be explained.
    fn error(&mut self, _error: &InputError) {}

    /// Called once at the end with the run's summary, which holds the files of the sinks
    /// before this one; returns the files written. An error fails the run.
    fn finish(&mut self, _summary: &RunSummary) -> Result<Vec<WrittenFile>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::FileRole;

    #[test]
    fn roles_read_back_and_unknown_ones_do_not_break_a_summary() {
        let known: Vec<FileRole> =
            serde_json::from_str(r#"["overlay", "raw", "signed-raw", "signed", "grid"]"#).unwrap();
        assert_eq!(
            known,
            [
                FileRole::Overlay,
                FileRole::Raw,
                FileRole::SignedRaw,
                FileRole::Signed,
                FileRole::Grid
            ]
        );
        assert_eq!(
            serde_json::to_string(&FileRole::SignedRaw).unwrap(),
            r#""signed-raw""#
        );
        // A role from a newer whycam.
        let later: Vec<FileRole> = serde_json::from_str(r#"["overlay", "heatmap-3d"]"#).unwrap();
        assert_eq!(later, [FileRole::Overlay, FileRole::Other]);
    }
}
