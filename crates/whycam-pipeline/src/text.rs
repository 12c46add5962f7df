//! The plain-text printer: each run's result as the lines a terminal shows, as ripgrep's
//! `Standard` printer is a library beside its JSON one (here the runs' summaries serialise
//! themselves, e.g. [`explain::summary`](crate::explain::summary)). The command line prints
//! its tables and its training lines through these; another front end that prints for people
//! can call them too, so a line's wording lives here once.
//!
//! Names and labels from the outside world (file names, class labels, layer names) go through
//! [`shown`] first.

use crate::dff::DffSummary;
use crate::embed::{EmbedSummary, ProjectionMethod, init_name};
use crate::evaluate::{EvaluateReport, Metric};
use crate::explain::summary::RunSummary;
use crate::open::LayerRow;
use crate::predict::PredictReport;
use crate::test::TestReport;
use crate::train::TrainPlan;
use std::borrow::Cow;
use std::io::{Result, Write};
use std::path::Path;
use whycam_models::onnx::LayerInfo;
use whycam_models::{Architecture, LayerLayout};
use whycam_train::EpochStats;

/// Text from the outside world (file names, labels, messages that quote them) as it may be
/// shown on a terminal: control characters (an escape sequence in a file name could rewrite
/// the screen) are written as `\u{1b}` escapes; everything else, newlines included, as is.
pub fn shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// The closing line of a run with failures: `"\n{failed} of {total} inputs failed"`.
fn failed_line(out: &mut impl Write, failed: usize, done: usize) -> Result<()> {
    if failed > 0 {
        writeln!(out, "\n{failed} of {} inputs failed", failed + done)?;
    }
    Ok(())
}

/// An explain run: the model, then each image's prediction and its maps' files;
/// `summary_file` is where the summary was written.
pub fn explain(out: &mut impl Write, summary: &RunSummary, summary_file: &Path) -> Result<()> {
    writeln!(
        out,
        "model {} ({}), layer {}, {}",
        shown(&summary.model),
        shown(&summary.weights),
        shown(&summary.layers.join("+")),
        summary.methods.join(", ")
    )?;
    for image in &summary.images {
        writeln!(
            out,
            "\n{}: {} ({:.1}%)",
            shown(&image.image),
            shown(&image.prediction.label),
            100.0 * image.prediction.probability
        )?;
        for e in &image.explanations {
            writeln!(
                out,
                "  {:<20} {:<24} {}",
                e.method,
                shown(&e.target.label),
                shown(&e.files.join(" "))
            )?;
        }
    }
    failed_line(out, summary.errors.len(), summary.images.len())?;
    writeln!(out, "\nsummary: {}", summary_file.display())
}

/// Top-k classes per image.
pub fn predict(out: &mut impl Write, report: &PredictReport) -> Result<()> {
    writeln!(
        out,
        "model {} ({})",
        shown(&report.model),
        shown(&report.weights)
    )?;
    for r in &report.results {
        writeln!(out, "\n{}", shown(&r.image))?;
        for (rank, p) in r.top.iter().enumerate() {
            writeln!(
                out,
                "  {:>2}. {:<32} {:>8.4}%  (class {:>4}, logit {:>8.3})",
                rank + 1,
                shown(&p.label),
                100.0 * p.probability,
                p.index,
                p.logit
            )?;
        }
    }
    failed_line(out, report.errors.len(), report.results.len())
}

/// Deep Feature Factorization: each image's concepts with the classes seen in them;
/// `summary_file` is where the summary was written.
pub fn dff(out: &mut impl Write, summary: &DffSummary, summary_file: &Path) -> Result<()> {
    writeln!(
        out,
        "model {} ({}), layer {}, {} concepts",
        shown(&summary.model),
        shown(&summary.weights),
        shown(&summary.layer),
        summary.concepts
    )?;
    for image in &summary.images {
        writeln!(
            out,
            "\n{}: {} ({:.1}%), {}x{} positions, {} NMF sweeps",
            shown(&image.image),
            shown(&image.prediction.label),
            100.0 * image.prediction.probability,
            image.shape[0],
            image.shape[1],
            image.nmf_iterations
        )?;
        for (j, concept) in image.concept_list.iter().enumerate() {
            let top: Vec<String> = concept
                .top
                .iter()
                .map(|c| format!("{} {:.2}", shown(&c.label), c.probability))
                .collect();
            writeln!(
                out,
                "  concept {} {} {:>5.1}% of the image: {}",
                j + 1,
                concept.colour,
                100.0 * concept.share,
                top.join(" / ")
            )?;
        }
        writeln!(out, "  {}", shown(&image.files.join(" ")))?;
    }
    failed_line(out, summary.errors.len(), summary.images.len())?;
    writeln!(out, "\nsummary: {}", summary_file.display())
}

/// Each metric's mean and interval per method, then the randomisation check.
pub fn evaluate(out: &mut impl Write, report: &EvaluateReport) -> Result<()> {
    writeln!(
        out,
        "model {} ({}), layers {}, {} image(s)",
        shown(&report.model),
        shown(&report.weights),
        report.layers.join(" + "),
        report.images.len()
    )?;
    let metrics = Metric::ALL
        .into_iter()
        .filter(|m| report.intervals.values().any(|v| v.contains_key(m.id())));
    for metric in metrics {
        let better = if metric.higher_is_better() {
            "higher is better"
        } else {
            "lower is better"
        };
        writeln!(out, "\n{} ({better})", metric.id())?;
        for (method, summaries) in &report.intervals {
            if let Some(s) = summaries.get(metric.id()) {
                writeln!(
                    out,
                    "  {method:<16} {:>9.4}  [{:.4}, {:.4}]",
                    s.mean, s.low, s.high
                )?;
            }
        }
    }
    let Some(check) = &report.randomisation else {
        return Ok(());
    };
    writeln!(
        out,
        "\nrandomisation check: {} layer(s) re-initialised from the top; Spearman and SSIM of \
         each map with the trained model's after the last (flagged above {})",
        check.steps.len(),
        check.threshold
    )?;
    for (method, s) in check.steps.last().iter().flat_map(|last| &last.methods) {
        let verdict = if check.flagged.get(method) == Some(&true) {
            "FLAGGED: the map does not depend on the model"
        } else {
            "passed"
        };
        writeln!(
            out,
            "  {method:<16} {:>9.4}  ssim {:.4}  {verdict}",
            s.spearman, s.ssim
        )?;
    }
    Ok(())
}

/// Accuracy, per-class accuracy and the confusion matrix.
pub fn test(out: &mut impl Write, r: &TestReport) -> Result<()> {
    writeln!(
        out,
        "{}: accuracy {:.2}% on {} images (loss {:.4})",
        shown(&r.data),
        r.accuracy * 100.0,
        r.images,
        r.loss
    )?;
    let labels: Vec<Cow<str>> = r.labels.iter().map(|l| shown(l)).collect();
    let width = labels.iter().map(|l| l.len()).max().unwrap_or(5).max(5);
    writeln!(out, "\nper class:")?;
    for (c, label) in r.per_class.iter().zip(&labels) {
        let accuracy = c
            .accuracy
            .map_or("-".to_string(), |a| format!("{:.2}%", a * 100.0));
        writeln!(
            out,
            "  {label:<width$}  {accuracy:>8}  ({}/{})",
            c.correct, c.images
        )?;
    }
    writeln!(
        out,
        "\nconfusion matrix (rows: true class, columns: predicted):"
    )?;
    let cell = r
        .confusion
        .iter()
        .flatten()
        .map(|v| v.to_string().len())
        .max()
        .unwrap_or(1)
        .max(3);
    let names: Vec<String> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{i} {l}"))
        .collect();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(1);
    write!(out, "  {:<width$}", "")?;
    for i in 0..labels.len() {
        write!(out, " {i:>cell$}")?;
    }
    writeln!(out)?;
    for (row, name) in r.confusion.iter().zip(&names) {
        write!(out, "  {name:<width$}")?;
        for v in row {
            write!(out, " {v:>cell$}")?;
        }
        writeln!(out)?;
    }
    if !r.skipped.is_empty() {
        writeln!(out, "\n{} unreadable image(s) skipped", r.skipped.len())?;
    }
    Ok(())
}

/// Where an embedding's features came from.
pub fn embed_features(out: &mut impl Write, summary: &EmbedSummary) -> Result<()> {
    let source = match (&summary.model, &summary.layer) {
        (Some(model), Some(layer)) => format!("{layer} of {model}, average-pooled"),
        _ => "read from file".to_string(),
    };
    let time = if summary.model.is_some() {
        format!(", {:.1} s", summary.extraction_seconds)
    } else {
        String::new()
    };
    writeln!(
        out,
        "features: {} images x {} ({source}{time})",
        summary.points, summary.dimensions
    )
}

/// Each layout of an embedding: PCA's explained variance, t-SNE's settings, and how often
/// a point's nearest neighbours share its class there and in the feature space.
pub fn embed_layouts(out: &mut impl Write, summary: &EmbedSummary) -> Result<()> {
    let k = summary.neighbours;
    let feature = summary.feature_neighbour_agreement;
    if let Some(a) = feature {
        writeln!(
            out,
            "  {k}-NN label agreement ({}) in feature space: {a:.4}",
            summary.coloured_by
        )?;
    }
    for layout in &summary.layouts {
        match &layout.made_by {
            ProjectionMethod::Pca {
                explained_variance_ratio: ratio,
            } => {
                let first = ratio.first().copied().unwrap_or(0.0);
                let second = ratio.get(1).copied().unwrap_or(0.0);
                let firsts: Vec<String> =
                    ratio.iter().take(10).map(|r| format!("{r:.4}")).collect();
                writeln!(
                    out,
                    "PCA: explained variance ratio PC1 {first:.4}, PC2 {second:.4} (together \
                     {:.4}); first {}: {}",
                    first + second,
                    firsts.len(),
                    firsts.join(" ")
                )?;
                if let Some(a) = layout.neighbour_agreement {
                    writeln!(out, "  {k}-NN label agreement in the PCA plane: {a:.4}")?;
                }
            }
            ProjectionMethod::Tsne(tsne) => {
                writeln!(
                    out,
                    "t-SNE: perplexity {}, {} iterations, {} start, seed {}: {:.1} s",
                    tsne.perplexity,
                    tsne.iterations,
                    init_name(tsne.init),
                    tsne.seed,
                    layout.seconds
                )?;
                if let (Some(a), Some(f)) = (layout.neighbour_agreement, feature) {
                    writeln!(
                        out,
                        "  {k}-NN label agreement in the t-SNE plane: {a:.4} ({:.3} of the \
                         feature space's)",
                        a / f
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// What a training run is about to do.
pub fn train_plan(out: &mut impl Write, plan: &TrainPlan) -> Result<()> {
    let valid = plan
        .valid_images
        .map(|v| format!(", validating on {v}"))
        .unwrap_or_default();
    let frozen = if plan.freeze_epochs > 0 {
        format!(" ({} with the body frozen)", plan.freeze_epochs)
    } else {
        String::new()
    };
    writeln!(
        out,
        "training {} ({} head, {} classes) on {} images{valid}, {} epochs{frozen}; run folder {}",
        plan.architecture,
        if plan.binary_head { "binary" } else { "linear" },
        plan.classes,
        plan.train_images,
        plan.total_epochs,
        plan.out.display()
    )
}

/// One finished epoch of `total`.
pub fn train_epoch(out: &mut impl Write, stats: &EpochStats, total: usize) -> Result<()> {
    let valid = match (stats.valid_loss, stats.valid_accuracy) {
        (Some(l), Some(a)) => format!("  valid loss {l:.4} accuracy {:.2}%", a * 100.0),
        _ => String::new(),
    };
    let skipped = if stats.skipped > 0 {
        format!("  {} unreadable image(s) skipped", stats.skipped)
    } else {
        String::new()
    };
    writeln!(
        out,
        "epoch {}/{total}: train loss {:.4} accuracy {:.2}%{valid}  {:.0} s{}{skipped}",
        stats.epoch,
        stats.train_loss,
        stats.train_accuracy * 100.0,
        stats.seconds,
        if stats.frozen { "  (head only)" } else { "" },
    )
}

/// The architectures whycam builds, with their input size and whether weights ship.
pub fn architectures(out: &mut impl Write) -> Result<()> {
    for arch in Architecture::ALL {
        if arch == Architecture::WhycamSmall {
            writeln!(
                out,
                "{:<20} any input size  trained from scratch by `whycam train`",
                arch.name()
            )?;
            continue;
        }
        let pretrained = if whycam_assets::weights_asset(&arch.name()).is_some() {
            "  pretrained ImageNet weights available"
        } else {
            ""
        };
        writeln!(
            out,
            "{:<20} input {:>3}px{pretrained}",
            arch.name(),
            arch.native_size()
        )?;
    }
    Ok(())
}

/// A zoo architecture's layers, one per line, with their other names.
pub fn zoo_layers(out: &mut impl Write, layers: &[LayerRow]) -> Result<()> {
    for layer in layers {
        let aliases = if layer.aliases.is_empty() {
            String::new()
        } else {
            format!("  (also {})", layer.aliases.join(", "))
        };
        let mark = if layer.default {
            "  (default target)"
        } else {
            ""
        };
        writeln!(out, "{}{aliases}{mark}", layer.name)?;
    }
    Ok(())
}

/// An ONNX graph's layers (`default` is the index of the default target) with their shapes,
/// ops and layouts; `input_size` is the graph's fixed input, if any.
pub fn onnx_layers(
    out: &mut impl Write,
    path: &Path,
    input_size: Option<(usize, usize)>,
    layers: &[LayerInfo],
    default: usize,
) -> Result<()> {
    let size = input_size.map_or(
        "any input size (dynamic; 224 shown)".to_string(),
        |(h, w)| format!("{h}x{w} input"),
    );
    writeln!(out, "{}: {size}", shown(&whycam_data::shown_path(path)))?;
    writeln!(out, "{:<44} {:<20} op", "layer", "shape")?;
    for (i, layer) in layers.iter().enumerate() {
        let shape = format!("{:?}", layer.shape.get(1..).unwrap_or_default());
        let mark = if i == default {
            "  (default target)"
        } else {
            ""
        };
        let layout = match layer.layout {
            LayerLayout::Map => String::new(),
            LayerLayout::Tokens { prefix, .. } => format!(
                "  tokens {:?}{}",
                layer.value_shape.get(1..).unwrap_or_default(),
                match prefix {
                    0 => String::new(),
                    1 => ", class token dropped".to_string(),
                    p => format!(", {p} leading tokens dropped"),
                }
            ),
            LayerLayout::ChannelsLast => format!(
                "  channels last {:?}",
                layer.value_shape.get(1..).unwrap_or_default()
            ),
            LayerLayout::UnknownGrid { .. } => {
                "  tokens, grid unknown: needs --tokens-grid HxW".to_string()
            }
        };
        writeln!(
            out,
            "{:<44} {:<20} {}{mark}{layout}",
            shown(&layer.name),
            shape,
            shown(&layer.op)
        )?;
    }
    writeln!(
        out,
        "\nEach layer also answers to its ONNX node and value names. The exporters fold every \
         BatchNorm into the convolution before it, so a BatchNorm's output is its convolution's \
         row (bn2 is accepted for conv2)."
    )?;
    if layers.iter().any(|l| l.layout != LayerLayout::Map) {
        writeln!(
            out,
            "A token layer [tokens, channels] is explained as the map shown, [channels, h, w] \
             (the class token dropped, as pytorch-grad-cam's reshape_transform); a \
             channels-last one [h, w, channels] likewise. --tokens-grid HxW sets the grid."
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert!(matches!(shown("cat ñ\nline"), Cow::Borrowed("cat ñ\nline")));
        assert_eq!(shown("a\u{1b}[2Jb\tc"), "a\\u{1b}[2Jb\\u{9}c");
    }

    #[test]
    fn only_failures_add_a_line() {
        let mut text = Vec::new();
        failed_line(&mut text, 0, 5).unwrap();
        assert!(text.is_empty());
        failed_line(&mut text, 2, 3).unwrap();
        assert_eq!(String::from_utf8(text).unwrap(), "\n2 of 5 inputs failed\n");
    }
}
