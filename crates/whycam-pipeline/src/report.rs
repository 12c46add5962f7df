//! The HTML report: one self-contained page for an explain run, written by [`Report`] at the
//! end of a run or by [`write`] from a run's directory.
//!
//! Everything the page shows is inside the file: the pictures as JPEG data URIs (a small
//! thumbnail for the list, a larger one for the detail view), the data as JSON, the style and
//! the script. It makes no request, so it opens offline and can be mailed around. The list
//! builds its rows from the data and only gives a row its pictures when it scrolls near the
//! screen, so a run of a thousand images stays quick.
//!
//! The page is safe to share: every value from the outside world (file names, labels, true
//! labels, URLs, error messages) is data, escaped for where it lands ([`whycam_render::html`]):
//! HTML text in the title, JSON in the data block (no `<` at all), relative percent-encoded
//! links, and the script shows it only as text. A Content-Security-Policy allows the page's own
//! script and style by hash, data: images, and nothing else: no remote load, no inline handler.

use crate::error::{PipelineError, Result};
use crate::explain::sink::{ExplainSink, FileRole, WrittenFile};
use crate::explain::summary::{ClassProbability, RunSummary, locate};
use base64::Engine;
use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use whycam_data::DecodeLimits;
use whycam_render::html;

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
/// whose files are in `dir`, reading the input pictures within the run's own `limits`.
pub struct Report {
    pub dir: PathBuf,
    pub page: PathBuf,
    pub limits: DecodeLimits,
}

impl ExplainSink for Report {
    fn finish(&mut self, summary: &RunSummary) -> Result<Vec<WrittenFile>> {
        write_summary(summary, &self.dir, &self.page, &self.limits)?;
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
    /// From `evaluation.json` beside the run's summary, when `whycam evaluate` wrote one.
    #[serde(skip_serializing_if = "Option::is_none")]
    faithfulness: Option<Faithfulness>,
}

/// The "Faithfulness" section: per metric, each method's mean and 95% interval, and the
/// mean deletion and insertion curves.
#[derive(Debug, Serialize)]
struct Faithfulness {
    images: usize,
    metrics: Vec<FaithfulnessMetric>,
    curves: Vec<Picture>,
}

#[derive(Debug, Serialize)]
struct FaithfulnessMetric {
    metric: &'static str,
    higher_is_better: bool,
    methods: Vec<(String, crate::evaluate::Summary)>,
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

/// Reads `dir/explanations.json` and the pictures it names (within the default limits),
/// writes the page to `out`.
pub fn write(dir: &Path, out: &Path) -> Result<PathBuf> {
    let summary = RunSummary::read(dir)?;
    if summary.images.is_empty() && summary.errors.is_empty() {
        return Err(PipelineError::EmptyRun {
            path: dir.join(crate::explain::summary::JsonSummary::FILE),
        });
    }
    write_summary(&summary, dir, out, &DecodeLimits::default())?;
    Ok(out.to_path_buf())
}

/// Writes the page of `summary`, whose files are in `dir`, to `out`, reading its pictures
/// within `limits`. An input the run took with warnings (a truncated JPEG under
/// `--allow-truncated`) is read as leniently as the run read it.
pub fn write_summary(
    summary: &RunSummary,
    dir: &Path,
    out: &Path,
    limits: &DecodeLimits,
) -> Result<()> {
    let lenient = DecodeLimits {
        allow_truncated: true,
        ..*limits
    };
    let sizes = Sizes::for_run(summary.images.len());
    let page_dir = out.parent().unwrap_or(Path::new("."));
    let images: Vec<PageImage> = summary
        .images
        .par_iter()
        .map(|image| {
            let mut missing = Vec::new();
            let mut read = |file: &str, thumb: Option<u32>, full: u32, limits: &DecodeLimits| {
                let picture = picture(dir, file, thumb, full, sizes.quality, limits);
                if picture.is_none() {
                    missing.push(file.to_string());
                }
                picture
            };
            let original_file = image.original.as_deref().unwrap_or(&image.image);
            let original_limits = if image.warnings.is_empty() {
                limits
            } else {
                &lenient
            };
            let original = read(original_file, sizes.thumb, sizes.detail, original_limits);
            // whycam's own pictures are read within the run's limits.
            let mut load = |file: &str, thumb, full| read(file, thumb, full, limits);
            let maps = image
                .explanations
                .iter()
                .map(|e| {
                    let overlay = e
                        .file(FileRole::Overlay)
                        .and_then(|f| load(f, sizes.thumb, sizes.detail));
                    let signed = e
                        .file(FileRole::Signed)
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
                let mut links = Vec::new();
                for file in &image.figures {
                    match relative_link(dir, page_dir, file) {
                        Some(link) => links.push(link),
                        None => missing.push(file.clone()),
                    }
                }
                (Vec::new(), links)
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
        .filter_map(|g| picture(dir, g, Some(THUMB), FIGURE, 82, limits))
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
        faithfulness: faithfulness(dir, limits),
    };
    crate::write::atomically(out, render_page(&data).as_bytes())
}

/// The faithfulness section from `dir/evaluation.json`; `None` without one (or with one
/// that cannot be read: the report is still written).
fn faithfulness(dir: &Path, limits: &DecodeLimits) -> Option<Faithfulness> {
    use crate::evaluate::{EVALUATION_FILE, Metric, Summary};
    let text = std::fs::read_to_string(dir.join(EVALUATION_FILE)).ok()?;
    #[derive(serde::Deserialize)]
    struct Saved {
        intervals: std::collections::BTreeMap<String, std::collections::BTreeMap<String, Summary>>,
        images: Vec<serde::de::IgnoredAny>,
    }
    let saved: Saved = serde_json::from_str(&text).ok()?;
    let metrics = Metric::ALL
        .into_iter()
        .filter_map(|metric| {
            let methods: Vec<(String, Summary)> = saved
                .intervals
                .iter()
                .filter_map(|(method, s)| Some((method.clone(), *s.get(metric.id())?)))
                .collect();
            (!methods.is_empty()).then(|| FaithfulnessMetric {
                metric: metric.id(),
                higher_is_better: metric.higher_is_better(),
                methods,
            })
        })
        .collect();
    let curves = ["deletion.png", "insertion.png"]
        .into_iter()
        .filter_map(|name| picture(dir, name, None, FIGURE, 82, limits))
        .collect();
    Some(Faithfulness {
        images: saved.images.len(),
        metrics,
        curves,
    })
}

/// The page with its data inlined: the title as HTML text, the data as JSON without a `<`,
/// `>`, `&` or line separator (so nothing in it can end or derail the script element), and
/// the Content-Security-Policy. The template is filled in one pass, so a value that looks like
/// a placeholder stays text.
fn render_page(data: &PageData) -> String {
    let json = serde_json::to_string(data).expect("page data serialises");
    fill(
        PAGE,
        &[
            ("{{CSP}}", &html::escape_text(content_security_policy())),
            ("{{TITLE}}", &html::escape_text(&data.title)),
            ("{{DATA}}", &html::json_in_script(&json)),
        ],
    )
}

/// `template` with each `{{NAME}}` of `values` replaced; replacements are not searched again.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    while let Some(at) = rest.find("{{") {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match values.iter().find(|(name, _)| rest.starts_with(name)) {
            Some((name, value)) => {
                out.push_str(value);
                rest = &rest[name.len()..];
            }
            None => {
                out.push_str("{{");
                rest = &rest[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text between the first `open` tag of the page and the following `close` tag.
fn element_text(open: &str, close: &str) -> &'static str {
    let start = PAGE.find(open).expect("the page template has the element") + open.len();
    let end = start + PAGE[start..].find(close).expect("the element is closed");
    &PAGE[start..end]
}

/// The page's policy: nothing from anywhere (`default-src 'none'`) but its own inline script
/// and style, named by their SHA-256 (so no other script, inline handler or `javascript:` URL
/// runs), and data: images. Computed once from the template.
fn content_security_policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        let script = html::csp_hash(element_text("<script>", "</script>"));
        let style = html::csp_hash(element_text("<style>", "</style>"));
        format!(
            "default-src 'none'; script-src {script}; style-src {style}; img-src data:; \
             base-uri 'none'; form-action 'none'"
        )
    })
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

/// `file` as a link from the page in `page_dir`: a relative, percent-encoded URL (`./name`,
/// `../out/name`), never an absolute path or another scheme whatever the file is called;
/// `None` when the file cannot be found.
fn relative_link(dir: &Path, page_dir: &Path, file: &str) -> Option<String> {
    let target = locate(dir, file)?.canonicalize().ok()?;
    let page_dir = if page_dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        page_dir
    };
    let from = page_dir.canonicalize().ok()?;
    html::relative_file_url(&relative_path(&from, &target))
}

/// The path from directory `from` to `to`, both absolute: `..` up to their common ancestor,
/// then down.
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path: PathBuf = from[common..]
        .iter()
        .map(|_| Component::ParentDir)
        .collect();
    path.extend(&to[common..]);
    path
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
    use crate::explain::summary::ExplanationSummary;

    /// Names that would run a script, or break the page, if they were not escaped.
    const HOSTILE: [&str; 7] = [
        "<!--<script>document.title='PWNED'",
        "x</script><script>document.title='PWNED'</script>",
        "\"><img src=x onerror=\"document.title='PWNED'\">",
        "' onmouseover='document.title=1",
        "javascript:document.title='PWNED'",
        "line\u{2028}para\u{2029}&amp;{{DATA}}",
        "</SCRIPT ><!-- -->",
    ];

    fn hostile(i: usize) -> String {
        HOSTILE[i % HOSTILE.len()].to_string()
    }

    fn class(i: usize) -> PageClass {
        PageClass {
            label: hostile(i),
            index: i,
            probability: 0.5,
        }
    }

    fn picture(i: usize) -> Picture {
        Picture {
            name: hostile(i),
            thumb: None,
            full: "data:image/jpeg;base64,AAAA".into(),
        }
    }

    /// A page whose every string comes from the outside world and is hostile.
    fn hostile_page() -> PageData {
        PageData {
            title: format!("whycam: {} on {}", hostile(0), hostile(5)),
            model: hostile(1),
            weights: hostile(2),
            layers: vec![hostile(3)],
            methods: vec![hostile(4)],
            images: (0..HOSTILE.len())
                .map(|i| PageImage {
                    name: hostile(i),
                    prediction: class(i + 1),
                    top: vec![class(i + 2), class(i + 3)],
                    truth: Some(hostile(i + 4)),
                    correct: Some(false),
                    original: Some(picture(i)),
                    maps: vec![PageMap {
                        method: hostile(i),
                        target: hostile(i + 1),
                        probability: 0.5,
                        layers: hostile(i + 2),
                        overlay: Some(picture(i + 3)),
                        signed: None,
                    }],
                    figures: vec![picture(i + 4)],
                    figure_links: vec![hostile(i + 5)],
                    missing: vec![hostile(i + 6)],
                })
                .collect(),
            grids: vec![picture(6)],
            errors: HOSTILE
                .iter()
                .map(|h| PageError {
                    image: h.to_string(),
                    error: format!("cannot decode {h}: not an image"),
                })
                .collect(),
            faithfulness: Some(Faithfulness {
                images: 1,
                metrics: vec![FaithfulnessMetric {
                    metric: "avg-drop",
                    higher_is_better: false,
                    methods: vec![(
                        hostile(7),
                        crate::evaluate::Summary {
                            mean: 0.5,
                            low: 0.25,
                            high: 0.75,
                            images: 1,
                        },
                    )],
                }],
                curves: vec![picture(8)],
            }),
        }
    }

    /// The text of the data block, as the page's script reads it.
    fn data_block(page: &str) -> &str {
        let open = "<script type=\"application/json\" id=\"data\">";
        let start = page.find(open).unwrap() + open.len();
        &page[start..start + page[start..].find("</script>").unwrap()]
    }

    #[test]
    fn hostile_values_stay_data_in_every_context() {
        let data = hostile_page();
        let page = render_page(&data);
        // No tag or comment comes from the data: only the template's.
        for needle in ["<script", "</script", "<!--", "<img", "<title", "<meta"] {
            assert_eq!(
                page.to_lowercase().matches(needle).count(),
                PAGE.to_lowercase().matches(needle).count(),
                "{needle}"
            );
        }
        let block = data_block(&page);
        for c in ['<', '>', '&', '\u{2028}', '\u{2029}'] {
            assert!(!block.contains(c), "{c:?} in the data block");
        }
        // The escapes change the text, not the value the script reads.
        let read: serde_json::Value = serde_json::from_str(block).unwrap();
        assert_eq!(read, serde_json::to_value(&data).unwrap());
        // The title is HTML text; a value that looks like a placeholder stays as it is.
        assert!(page.contains(
            "<title>whycam: &lt;!--&lt;script&gt;document.title=&#39;PWNED&#39; on \
             line\u{2028}para\u{2029}&amp;amp;{{DATA}}</title>"
        ));
        assert_eq!(
            page.matches("\"grids\":").count(),
            1,
            "the data is inlined once"
        );
    }

    /// The content of the page's Content-Security-Policy meta tag, unescaped.
    fn policy(page: &str) -> String {
        let open = "<meta http-equiv=\"Content-Security-Policy\" content=\"";
        let start = page.find(open).expect("a CSP meta tag") + open.len();
        page[start..start + page[start..].find('"').unwrap()].replace("&#39;", "'")
    }

    #[test]
    fn the_policy_allows_the_page_script_and_style_and_nothing_else() {
        let page = render_page(&hostile_page());
        let policy = policy(&page);
        let text = |open: &str, close: &str| {
            let start = page.find(open).unwrap() + open.len();
            page[start..start + page[start..].find(close).unwrap()].to_string()
        };
        let script = html::csp_hash(&text("<script>", "</script>"));
        let style = html::csp_hash(&text("<style>", "</style>"));
        assert_eq!(
            policy,
            format!(
                "default-src 'none'; script-src {script}; style-src {style}; img-src data:; \
                 base-uri 'none'; form-action 'none'"
            )
        );
        // Before anything it governs.
        let meta = page.find("Content-Security-Policy").unwrap();
        assert!(meta < page.find("<style>").unwrap() && meta < page.find("<script").unwrap());
    }

    #[test]
    fn figure_links_are_relative_files_never_schemes() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let deeper = tmp.path().join("pages/deeper");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir_all(&deeper).unwrap();
        let names = [
            (
                "javascript:alert(1).cat.gradcam.figure.png",
                "javascript%3Aalert%281%29.cat.gradcam.figure.png",
            ),
            (
                "\"onerror=\"alert(1).png",
                "%22onerror%3D%22alert%281%29.png",
            ),
            ("<!--<script>a#b?c.png", "%3C%21--%3Cscript%3Ea%23b%3Fc.png"),
        ];
        for (name, encoded) in names {
            std::fs::write(out.join(name), b"png").unwrap();
            let recorded = out.join(name).display().to_string();
            let link = |page_dir: &Path| relative_link(&out, page_dir, &recorded).unwrap();
            assert_eq!(link(&out), format!("./{encoded}"));
            assert_eq!(link(tmp.path()), format!("./out/{encoded}"));
            assert_eq!(link(&deeper), format!("../../out/{encoded}"));
            // Recorded by its bare name (the run was moved): found in the run's directory.
            assert_eq!(
                relative_link(&out, &out, name).unwrap(),
                format!("./{encoded}")
            );
        }
        assert_eq!(relative_link(&out, &out, "javascript:alert(1)"), None);
    }

    /// Above LARGE_RUN images figures are linked: the links of a whole written page.
    #[test]
    fn a_large_run_links_figures_relatively() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let figure = dir.join("javascript:alert(1).gradcam.figure.png");
        std::fs::write(&figure, b"png").unwrap();
        let image = |i: usize| {
            serde_json::json!({
                "image": format!("{}-{i}.png", HOSTILE[i % HOSTILE.len()]),
                "prediction": { "index": 0, "label": "cat", "probability": 0.9 },
                "top": [],
                "explanations": [],
                "figures": [figure.display().to_string(), "javascript:alert(2).png"],
            })
        };
        let summary: RunSummary = serde_json::from_value(serde_json::json!({
            "model": "m", "weights": "w", "layers": [], "methods": [], "target": "top",
            "aug_smooth": false, "eigen_smooth": false,
            "images": (0..=LARGE_RUN).map(image).collect::<Vec<_>>(),
            "errors": [],
        }))
        .unwrap();
        let out = dir.join("report.html");
        write_summary(&summary, dir, &out, &DecodeLimits::default()).unwrap();
        let page = std::fs::read_to_string(&out).unwrap();
        let data: serde_json::Value = serde_json::from_str(data_block(&page)).unwrap();
        let images = data["images"].as_array().unwrap();
        assert_eq!(images.len(), LARGE_RUN + 1);
        for image in images {
            assert_eq!(
                image["figure_links"],
                serde_json::json!(["./javascript%3Aalert%281%29.gradcam.figure.png"])
            );
            // The figure that is not there is reported missing, not linked.
            assert!(
                image["missing"]
                    .as_array()
                    .unwrap()
                    .contains(&serde_json::json!("javascript:alert(2).png"))
            );
        }
    }

    /// The report shows the files recorded as the overlay and the signed map; in a summary
    /// written before roles were recorded, the overlay is the plain PNG (not the signed map,
    /// not the raw .npy).
    #[test]
    fn overlays_are_the_files_recorded_as_overlays_or_the_plain_pngs() {
        let explanation = |files: &[&str], roles: Vec<FileRole>| ExplanationSummary {
            target: crate::explain::summary::TargetSummary {
                index: Some(0),
                label: "cat".into(),
                score: 1.0,
                probability: 1.0,
            },
            method: "gradcam".into(),
            layers: vec!["features".into()],
            files: files.iter().map(|f| f.to_string()).collect(),
            roles,
            other_files: Vec::new(),
        };
        let unrecorded = explanation(
            &[
                "out/cat.gradcam.npy",
                "out/cat.gradcam.signed.png",
                "out/cat.gradcam.png",
            ],
            Vec::new(),
        );
        assert_eq!(
            unrecorded.file(FileRole::Overlay),
            Some("out/cat.gradcam.png")
        );
        assert_eq!(
            unrecorded.file(FileRole::Signed),
            Some("out/cat.gradcam.signed.png")
        );
        assert_eq!(unrecorded.file(FileRole::Raw), Some("out/cat.gradcam.npy"));
        // Recorded roles, not names, decide.
        let recorded = explanation(
            &["out/a.png", "out/b.png"],
            vec![FileRole::Signed, FileRole::Overlay],
        );
        assert_eq!(recorded.file(FileRole::Overlay), Some("out/b.png"));
        assert_eq!(recorded.file(FileRole::Signed), Some("out/a.png"));
        assert_eq!(recorded.file(FileRole::Raw), None);
    }
}
