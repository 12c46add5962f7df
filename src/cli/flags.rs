//! Library errors as the command line words them. The libraries serve other front ends too,
//! so their messages name settings, not flags; here the flag the user typed is named.

use whycam_data::shown_path;
use whycam_pipeline::PipelineError as E;

/// `error`, naming the command line's flags where the library's message names a setting.
pub(crate) fn with_flags(error: anyhow::Error) -> anyhow::Error {
    let Some(e) = error.downcast_ref::<E>() else {
        return error;
    };
    let option = match e {
        E::ArchitectureMismatch { requested, .. } => format!("--model {requested}"),
        E::ResumeMismatch { .. } | E::ResumedEntry { .. } => "--resume".to_string(),
        E::NotACheckpoint { path, .. } | E::CheckpointArchitecture { path, .. } => {
            format!("--resume {}", shown_path(path))
        }
        _ => return flagged(e).map(anyhow::Error::msg).unwrap_or(error),
    };
    error.context(option)
}

/// The message of an error about a setting, naming its flag.
fn flagged(e: &E) -> Option<String> {
    Some(match e {
        E::NoPretrainedWeights { architecture } => format!(
            "whycam ships no pretrained weights for {architecture}; pass --weights FILE (for \
             example a torchvision state dict saved with torch.save(model.state_dict(), FILE))"
        ),
        E::ArchitectureForOnnx { requested, path } => format!(
            "--model {requested}: {} is an ONNX graph, which brings its own architecture; drop \
             --model",
            shown_path(path)
        ),
        E::TokensGridForZoo {
            architecture,
            height,
            width,
        } => format!(
            "--tokens-grid {height}x{width}: {architecture} is a CNN without token layers; the \
             grid is for vision transformers loaded from ONNX (--weights FILE.onnx)"
        ),
        E::InputTooSmall {
            architecture,
            min,
            size,
        } => format!("{architecture} needs inputs of at least {min}x{min} px, got --size {size}"),
        E::FixedInputSize { path, native, size } => format!(
            "{} takes only {native}x{native} inputs (its input shape is fixed), got --size \
             {size}; export it with dynamic height and width to feed other sizes",
            shown_path(path)
        ),
        E::ShorterOnFixedInput { path, native } => format!(
            "{}: --preprocess shorter keeps each photo's aspect ratio, but this graph's input \
             shape is fixed ({native}x{native}); export it with dynamic height and width",
            shown_path(path)
        ),
        E::BadDeviation { std } => format!("--std {std:?}: every deviation must be positive"),
        E::NoInputs => "no inputs: name image files, directories or URLs, or pass --samples".into(),
        E::NoEmbedInputs => "no inputs: name a dataset, image files or directories, or pass \
                             --samples or --features"
            .into(),
        E::OutOfRange {
            option,
            expected,
            value,
        } => format!(
            "--{} must be {expected}, got {value}",
            option.replace('_', "-")
        ),
        E::TopKWithTarget { target } => format!(
            "--top-k explains the best classes; it cannot be combined with --target {target}"
        ),
        E::MetricNeedsBoxes { metric } => format!(
            "--metric {metric} needs each image's object box: give --boxes FILE \
             (path,x0,y0,x1,y1[,label])"
        ),
        E::ClassesOfLooseImages => "--classes needs a labelled dataset; loose images are \
                                    coloured by predicted class"
            .into(),
        E::TooFewForTsne {
            images,
            perplexity,
            needed,
        } => format!(
            "{images} image(s) are too few for t-SNE with perplexity {perplexity}: it needs at \
             least {needed}; lower --perplexity, add images or use --method pca or both"
        ),
        E::BinaryHeadClasses { classes } => format!(
            "--head binary needs two classes, the data has {}: {} (pick two with --classes)",
            classes.len(),
            classes.join(", ")
        ),
        E::CheckpointDone { done, total } => format!(
            "the checkpoint has done {done} of {total} epochs already; ask for more with --epochs"
        ),
        E::ClassMismatch {
            model,
            data,
            unknown,
        } if *unknown > 0 => format!(
            "{unknown} image(s) of the data belong to classes the model does not know (model: \
             {}; data: {}); pick the model's with --classes",
            model.join(", "),
            data.join(", ")
        ),
        _ => return None,
    })
}
