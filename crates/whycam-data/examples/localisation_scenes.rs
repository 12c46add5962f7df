//! Cluttered Fashion-MNIST scenes with known object boxes, for the localisation benchmark
//! (`tools/bench/localisation/run.sh`, issue 17).
//!
//! Each scene is a 112×112 RGB canvas: a dim tinted noise background, a few distractor
//! fragments (random crops of other Fashion-MNIST items, smaller and at a third to a half of
//! the contrast), and one item pasted on top at a random position, scaled from 28 px to
//! 40..=80 px and tinted. The scene's class is the item's; its box is the tight box of the
//! item's visible pixels (alpha ≥ [`BOX_ALPHA`]) in canvas pixels, right and bottom edges
//! excluded. Everything is drawn from ChaCha8 seeded by `--seed` on a stream per split and
//! scene, so a scene depends only on (seed, split, index), never on how many are made.
//!
//! ```text
//! cargo run --release -p whycam-data --example localisation_scenes -- OUT \
//!     [--train N] [--valid N] [--test N] [--seed S] [--fashion DIR]
//! ```
//!
//! writes `OUT/{train,valid,test}/<class>/scene-NNNNN.png` (an ImageFolder per split; train
//! and valid items come from disjoint parts of Fashion-MNIST's training split, test items from
//! its test split) and `OUT/test/boxes.csv` (`path,x0,y0,x1,y1,label`, paths relative to
//! `OUT/test`, file names unique) for `whycam evaluate --boxes`.

use image::{Rgb, RgbImage, imageops};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use whycam_data::Split;
use whycam_data::datasets::{Dataset, Idx};

/// The canvas's side in pixels.
const CANVAS: u32 = 112;
/// The pasted item's side in pixels, inclusive (Fashion-MNIST's items are 28 px).
const ITEM_SIDE: (u32, u32) = (40, 80);
/// Distractor fragments per scene, inclusive.
const FRAGMENTS: (u32, u32) = (2, 4);
/// A fragment's side before scaling, inclusive, and its scale factor.
const FRAGMENT_CROP: (u32, u32) = (10, 16);
const FRAGMENT_SCALE: (f32, f32) = (1.0, 1.8);
/// A fragment's opacity relative to the item's (lower contrast).
const FRAGMENT_CONTRAST: (f32, f32) = (0.3, 0.5);
/// A pixel of the item counts toward its box from this opacity on.
const BOX_ALPHA: f32 = 0.1;
/// Train and valid scenes draw their items from disjoint parts of the training split:
/// valid from this index on.
const VALID_FROM: usize = 50_000;

/// One scene: the canvas, the item's class and box (`[x0, y0, x1, y1]`, right and bottom
/// edges excluded).
struct Scene {
    image: RgbImage,
    label: usize,
    bounds: [u32; 4],
}

/// Which part of the data a scene belongs to; also its random stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Train = 0,
    Valid = 1,
    Test = 2,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Valid => "valid",
            Part::Test => "test",
        }
    }

    /// The range of item indices of `items` this part draws from.
    fn items(self, items: &dyn Dataset) -> std::ops::Range<usize> {
        match self {
            Part::Train => 0..VALID_FROM.min(items.len()),
            Part::Valid => VALID_FROM.min(items.len())..items.len(),
            Part::Test => 0..items.len(),
        }
    }
}

/// A folder name for a class ("T-shirt/top" has a slash).
fn folder_name(class: &str) -> String {
    class.replace('/', "-")
}

/// The seeded generator of scene `index` of `part`.
fn scene_rng(seed: u64, part: Part, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((part as u64) << 32) | index as u64);
    rng
}

/// A random item of `class` in `range` (tries at random, then scans, so it always ends).
fn pick_item(
    items: &dyn Dataset,
    range: &std::ops::Range<usize>,
    class: usize,
    rng: &mut ChaCha8Rng,
) -> usize {
    for _ in 0..200 {
        let i = rng.random_range(range.clone());
        if items.label(i) == class {
            return i;
        }
    }
    range
        .clone()
        .find(|&i| items.label(i) == class)
        .unwrap_or(range.start)
}

/// Grey levels of item `index` as opacities in [0, 1], `side × side` after scaling.
fn alpha(items: &dyn Dataset, index: usize, crop: [u32; 4], side: (u32, u32)) -> Vec<f32> {
    let grey = imageops::grayscale(&items.image(index).expect("a Fashion-MNIST item decodes"));
    let [x, y, w, h] = crop;
    let cropped = imageops::crop_imm(&grey, x, y, w, h).to_image();
    let scaled = imageops::resize(&cropped, side.0, side.1, imageops::FilterType::Triangle);
    scaled.pixels().map(|p| f32::from(p.0[0]) / 255.0).collect()
}

/// A random colour with every channel in `lo..=hi`.
fn colour(rng: &mut ChaCha8Rng, lo: u8, hi: u8) -> [f32; 3] {
    std::array::from_fn(|_| f32::from(rng.random_range(lo..=hi)))
}

/// Blends `colour` over the canvas at `(x, y)` with per-pixel opacity `a × strength`.
fn paste(
    canvas: &mut [[f32; 3]],
    a: &[f32],
    (w, h): (u32, u32),
    (x, y): (u32, u32),
    colour: [f32; 3],
    strength: f32,
) {
    for row in 0..h {
        for col in 0..w {
            let (cx, cy) = (x + col, y + row);
            if cx >= CANVAS || cy >= CANVAS {
                continue;
            }
            let t = a[(row * w + col) as usize] * strength;
            let pixel = &mut canvas[(cy * CANVAS + cx) as usize];
            for (p, c) in pixel.iter_mut().zip(colour) {
                *p = *p * (1.0 - t) + c * t;
            }
        }
    }
}

/// Scene `index` of `part`, its items drawn from `items` (the split the part reads).
fn scene(items: &dyn Dataset, seed: u64, part: Part, index: usize) -> Scene {
    let mut rng = scene_rng(seed, part, index);
    let range = part.items(items);
    let classes = items.classes().len();
    // Classes in turn, so every split is balanced.
    let label = index % classes;
    let item = pick_item(items, &range, label, &mut rng);

    // Background: a dim tint with per-pixel noise.
    let tint = colour(&mut rng, 10, 60);
    let mut canvas: Vec<[f32; 3]> = (0..CANVAS * CANVAS)
        .map(|_| {
            let noise = rng.random_range(-8.0f32..=8.0);
            tint.map(|c| c + noise)
        })
        .collect();

    // Distractors: fragments of other items, under the item.
    for _ in 0..rng.random_range(FRAGMENTS.0..=FRAGMENTS.1) {
        let other = loop {
            let o = rng.random_range(range.clone());
            if o != item {
                break o;
            }
        };
        let (cw, ch) = (
            rng.random_range(FRAGMENT_CROP.0..=FRAGMENT_CROP.1),
            rng.random_range(FRAGMENT_CROP.0..=FRAGMENT_CROP.1),
        );
        // Crops from the middle 20×20, where the items are, not from the empty margin.
        let (cx, cy) = (
            rng.random_range(4..=24 - cw.min(20)),
            rng.random_range(4..=24 - ch.min(20)),
        );
        let scale = rng.random_range(FRAGMENT_SCALE.0..=FRAGMENT_SCALE.1);
        let side = (
            ((cw as f32 * scale).round() as u32).max(1),
            ((ch as f32 * scale).round() as u32).max(1),
        );
        let a = alpha(items, other, [cx, cy, cw, ch], side);
        let at = (
            rng.random_range(0..=CANVAS - side.0),
            rng.random_range(0..=CANVAS - side.1),
        );
        let strength = rng.random_range(FRAGMENT_CONTRAST.0..=FRAGMENT_CONTRAST.1);
        let c = colour(&mut rng, 120, 255);
        paste(&mut canvas, &a, side, at, c, strength);
    }

    // The item, on top.
    let side = rng.random_range(ITEM_SIDE.0..=ITEM_SIDE.1);
    let a = alpha(items, item, [0, 0, 28, 28], (side, side));
    let (x, y) = (
        rng.random_range(0..=CANVAS - side),
        rng.random_range(0..=CANVAS - side),
    );
    let c = colour(&mut rng, 150, 255);
    paste(&mut canvas, &a, (side, side), (x, y), c, 1.0);

    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for row in 0..side {
        for col in 0..side {
            if a[(row * side + col) as usize] >= BOX_ALPHA {
                (x0, y0) = (x0.min(x + col), y0.min(y + row));
                (x1, y1) = (x1.max(x + col + 1), y1.max(y + row + 1));
            }
        }
    }
    if x0 >= x1 {
        // An item with no visible pixel (none in Fashion-MNIST): the pasted square.
        (x0, y0, x1, y1) = (x, y, x + side, y + side);
    }
    let image = RgbImage::from_fn(CANVAS, CANVAS, |cx, cy| {
        let p = canvas[(cy * CANVAS + cx) as usize];
        Rgb(p.map(|v| v.round().clamp(0.0, 255.0) as u8))
    });
    Scene {
        image,
        label,
        bounds: [x0, y0, x1, y1],
    }
}

/// Writes `count` scenes of `part` as an ImageFolder under `out/part`; for the test part also
/// `boxes.csv`. Returns the folder.
fn write_part(
    items: &dyn Dataset,
    out: &Path,
    seed: u64,
    part: Part,
    count: usize,
) -> std::io::Result<PathBuf> {
    let dir = out.join(part.name());
    let mut boxes = String::from("path,x0,y0,x1,y1,label\n");
    for class in items.classes() {
        std::fs::create_dir_all(dir.join(folder_name(class)))?;
    }
    for index in 0..count {
        let s = scene(items, seed, part, index);
        let class = folder_name(&items.classes()[s.label]);
        let relative = format!("{class}/scene-{index:05}.png");
        s.image
            .save(dir.join(&relative))
            .map_err(std::io::Error::other)?;
        let [x0, y0, x1, y1] = s.bounds;
        boxes.push_str(&format!("\"{relative}\",{x0},{y0},{x1},{y1},\"{class}\"\n"));
    }
    if part == Part::Test {
        std::fs::write(dir.join("boxes.csv"), boxes)?;
    }
    Ok(dir)
}

fn fashion_dir(given: Option<PathBuf>) -> PathBuf {
    given
        .or_else(|| std::env::var_os("WHYCAM_FASHION_MNIST").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/usr/share/datasets/fashion-mnist"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let usage = "usage: localisation_scenes OUT [--train N] [--valid N] [--test N] [--seed S] \
                 [--fashion DIR]";
    let mut args = std::env::args().skip(1);
    let (mut out, mut fashion) = (None, None);
    let (mut train, mut valid, mut test, mut seed) = (3000usize, 500usize, 500usize, 0u64);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(usage);
        match arg.as_str() {
            "--train" => train = value()?.parse()?,
            "--valid" => valid = value()?.parse()?,
            "--test" => test = value()?.parse()?,
            "--seed" => seed = value()?.parse()?,
            "--fashion" => fashion = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!("{usage}");
                return Ok(());
            }
            _ if out.is_none() && !arg.starts_with('-') => out = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument {arg}\n{usage}").into()),
        }
    }
    let out = out.ok_or(usage)?;
    let fashion = fashion_dir(fashion);
    let train_items = Idx::open_dir(&fashion, Split::Train)?;
    let test_items = Idx::open_dir(&fashion, Split::Test)?;
    for (items, part, count) in [
        (&train_items, Part::Train, train),
        (&train_items, Part::Valid, valid),
        (&test_items, Part::Test, test),
    ] {
        let dir = write_part(items, &out, seed, part, count)?;
        println!("{count} scenes in {}", dir.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_items() -> Idx {
        Idx::open_dir(&fashion_dir(None), Split::Test).expect(
            "Fashion-MNIST: install Debian's dataset-fashion-mnist or set WHYCAM_FASHION_MNIST",
        )
    }

    #[test]
    fn scenes_are_deterministic_and_their_boxes_lie_in_the_canvas() {
        let items = test_items();
        for index in 0..40 {
            let a = scene(&items, 7, Part::Test, index);
            let b = scene(&items, 7, Part::Test, index);
            assert_eq!(a.image.as_raw(), b.image.as_raw(), "scene {index}");
            assert_eq!((a.label, a.bounds), (b.label, b.bounds));
            assert_eq!(a.label, index % 10);
            let [x0, y0, x1, y1] = a.bounds;
            assert!(
                x0 < x1 && y0 < y1 && x1 <= CANVAS && y1 <= CANVAS,
                "{:?}",
                a.bounds
            );
            // The box holds an item of 40..=80 px with its margin trimmed: not a sliver.
            assert!(x1 - x0 >= 8 && y1 - y0 >= 8 && x1 - x0 <= 80 && y1 - y0 <= 80);
            assert_eq!(a.image.dimensions(), (CANVAS, CANVAS));
        }
        // Another seed, another scene; another part, another stream.
        let first = scene(&items, 7, Part::Test, 0);
        let other = scene(&items, 8, Part::Test, 0);
        assert_ne!(other.image.as_raw(), first.image.as_raw());
        let train = scene(&items, 7, Part::Train, 0);
        assert_ne!(train.image.as_raw(), first.image.as_raw());
    }

    #[test]
    fn the_box_is_where_the_item_is_brighter_than_the_background() {
        let items = test_items();
        for index in 0..20 {
            let s = scene(&items, 3, Part::Test, index);
            let [x0, y0, x1, y1] = s.bounds;
            let brightness = |x: u32, y: u32| {
                s.image
                    .get_pixel(x, y)
                    .0
                    .iter()
                    .map(|&v| u32::from(v))
                    .sum::<u32>()
            };
            // The item is tinted 150..=255 per channel, the background 10..=60 and the
            // fragments at half the contrast at most: the box, dark gaps of the item included, is
            // brighter than the rest (over 1.3 times in these scenes; a misplaced box: about 1).
            let mut inside = 0u64;
            for y in y0..y1 {
                for x in x0..x1 {
                    inside += u64::from(brightness(x, y));
                }
            }
            let all: u64 = (0..CANVAS)
                .flat_map(|y| (0..CANVAS).map(move |x| (x, y)))
                .map(|(x, y)| u64::from(brightness(x, y)))
                .sum();
            let area = u64::from((x1 - x0) * (y1 - y0));
            let mean_inside = inside as f64 / area as f64;
            let outside_area = u64::from(CANVAS * CANVAS) - area;
            let mean_outside = (all - inside) as f64 / outside_area as f64;
            assert!(
                mean_inside > mean_outside * 1.3,
                "scene {index}: {mean_inside} vs {mean_outside}"
            );
        }
    }

    #[test]
    fn written_parts_are_image_folders_with_boxes() {
        let items = test_items();
        let dir = tempfile::tempdir().unwrap();
        let test = write_part(&items, dir.path(), 1, Part::Test, 12).unwrap();
        let folder = whycam_data::datasets::ImageFolder::open(&test).unwrap();
        assert_eq!(folder.len(), 12);
        // Sorted by folder name, as ImageFolder labels classes.
        assert_eq!(folder.classes()[8], "T-shirt-top");
        let csv = std::fs::read_to_string(test.join("boxes.csv")).unwrap();
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows.len(), 13);
        assert!(
            rows[1].starts_with("\"T-shirt-top/scene-00000.png\","),
            "{}",
            rows[1]
        );
        // The file written is the scene made in memory.
        let s = scene(&items, 1, Part::Test, 0);
        let read = image::open(test.join("T-shirt-top/scene-00000.png"))
            .unwrap()
            .to_rgb8();
        assert_eq!(read.as_raw(), s.image.as_raw());
    }
}
