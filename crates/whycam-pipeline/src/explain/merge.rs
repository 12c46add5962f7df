//! Joining the shards of one explain run (`whycam explain --shard K/N`, each into its own
//! directory) into one `explanations.json` and report, without copying their pictures: the
//! merged summary names each shard's files by a path relative to the merged directory, so the
//! tree can be moved as a whole.

use super::summary::{JsonSummary, RunHeader, RunSummary, locate};
use crate::error::{PipelineError, Result};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// The summaries of the runs in `dirs`, joined, with every file they name made relative to
/// `out` (which must exist). Refuses runs with other settings (model, weights, layers,
/// methods, target, smoothing) and an input that two runs both explained.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<RunSummary> {
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| PipelineError::Io {
            action,
            path,
            source,
        }
    };
    let out_abs = out.canonicalize().map_err(io("opening", out))?;
    let mut merged: Option<(RunSummary, RunHeader, &PathBuf)> = None;
    let mut seen: HashMap<String, &PathBuf> = HashMap::new();
    for dir in dirs {
        let mut run = RunSummary::read(dir)?;
        let header = RunHeader::of_summary(&run);
        for image in &run.images {
            if let Some(first) = seen.insert(image.image.clone(), dir) {
                return Err(PipelineError::MergeDuplicate {
                    image: image.image.clone(),
                    first: first.clone(),
                    second: dir.clone(),
                });
            }
        }
        let relative = |file: &String| rebase(dir, file, &out_abs);
        for image in &mut run.images {
            image.original = image.original.as_ref().map(relative);
            image.figures = image.figures.iter().map(relative).collect();
            for e in &mut image.explanations {
                e.files = e.files.iter().map(relative).collect();
                for other in &mut e.other_files {
                    other.file = relative(&other.file);
                }
            }
        }
        run.grids = run.grids.iter().map(relative).collect();
        match &mut merged {
            None => merged = Some((run, header, dir)),
            Some((all, wanted, first)) => {
                if header != *wanted {
                    return Err(PipelineError::MergeMismatch {
                        dir: dir.clone(),
                        first: first.to_path_buf(),
                        found: format!("{header:?}"),
                        wanted: format!("{wanted:?}"),
                    });
                }
                all.images.extend(run.images);
                all.errors.extend(run.errors);
                all.grids.extend(run.grids);
                all.interrupted |= run.interrupted;
            }
        }
    }
    let (mut all, _, _) = merged.ok_or(PipelineError::NoInputs)?;
    all.images.sort_by(|a, b| a.image.cmp(&b.image));
    all.errors.sort_by(|a, b| a.image.cmp(&b.image));
    Ok(all)
}

/// Writes `summary` as `out/explanations.json` (atomically).
pub fn write_summary(summary: &RunSummary, out: &Path) -> Result<PathBuf> {
    let path = out.join(JsonSummary::FILE);
    crate::write::atomically(&path, summary.to_json().as_bytes())?;
    Ok(path)
}

/// `file`, as the run in `dir` recorded it, as a path relative to `out` (canonical); left as
/// it is when the file cannot be found (the report then says it is missing).
fn rebase(dir: &Path, file: &str, out: &Path) -> String {
    let Some(found) = locate(dir, file).and_then(|p| p.canonicalize().ok()) else {
        return file.to_string();
    };
    whycam_data::shown_path(&relative_to(&found, out)).to_string()
}

/// `path` relative to `base`, both absolute and canonical (`..` where they part).
fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let path: Vec<Component> = path.components().collect();
    let base: Vec<Component> = base.components().collect();
    let common = path.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..base.len() {
        rel.push("..");
    }
    for c in &path[common..] {
        rel.push(c);
    }
    rel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_out_of_the_base() {
        let rel = |p: &str, b: &str| relative_to(Path::new(p), Path::new(b));
        assert_eq!(rel("/runs/s1/a.png", "/runs/all"), Path::new("../s1/a.png"));
        assert_eq!(rel("/runs/s1/a.png", "/runs"), Path::new("s1/a.png"));
        assert_eq!(rel("/x/a.png", "/runs/all"), Path::new("../../x/a.png"));
    }
}
