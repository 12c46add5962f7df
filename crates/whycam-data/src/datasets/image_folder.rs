//! Datasets of image files with labels ([`FileList`]), and torchvision's `ImageFolder`
//! layout, `root/<class>/**/<image>` with classes in sorted order. The CSV and Oxford-IIIT
//! Pet readers make [`FileList`]s too.

use super::Dataset;
use crate::decode::{DecodeLimits, load_rgb8};
use crate::error::{DataError, Result};
use crate::inputs::has_image_extension;
use image::RgbImage;
use std::path::{Path, PathBuf};

/// Image files, each with a label.
#[derive(Debug)]
pub struct FileList {
    classes: Vec<String>,
    items: Vec<(PathBuf, usize)>,
    limits: DecodeLimits,
}

/// Images in one subfolder per class.
#[derive(Debug)]
pub struct ImageFolder;

impl ImageFolder {
    /// Indexes `root`: each subfolder (sorted by name) is a class, and the image files under
    /// it (searched recursively, sorted) are its samples.
    pub fn open(root: &Path) -> Result<FileList> {
        let mut classes: Vec<String> = std::fs::read_dir(root)
            .map_err(|e| DataError::io(root, e))?
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().is_dir())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        classes.sort();
        if classes.is_empty() {
            return Err(DataError::dataset(
                root,
                "no class folders: an ImageFolder holds one subfolder of images per class",
            ));
        }
        let mut items = Vec::new();
        for (label, class) in classes.iter().enumerate() {
            let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root.join(class))
                .follow_links(true)
                .into_iter()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_file() && has_image_extension(e.path()))
                .map(|e| e.into_path())
                .collect();
            files.sort();
            items.extend(files.into_iter().map(|f| (f, label)));
        }
        if items.is_empty() {
            return Err(DataError::dataset(
                root,
                "the class folders hold no image files",
            ));
        }
        Ok(FileList::new(classes, items))
    }
}

impl FileList {
    /// A dataset of `items` (`path`, label) with `classes`.
    pub(crate) fn new(classes: Vec<String>, items: Vec<(PathBuf, usize)>) -> Self {
        Self {
            classes,
            items,
            limits: DecodeLimits::default(),
        }
    }
}

impl FileList {
    /// Image files without labels, as one class named `images`, decoded within `limits`: a
    /// way to feed loose files through a [`crate::Loader`].
    pub fn unlabelled(paths: Vec<PathBuf>, limits: DecodeLimits) -> Self {
        Self {
            classes: vec!["images".to_string()],
            items: paths.into_iter().map(|p| (p, 0)).collect(),
            limits,
        }
    }
}

impl Dataset for FileList {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn classes(&self) -> &[String] {
        &self.classes
    }

    fn label(&self, index: usize) -> usize {
        self.items[index].1
    }

    fn image(&self, index: usize) -> Result<RgbImage> {
        load_rgb8(&self.items[index].0, &self.limits)
    }

    fn describe(&self, index: usize) -> String {
        self.items[index].0.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::testing::summary;
    use image::Rgb;

    #[test]
    fn classes_are_sorted_subfolders_and_files_are_found_recursively() {
        let dir = tempfile::tempdir().unwrap();
        for (class, file, colour) in [
            ("dog", "b.png", [2, 0, 0]),
            ("cat", "z.png", [1, 0, 0]),
            ("cat", "deep/a.png", [0, 0, 0]),
        ] {
            let path = dir.path().join(class).join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            RgbImage::from_pixel(3, 2, Rgb(colour)).save(&path).unwrap();
        }
        std::fs::write(dir.path().join("cat/notes.txt"), "not an image").unwrap();
        let d = ImageFolder::open(dir.path()).unwrap();
        assert_eq!(d.classes(), ["cat", "dog"]);
        assert_eq!(
            summary(&d),
            (vec![0, 0, 1], vec![[0, 0, 0], [1, 0, 0], [2, 0, 0]])
        );
        assert!(d.describe(2).ends_with("b.png"));
    }

    #[test]
    fn empty_layouts_are_errors_and_corrupt_images_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            ImageFolder::open(dir.path())
                .unwrap_err()
                .to_string()
                .contains("no class folders")
        );
        std::fs::create_dir(dir.path().join("cat")).unwrap();
        assert!(ImageFolder::open(dir.path()).is_err());
        std::fs::write(dir.path().join("cat/bad.jpg"), "garbage").unwrap();
        RgbImage::new(2, 2)
            .save(dir.path().join("cat/good.png"))
            .unwrap();
        let d = ImageFolder::open(dir.path()).unwrap();
        assert!(d.image(0).unwrap_err().to_string().contains("bad.jpg"));
        assert!(d.image(1).is_ok());
    }
}
