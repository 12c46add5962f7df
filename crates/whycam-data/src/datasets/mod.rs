//! Labelled image datasets in the layouts torchvision reads: ImageFolder, a `path,label` CSV,
//! Oxford-IIIT Pet, STL-10 and CIFAR-10 binaries, and IDX files (MNIST, Fashion-MNIST).
//!
//! Every reader indexes its files when opened (so a wrong layout fails at once, naming the
//! file) and decodes one image at a time on demand; a corrupt image is an error for that
//! index only, which the [`Loader`](crate::Loader) skips and counts.

mod cifar10;
mod csv_list;
mod idx;
mod image_folder;
mod oxford_pet;
mod stl10;

pub use cifar10::Cifar10;
pub use csv_list::CsvList;
pub use idx::Idx;
pub use image_folder::{FileList, ImageFolder};
pub use oxford_pet::{OxfordPet, PetTarget};
pub use stl10::Stl10;

use crate::error::{DataError, Result};
use crate::files::{read_bounded, read_text_bounded, regular_file_size};
use crate::labels::find_label;
use image::RgbImage;
use std::path::Path;

/// The largest dataset file read into memory, in bytes, and the most data an IDX header may
/// declare (after decompression): 4 GiB, far above the largest file of the layouts read
/// here (EMNIST's 0.55 GB, STL-10's 138 MB `train_X.bin`, CIFAR-10's 31 MB batches).
pub const MAX_DATA_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// The largest text file of a dataset read (a CSV list, class names, an annotation list),
/// in bytes: 1 GiB, some ten million rows.
pub const MAX_LIST_BYTES: u64 = 1024 * 1024 * 1024;

/// The most classes a CSV of class indices may number: a label `i` makes `i + 1` classes,
/// so one mistyped index must not allocate billions of names. ImageNet-21k has 21,841.
pub const MAX_CLASSES: usize = 100_000;

/// A labelled image dataset.
pub trait Dataset: Send + Sync {
    /// Number of samples.
    fn len(&self) -> usize;
    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Class names, indexed by label.
    fn classes(&self) -> &[String];
    /// The label of sample `index`, without decoding its image.
    fn label(&self, index: usize) -> usize;
    /// The image of sample `index`, decoded to RGB.
    fn image(&self, index: usize) -> Result<RgbImage>;
    /// Where sample `index` comes from, for messages (a path, or `file#record`).
    fn describe(&self, index: usize) -> String;
}

/// Which part of a dataset with fixed splits to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Split {
    /// The training part (Oxford-IIIT Pet: `trainval`).
    Train,
    /// The test part.
    Test,
}

impl Split {
    /// `train` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// Opens the dataset at `path`, recognising its layout:
/// - a `.csv` file: [`CsvList`];
/// - a directory holding (or named) `stl10_binary`: [`Stl10`];
/// - `cifar-10-batches-bin`: [`Cifar10`];
/// - `oxford-iiit-pet` (with `images/` and `annotations/`): [`OxfordPet`] with `pet_target`;
/// - a directory with `*-images-idx3-ubyte[.gz]` files: [`Idx`];
/// - any other directory: [`ImageFolder`] (one subfolder per class).
///
/// `split` chooses the part of the datasets that have fixed splits; an ImageFolder or CSV is
/// read whole.
pub fn open(path: &Path, split: Split, pet_target: PetTarget) -> Result<Box<dyn Dataset>> {
    if let Ok(metadata) = std::fs::metadata(path)
        && !metadata.is_file()
        && !metadata.is_dir()
    {
        // A named pipe or a device: refused by type, before anything could block on it.
        regular_file_size(path, u64::MAX)?;
    }
    if path.is_file() {
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            return Ok(Box::new(CsvList::open(path)?));
        }
        return Err(DataError::dataset(
            path,
            "a dataset file must be a .csv of path,label; give a directory for the other layouts",
        ));
    }
    if !path.is_dir() {
        return Err(DataError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        ));
    }
    let find = |name: &str| -> Option<std::path::PathBuf> {
        if path.file_name().is_some_and(|n| n == name) {
            Some(path.to_path_buf())
        } else {
            let inside = path.join(name);
            inside.is_dir().then_some(inside)
        }
    };
    if let Some(dir) = find("stl10_binary") {
        return Ok(Box::new(Stl10::open(&dir, split)?));
    }
    if let Some(dir) = find("cifar-10-batches-bin") {
        return Ok(Box::new(Cifar10::open(&dir, split)?));
    }
    if let Some(dir) = find("oxford-iiit-pet") {
        return Ok(Box::new(OxfordPet::open(&dir, split, pet_target)?));
    }
    if Idx::find(path, split).is_some() {
        return Ok(Box::new(Idx::open_dir(path, split)?));
    }
    Ok(Box::new(ImageFolder::open(path)?))
}

/// Whether `path` is a layout with its own test split (STL-10, CIFAR-10, Oxford-IIIT Pet,
/// IDX files), which [`open`] then gives for [`Split::Test`].
pub fn has_test_split(path: &Path) -> bool {
    if !path.is_dir() {
        return false;
    }
    let named =
        |name: &str| path.file_name().is_some_and(|n| n == name) || path.join(name).is_dir();
    named("stl10_binary")
        || named("cifar-10-batches-bin")
        || named("oxford-iiit-pet")
        || Idx::find(path, Split::Test).is_some()
}

/// Reads a whole regular file of at most [`MAX_DATA_BYTES`], naming it in the error.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    read_bounded(path, MAX_DATA_BYTES)
}

/// Class names from a text file (one per line), or `default` when the file is absent.
pub(crate) fn class_names(file: &Path, default: &[&str]) -> Result<Vec<String>> {
    if file.is_file() {
        let text = read_text_bounded(file, MAX_LIST_BYTES)?;
        let names: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        if !names.is_empty() {
            return Ok(names);
        }
    }
    Ok(default.iter().map(|s| s.to_string()).collect())
}

/// An RGB image from planar `R…G…B…` bytes of a `width × height` image; `column_major`
/// when each plane is stored column by column (STL-10).
pub(crate) fn from_planes(bytes: &[u8], width: u32, height: u32, column_major: bool) -> RgbImage {
    let (w, h) = (width as usize, height as usize);
    let plane = w * h;
    RgbImage::from_fn(width, height, |x, y| {
        let (x, y) = (x as usize, y as usize);
        let at = if column_major { x * h + y } else { y * w + x };
        image::Rgb([bytes[at], bytes[plane + at], bytes[2 * plane + at]])
    })
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for the readers' tests.
    use super::Dataset;

    /// Every label, and every image's first pixel.
    pub fn summary(d: &dyn Dataset) -> (Vec<usize>, Vec<[u8; 3]>) {
        let labels = (0..d.len()).map(|i| d.label(i)).collect();
        let pixels = (0..d.len())
            .map(|i| d.image(i).unwrap().get_pixel(0, 0).0)
            .collect();
        (labels, pixels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_row_and_column_major() {
        // 2×2: R = 0 1 2 3, G = 10.., B = 20..
        let bytes = [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23];
        let rows = from_planes(&bytes, 2, 2, false);
        assert_eq!(rows.get_pixel(1, 0).0, [1, 11, 21]);
        let columns = from_planes(&bytes, 2, 2, true);
        assert_eq!(columns.get_pixel(1, 0).0, [2, 12, 22]);
    }

    #[test]
    fn subsets_pick_and_refuse_indices_past_the_end() {
        let dir = tempfile::tempdir().unwrap();
        for class in ["a", "b"] {
            std::fs::create_dir(dir.path().join(class)).unwrap();
            for i in 0..3 {
                RgbImage::new(1, 1)
                    .save(dir.path().join(class).join(format!("{i}.png")))
                    .unwrap();
            }
        }
        let all: std::sync::Arc<dyn Dataset> =
            std::sync::Arc::new(ImageFolder::open(dir.path()).unwrap());
        let every = Subset::every(all.clone(), 2).unwrap();
        assert_eq!(every.len(), 3);
        assert_eq!(
            (0..3).map(|i| every.label(i)).collect::<Vec<_>>(),
            [0, 0, 1]
        );
        assert!(every.describe(2).ends_with("1.png"));
        assert!(Subset::new(all.clone(), vec![0, 6]).is_err());
        let b = Subset::of_classes(all.clone(), &["B".to_string()]).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b.classes(), ["b"]);
        assert_eq!(b.label(0), 0);
        let e = Subset::of_classes(all.clone(), &["zebra".to_string()])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("zebra") && e.contains("a, b"), "{e}");
        let (rest, held) = Subset::split(all.clone(), 0.34, 7).unwrap();
        assert_eq!((rest.len(), held.len()), (4, 2));
        let (again, _) = Subset::split(all, 0.34, 7).unwrap();
        assert_eq!(rest.indices, again.indices);
    }

    #[test]
    fn open_refuses_what_it_does_not_know() {
        let dir = tempfile::tempdir().unwrap();
        let txt = dir.path().join("list.txt");
        std::fs::write(&txt, "x").unwrap();
        let e = open(&txt, Split::Train, PetTarget::Breed)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("list.txt") && e.contains(".csv"), "{e}");
        let e = open(&dir.path().join("nope"), Split::Train, PetTarget::Breed)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("nope"), "{e}");
    }
}

/// Some samples of another dataset, in a given order (a validation split, a `--limit`).
pub struct Subset {
    inner: std::sync::Arc<dyn Dataset>,
    indices: Vec<usize>,
    /// Class names and the new label of each inner label, when the subset picks classes.
    relabel: Option<(Vec<String>, Vec<Option<usize>>)>,
}

impl Subset {
    /// The samples `indices` of `inner`; an index past its end is an error.
    pub fn new(inner: std::sync::Arc<dyn Dataset>, indices: Vec<usize>) -> Result<Self> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= inner.len()) {
            return Err(DataError::IndexPastEnd {
                index: bad,
                len: inner.len(),
            });
        }
        Ok(Self {
            inner,
            indices,
            relabel: None,
        })
    }

    /// Every `step`-th sample: a subset of `len / step` that keeps the class balance of a
    /// dataset whose classes are spread evenly.
    pub fn every(inner: std::sync::Arc<dyn Dataset>, step: usize) -> Result<Self> {
        let indices = (0..inner.len()).step_by(step.max(1)).collect();
        Self::new(inner, indices)
    }

    /// The samples of the classes `names` (each matched as [`find_label`] does), relabelled
    /// `0..names.len()` in that order.
    pub fn of_classes(inner: std::sync::Arc<dyn Dataset>, names: &[String]) -> Result<Self> {
        let known = inner.classes();
        let mut map = vec![None; known.len()];
        let mut picked = Vec::new();
        for (new, name) in names.iter().enumerate() {
            let Some(old) = find_label(known, name) else {
                return Err(DataError::UnknownClass {
                    name: name.clone(),
                    classes: known.to_vec(),
                });
            };
            if map[old].is_some() {
                return Err(DataError::ClassTwice { name: name.clone() });
            }
            map[old] = Some(new);
            picked.push(known[old].clone());
        }
        let indices = (0..inner.len())
            .filter(|&i| map.get(inner.label(i)).copied().flatten().is_some())
            .collect();
        Ok(Self {
            inner,
            indices,
            relabel: Some((picked, map)),
        })
    }

    /// A seeded random split: `(rest, held_out)` with `fraction` of the samples held out
    /// (fastai's `valid_pct`).
    pub fn split(
        inner: std::sync::Arc<dyn Dataset>,
        fraction: f64,
        seed: u64,
    ) -> Result<(Self, Self)> {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(DataError::SplitFraction { fraction });
        }
        let n = inner.len();
        if n < 2 {
            return Err(DataError::TooFewToSplit { samples: n });
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        let held = ((n as f64 * fraction).round() as usize).clamp(1, n - 1);
        let mut rest = order.split_off(held);
        rest.sort_unstable();
        order.sort_unstable();
        Ok((Self::new(inner.clone(), rest)?, Self::new(inner, order)?))
    }
}

impl Dataset for Subset {
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn classes(&self) -> &[String] {
        match &self.relabel {
            Some((names, _)) => names,
            None => self.inner.classes(),
        }
    }
    fn label(&self, index: usize) -> usize {
        let label = self.inner.label(self.indices[index]);
        match &self.relabel {
            Some((_, map)) => map[label].expect("only samples of picked classes are indexed"),
            None => label,
        }
    }
    fn image(&self, index: usize) -> Result<RgbImage> {
        self.inner.image(self.indices[index])
    }
    fn describe(&self, index: usize) -> String {
        self.inner.describe(self.indices[index])
    }
}
