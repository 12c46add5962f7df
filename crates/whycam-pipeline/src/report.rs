//! The HTML report: one self-contained page for an explain run, written by [`Report`] at the
//! end of a run or by [`write`] from a run's directory.
//!
//! Everything the page shows is inside the file: the pictures as JPEG data URIs (a small
//! thumbnail for the list, a larger one for the detail view), the data as JSON, the style and
//! the script. It makes no request, so it opens offline and can be mailed around. The list
//! builds its rows from the data and only gives a row its pictures when it scrolls near the
//! screen, so a run of a thousand images stays quick.

use crate::error::{PipelineError, Result};
use crate::explain::sink::{ExplainSink, FileRole, WrittenFile};
use crate::explain::summary::{ClassProbability, RunSummary};
use base64::Engine;
use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};
use whycam_data::DecodeLimits;

static PAGE: &str = include_str!("report.html");

/// Thumbnails in the list: longest side in pixels.
const THUMB: u32 = 160;
/// Pictures in the detail view.
const DETAIL: u32 = 448;
/// Figures and contact sheets.
const FIGURE: u32 = 1200;
/// Above this many images a picture is stored once, at [`COMPACT`] pixels, for both the list
/// and the detail view, and figures are linked rather than inlined: 1,000 images with two
/// methods and figures make a page of tens of megabytes instead of 500.
const LARGE_RUN: usize = 200;
const COMPACT: u32 = 320;

/// How big the pictures of one page are.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    /// Thumbnail side, or `None` to show the detail picture in the list too.
    thumb: Option<u32>,
    detail: u32,
    quality: u8,
    /// Inline the titled figures (else link the files).
    inline_figures: bool,
}

impl Sizes {
    fn for_run(images: usize) -> Self {
        if images > LARGE_RUN {
            Sizes {
                thumb: None,
                detail: COMPACT,
                quality: 72,
                inline_figures: false,
            }
        } else {
            Sizes {
                thumb: Some(THUMB),
                detail: DETAIL,
                quality: 82,
                inline_figures: true,
            }
        }
    }
}

/// Writes the report of the run at its end: `page` (e.g. `DIR/report.html`) for the run
/// whose files are in `dir`.
pub struct Report {
    pub dir: PathBuf,
    pub page: PathBuf,
}

impl ExplainSink for Report {
    fn finish(&mut self, summary: &RunSummary) -> Result<Vec<WrittenFile>> {
        write_summary(summary, &self.dir, &self.page)?;
        Ok(vec![WrittenFile::new(&self.page, FileRole::Report)])
    }
}

/// The page's data.
#[derive(Debug, Serialize)]
struct PageData {
    title: String,
    model: String,
    weights: String,
    layers: Vec<String>,
    methods: Vec<String>,
    images: Vec<PageImage>,
    grids: Vec<Picture>,
    errors: Vec<PageError>,
}

#[derive(Debug, Serialize)]
struct PageImage {
    name: String,
    prediction: PageClass,
    top: Vec<PageClass>,
    truth: Option<String>,
    correct: Option<bool>,
    original: Option<Picture>,
    maps: Vec<PageMap>,
    figures: Vec<Picture>,
    /// Figures too many to inline: their paths relative to the page.
    figure_links: Vec<String>,
    /// Pictures that could not be read (moved or deleted since the run).
    missing: Vec<String>,
}

#[derive(Debug, Serialize)]
struct PageClass {
    label: String,
    index: usize,
    probability: f32,
}

#[derive(Debug, Serialize)]
struct PageMap {
    method: String,
    target: String,
    probability: f32,
    layers: String,
    overlay: Option<Picture>,
    signed: Option<Picture>,
}

#[derive(Debug, Serialize)]
struct PageError {
    image: String,
    error: String,
}

/// A picture as data URIs: `thumb` for the list (absent: use `full`), `full` for the detail
/// view.
#[derive(Debug, Serialize)]
struct Picture {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumb: Option<String>,
    full: String,
}

/// Reads `dir/explanations.json` and the pictures it names, writes the page to `out`.
pub fn write(dir: &Path, out: &Path) -> Result<PathBuf> {
    let summary = RunSummary::read(dir)?;
    if summary.images.is_empty() && summary.errors.is_empty() {
        return Err(PipelineError::EmptyRun {
            path: dir.join(crate::explain::summary::JsonSummary::FILE),
        });
    }
    write_summary(&summary, dir, out)?;
    Ok(out.to_path_buf())
}

/// Writes the page of `summary`, whose files are in `dir`, to `out`.
pub fn write_summary(summary: &RunSummary, dir: &Path, out: &Path) -> Result<()> {
    let limits = DecodeLimits::default();
    let sizes = Sizes::for_run(summary.images.len());
    let page_dir = out.parent().unwrap_or(Path::new("."));
    let images: Vec<PageImage> = summary
        .images
        .par_iter()
        .map(|image| {
            let mut missing = Vec::new();
            let mut load = |file: &str, thumb: Option<u32>, full: u32| {
                let picture = picture(dir, file, thumb, full, sizes.quality, &limits);
                if picture.is_none() {
                    missing.push(file.to_string());
                }
                picture
            };
            let original_file = image.original.as_deref().unwrap_or(&image.image);
            let original = load(original_file, sizes.thumb, sizes.detail);
            let maps = image
                .explanations
                .iter()
                .map(|e| {
                    let overlay = e
                        .files
                        .iter()
                        .find(|f| is_overlay(f))
                        .and_then(|f| load(f, sizes.thumb, sizes.detail));
                    let signed = e
                        .files
                        .iter()
                        .find(|f| f.ends_with(".signed.png"))
                        .and_then(|f| load(f, None, sizes.detail));
                    PageMap {
                        method: e.method.clone(),
                        target: e.target.label.clone(),
                        probability: e.target.probability,
                        layers: e.layers.join(" + "),
                        overlay,
                        signed,
                    }
                })
                .collect();
            let (figures, figure_links) = if sizes.inline_figures {
                let inlined = image.figures.iter().filter_map(|f| load(f, None, FIGURE));
                (inlined.collect(), Vec::new())
            } else {
                let links = image
                    .figures
                    .iter()
                    .map(|f| relative_link(dir, page_dir, f));
                (Vec::new(), links.collect())
            };
            let class = |c: &ClassProbability| PageClass {
                label: c.label.clone(),
                index: c.index,
                probability: c.probability,
            };
            PageImage {
                name: image.image.clone(),
                prediction: class(&image.prediction),
                top: image.top.iter().map(class).collect(),
                truth: image.truth.as_ref().map(|t| t.label.clone()),
                correct: image.truth.as_ref().map(|t| t.correct),
                original,
                maps,
                figures,
                figure_links,
                missing,
            }
        })
        .collect();
    let grids = summary
        .grids
        .par_iter()
        .filter_map(|g| picture(dir, g, Some(THUMB), FIGURE, 82, &limits))
        .collect();
    let data = PageData {
        title: format!(
            "whycam: {} on {}",
            summary.methods.join(", "),
            summary.model
        ),
        model: summary.model.clone(),
        weights: summary.weights.clone(),
        layers: summary.layers.clone(),
        methods: summary.methods.clone(),
        images,
        grids,
        errors: summary
            .errors
            .iter()
            .map(|e| PageError {
                image: e.image.clone(),
                error: e.error.clone(),
            })
            .collect(),
    };
    crate::write::atomically(out, render_page(&data).as_bytes())
}

/// The page with its data inlined. `</` is escaped so no string can close the script element.
fn render_page(data: &PageData) -> String {
    let json = serde_json::to_string(data)
        .expect("page data serialises")
        .replace("</", "<\\/");
    let title = html_escape(&data.title);
    PAGE.replace("{{TITLE}}", &title).replace("{{DATA}}", &json)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The heatmap overlay among an explanation's files (not the signed map, not the raw .npy).
fn is_overlay(file: &str) -> bool {
    file.ends_with(".png") && !file.ends_with(".signed.png")
}

/// Where a file the run recorded is now: as recorded, or by its name inside `dir` when the
/// run's directory was moved or the page is built from another working directory.
fn locate(dir: &Path, file: &str) -> Option<PathBuf> {
    let recorded = Path::new(file);
    if recorded.is_file() {
        return Some(recorded.to_path_buf());
    }
    let inside = dir.join(recorded.file_name()?);
    inside.is_file().then_some(inside)
}

/// Loads `file` and encodes it at `full` pixels (and a `thumb`nail when asked); `None` when
/// it cannot be read.
fn picture(
    dir: &Path,
    file: &str,
    thumb: Option<u32>,
    full: u32,
    quality: u8,
    limits: &DecodeLimits,
) -> Option<Picture> {
    let image = whycam_data::load_rgb8(&locate(dir, file)?, limits).ok()?;
    let thumb = match thumb {
        Some(side) => Some(jpeg_data_uri(&image, side, quality.min(75))?),
        None => None,
    };
    Some(Picture {
        name: file.to_string(),
        thumb,
        full: jpeg_data_uri(&image, full, quality)?,
    })
}

/// `file` as a link from the page in `page_dir`: its name when both are in the same
/// directory, else the path as found.
fn relative_link(dir: &Path, page_dir: &Path, file: &str) -> String {
    let Some(path) = locate(dir, file) else {
        return file.to_string();
    };
    let same_dir = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if same_dir(parent, page_dir) => {
            name.to_string_lossy().into_owned()
        }
        _ => path.display().to_string(),
    }
}

fn jpeg_data_uri(image: &RgbImage, max_side: u32, quality: u8) -> Option<String> {
    let scaled = whycam_render::fit_within(image, max_side, max_side);
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(&scaled)
        .ok()?;
    Some(format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_close_the_script_element() {
        let data = PageData {
            title: "<b>".into(),
            model: "m".into(),
            weights: "w".into(),
            layers: vec![],
            methods: vec![],
            images: vec![],
            grids: vec![],
            errors: vec![PageError {
                image: "x</script><script>alert(1)</script>".into(),
                error: "e".into(),
            }],
        };
        let page = render_page(&data);
        assert_eq!(
            page.matches("</script>").count(),
            PAGE.matches("</script>").count()
        );
        assert!(page.contains("<title>&lt;b&gt;</title>"));
    }

    #[test]
    fn overlays_are_the_plain_pngs() {
        assert!(is_overlay("out/cat.gradcam.png"));
        assert!(!is_overlay("out/cat.gradcam.signed.png"));
        assert!(!is_overlay("out/cat.gradcam.npy"));
    }
}
