//! Oxford-IIIT Pet in torchvision's layout: `oxford-iiit-pet/images/<name>.jpg` and
//! `annotations/{trainval,test}.txt` with lines `name class-id species breed-id` (ids from 1;
//! species 1 = cat, 2 = dog).

use super::image_folder::FileList;
use super::{MAX_LIST_BYTES, Split};
use crate::error::{DataError, Result};
use crate::files::read_text_bounded;
use std::collections::BTreeMap;
use std::path::Path;

/// What a pet image is labelled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum PetTarget {
    /// The 37 breeds (torchvision's `category`), named as torchvision names them
    /// (`american_bulldog` → `American Bulldog`).
    #[default]
    Breed,
    /// Cat or dog from the annotation's species column (torchvision's `binary-category`).
    Species,
    /// Cat or dog by fastai's rule: a file name that starts with a capital letter is a cat.
    #[cfg_attr(feature = "clap", value(name = "fastai"))]
    FastaiRule,
}

/// The Oxford-IIIT Pet dataset (a [`FileList`]).
#[derive(Debug)]
pub struct OxfordPet;

impl OxfordPet {
    /// Reads `root/annotations/{trainval|test}.txt` ([`Split::Train`] is `trainval`).
    pub fn open(root: &Path, split: Split, target: PetTarget) -> Result<FileList> {
        let list = root.join("annotations").join(match split {
            Split::Train => "trainval.txt",
            Split::Test => "test.txt",
        });
        let text = read_text_bounded(&list, MAX_LIST_BYTES)?;
        let images = root.join("images");
        let mut rows = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let parsed = match fields.as_slice() {
                [name, class, species, _breed] => class
                    .parse::<usize>()
                    .ok()
                    .zip(species.parse::<usize>().ok())
                    .filter(|&(c, s)| (1..=37).contains(&c) && (1..=2).contains(&s))
                    .map(|(c, s)| (name.to_string(), c - 1, s - 1)),
                _ => None,
            };
            let Some(row) = parsed else {
                return Err(DataError::dataset(
                    &list,
                    format!(
                        "line {}: expected `name class-id(1-37) species(1-2) breed-id`, got `{line}`",
                        n + 1
                    ),
                ));
            };
            rows.push(row);
        }
        if rows.is_empty() {
            return Err(DataError::dataset(&list, "no annotated images"));
        }
        let (classes, labels): (Vec<String>, Vec<usize>) = match target {
            PetTarget::Breed => {
                let mut names = BTreeMap::new();
                for (name, class, _) in &rows {
                    let breed = name.rsplit_once('_').map_or(name.as_str(), |(b, _)| b);
                    names.entry(*class).or_insert_with(|| title_case(breed));
                }
                // torchvision numbers the classes by their ids, in order.
                let ids: Vec<usize> = names.keys().copied().collect();
                let labels = rows
                    .iter()
                    .map(|(_, c, _)| ids.binary_search(c).expect("id is listed"))
                    .collect();
                (names.into_values().collect(), labels)
            }
            PetTarget::Species => (
                vec!["Cat".into(), "Dog".into()],
                rows.iter().map(|(_, _, s)| *s).collect(),
            ),
            PetTarget::FastaiRule => (
                vec!["Cat".into(), "Dog".into()],
                rows.iter()
                    .map(|(name, _, _)| usize::from(!name.starts_with(|c: char| c.is_uppercase())))
                    .collect(),
            ),
        };
        let items = rows
            .iter()
            .zip(labels)
            .map(|((name, _, _), label)| (images.join(format!("{name}.jpg")), label))
            .collect();
        Ok(FileList::new(classes, items))
    }
}

/// `american_pit_bull_terrier` → `American Pit Bull Terrier` (Python's `str.title` per part).
fn title_case(raw: &str) -> String {
    raw.split('_')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::Dataset;
    use crate::datasets::testing::summary;
    use image::Rgb;
    use image::RgbImage;

    fn pets() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("oxford-iiit-pet");
        std::fs::create_dir_all(root.join("images")).unwrap();
        std::fs::create_dir_all(root.join("annotations")).unwrap();
        for (i, name) in [
            "Abyssinian_1",
            "american_bulldog_10",
            "Bengal_3",
            "american_bulldog_2",
        ]
        .iter()
        .enumerate()
        {
            let image = RgbImage::from_pixel(4, 3, Rgb([i as u8, 0, 0]));
            image
                .save(root.join("images").join(format!("{name}.jpg")))
                .unwrap();
        }
        std::fs::write(
            root.join("annotations/trainval.txt"),
            "Abyssinian_1 1 1 1\namerican_bulldog_10 2 2 1\nBengal_3 6 1 4\n",
        )
        .unwrap();
        std::fs::write(
            root.join("annotations/test.txt"),
            "#Image CLASS-ID SPECIES BREED ID\namerican_bulldog_2 2 2 1\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn breeds_species_and_the_fastai_rule() {
        let dir = pets();
        let root = dir.path().join("oxford-iiit-pet");
        let breeds = OxfordPet::open(&root, Split::Train, PetTarget::Breed).unwrap();
        assert_eq!(
            breeds.classes(),
            ["Abyssinian", "American Bulldog", "Bengal"]
        );
        let (labels, pixels) = summary(&breeds);
        assert_eq!(labels, [0, 1, 2]);
        // JPEG is lossy: the first channel stays near its value.
        assert!(
            pixels
                .iter()
                .zip([0u8, 1, 2])
                .all(|(p, v)| p[0].abs_diff(v) <= 3)
        );
        let species = OxfordPet::open(&root, Split::Train, PetTarget::Species).unwrap();
        assert_eq!(
            (species.classes(), summary(&species).0),
            (&["Cat".to_string(), "Dog".to_string()][..], vec![0, 1, 0])
        );
        let fastai = OxfordPet::open(&root, Split::Train, PetTarget::FastaiRule).unwrap();
        assert_eq!(summary(&fastai).0, [0, 1, 0]);
        let test = OxfordPet::open(&root, Split::Test, PetTarget::Breed).unwrap();
        assert_eq!(
            (test.len(), test.classes()),
            (1, &["American Bulldog".to_string()][..])
        );
        assert!(test.describe(0).ends_with("images/american_bulldog_2.jpg"));
    }

    #[test]
    fn bad_lines_name_the_file_and_line() {
        let dir = pets();
        let root = dir.path().join("oxford-iiit-pet");
        std::fs::write(
            root.join("annotations/test.txt"),
            "Bengal_3 6 1 4\nBengal_4 40 1 4\n",
        )
        .unwrap();
        let e = OxfordPet::open(&root, Split::Test, PetTarget::Breed)
            .unwrap_err()
            .to_string();
        assert!(e.contains("test.txt") && e.contains("line 2"), "{e}");
        std::fs::remove_file(root.join("annotations/test.txt")).unwrap();
        assert!(
            OxfordPet::open(&root, Split::Test, PetTarget::Breed)
                .unwrap_err()
                .to_string()
                .contains("test.txt")
        );
    }
}
