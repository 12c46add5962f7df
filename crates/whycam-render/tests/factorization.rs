//! Deep Feature Factorization's picture against pytorch-grad-cam 1.5.7's
//! `show_factorization_on_image` (OpenCV and matplotlib underneath), from the goldens of
//!
//! ```text
//! flock /tmp/torch.lock ~/venvs/ref/bin/python tools/reference/factorization_goldens.py
//! ```
//!
//! (tests/data/goldens/factorization.json): the concept colours for k = 1..12 and their HSV,
//! each colour at the 256 strengths, and whole overlays of a synthetic image. With maps at the
//! image's size the overlay must be the reference's to the byte; with maps at a 4x5 layer
//! resolution, whycam samples them bilinearly where the reference resizes them with
//! cv2.resize, so a value could land on the other side of an 8-bit step: at most 1% of the
//! values may differ, by at most 1 (measured here: none differ). The legend figure is a golden image
//! (`tests/golden/factorization_figure.png`; `UPDATE_GOLDEN=1` rewrites it).

use image::{Rgb, RgbImage};
use serde_json::Value;
use std::path::Path;
use whycam_data::CropRegion;
use whycam_render::Heatmap;
use whycam_render::Layout;
use whycam_render::factorization::{
    DFF_IMAGE_WEIGHT, LegendEntry, concept_colours, factorization_figure, factorization_overlay,
    hsv_to_rgb, legend_line, rgb_to_hsv,
};

fn golden() -> Value {
    let path = whycam_testkit::data_dir().join("goldens/factorization.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn u8s(v: &Value) -> Vec<u8> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u8)
        .collect()
}

fn rgb(v: &Value) -> [u8; 3] {
    u8s(v).try_into().unwrap()
}

#[test]
fn palette_and_hsv_match_matplotlib_and_opencv() {
    let golden = golden();
    for entry in golden["palette"].as_array().unwrap() {
        let k = entry["k"].as_u64().unwrap() as usize;
        let expected: Vec<[u8; 3]> = entry["rgb"].as_array().unwrap().iter().map(rgb).collect();
        assert_eq!(concept_colours(k), expected, "k = {k}");
        for (colour, hsv) in expected.iter().zip(entry["hsv"].as_array().unwrap()) {
            assert_eq!(rgb_to_hsv(*colour), rgb(hsv), "k = {k}, {colour:?}");
        }
    }
    let mut checked = 0;
    for entry in golden["value_ramps"].as_array().unwrap() {
        let k = entry["k"].as_u64().unwrap() as usize;
        for (colour, ramp) in concept_colours(k)
            .into_iter()
            .zip(entry["ramps"].as_array().unwrap())
        {
            let [h, s, _] = rgb_to_hsv(colour);
            let expected = u8s(ramp);
            for v in 0..=255u8 {
                let at = 3 * usize::from(v);
                assert_eq!(
                    hsv_to_rgb([h, s, v]).as_slice(),
                    &expected[at..at + 3],
                    "k = {k}, colour {colour:?}, value {v}"
                );
                checked += 1;
            }
        }
    }
    println!("palette: k = 1..12 and {checked} ramp values equal OpenCV's");
}

/// pytorch-grad-cam's `scale_cam_image` without the resize: `(m - min) / (1e-7 + max)`.
fn scaled(map: &[f32]) -> Vec<f32> {
    let min = map.iter().copied().fold(f32::INFINITY, f32::min);
    let shifted: Vec<f32> = map.iter().map(|v| v - min).collect();
    let max = shifted.iter().copied().fold(0.0f32, f32::max);
    shifted.iter().map(|v| v / (1e-7 + max)).collect()
}

#[test]
fn overlays_match_show_factorization_on_image() {
    let golden = golden();
    let mut report = Vec::new();
    for case in golden["cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let (h, w) = (
            case["height"].as_u64().unwrap() as u32,
            case["width"].as_u64().unwrap() as u32,
        );
        let weight = case["image_weight"].as_f64().unwrap();
        let image = RgbImage::from_raw(w, h, u8s(&case["image"])).unwrap();
        let shape: Vec<usize> = case["maps_shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let values: Vec<f32> = case["maps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let (k, mh, mw) = (shape[0], shape[1], shape[2]);
        let mut planes: Vec<Vec<f32>> = values.chunks(mh * mw).map(<[f32]>::to_vec).collect();
        if case["scaled_by_reference"].as_bool().unwrap() {
            planes = planes.iter().map(|p| scaled(p)).collect();
        }
        assert_eq!(planes.len(), k);
        let maps: Vec<Heatmap<'_>> = planes
            .iter()
            .map(|p| Heatmap {
                height: mh,
                width: mw,
                data: p,
            })
            .collect();
        let region = CropRegion {
            x: 0.0,
            y: 0.0,
            width: w as f32,
            height: h as f32,
        };
        let drawn = factorization_overlay(&image, &region, &maps, weight);
        let expected = u8s(&case["expected"]);
        let diffs: Vec<u8> = drawn
            .as_raw()
            .iter()
            .zip(&expected)
            .map(|(a, b)| a.abs_diff(*b))
            .collect();
        let max = diffs.iter().copied().max().unwrap_or(0);
        let differing = diffs.iter().filter(|&&d| d > 0).count();
        let share = differing as f64 / diffs.len() as f64;
        println!(
            "{id}: {} values, max difference {max}, {differing} differ ({:.2}%)",
            diffs.len(),
            100.0 * share
        );
        let ok = if id.starts_with("exact") {
            max == 0
        } else {
            max <= 1 && share <= 0.01
        };
        if !ok {
            report.push(format!(
                "{id}: max difference {max}, {differing} values differ"
            ));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}

#[test]
fn legend_lines_as_create_labels_legend() {
    let golden = golden();
    let legend = &golden["legend"];
    let labels: Vec<&str> = legend["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let scores: Vec<Vec<f64>> = legend["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect();
    for (row, expected) in scores.iter().zip(legend["strings"].as_array().unwrap()) {
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(b.cmp(&a)));
        let ours: Vec<String> = order[..2]
            .iter()
            .map(|&c| legend_line(labels[c], row[c] as f32))
            .collect();
        // The reference writes "label:0.70"; whycam "label 0.70".
        let theirs = expected.as_str().unwrap().replace(':', " ");
        assert_eq!(ours.join("\n"), theirs);
    }
}

/// A 120x160 picture with structure, three blobs as concept maps at 6x8.
fn synthetic() -> (RgbImage, Vec<Vec<f32>>) {
    let image = RgbImage::from_fn(160, 120, |x, y| {
        Rgb([(x * 255 / 159) as u8, (y * 255 / 119) as u8, 128])
    });
    let blob = |cy: f32, cx: f32| -> Vec<f32> {
        (0..48)
            .map(|i| {
                let (y, x) = ((i / 8) as f32, (i % 8) as f32);
                (-((x - cx).powi(2) + (y - cy).powi(2)) / 3.0).exp()
            })
            .collect()
    };
    (image, vec![blob(1.5, 1.5), blob(4.0, 6.0), blob(2.0, 5.0)])
}

/// Compares with `tests/golden/<name>.png` as golden_images.rs does: same size, mean
/// absolute difference at most 0.5, at most 0.5% of values more than 16 apart.
fn check_golden(name: &str, actual: &RgbImage) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{name}.png"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        actual.save(&path).unwrap();
        return;
    }
    let golden = image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()))
        .to_rgb8();
    let keep = || {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/golden-actual");
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join(format!("{name}.png"));
        actual.save(&out).unwrap();
        out.display().to_string()
    };
    assert_eq!(
        golden.dimensions(),
        actual.dimensions(),
        "{name}: drawn {}",
        keep()
    );
    let diffs: Vec<u32> = golden
        .as_raw()
        .iter()
        .zip(actual.as_raw())
        .map(|(a, b)| u32::from(a.abs_diff(*b)))
        .collect();
    let mean = diffs.iter().sum::<u32>() as f64 / diffs.len() as f64;
    let large = diffs.iter().filter(|&&d| d > 16).count() as f64 / diffs.len() as f64;
    assert!(
        mean <= 0.5 && large <= 0.005,
        "{name}: mean difference {mean:.3}, {:.2}% off by more than 16; drawn {}",
        100.0 * large,
        keep()
    );
}

#[test]
fn figure_with_legend_matches_its_golden_image() {
    let (image, planes) = synthetic();
    let maps: Vec<Heatmap<'_>> = planes
        .iter()
        .map(|p| Heatmap {
            height: 6,
            width: 8,
            data: p,
        })
        .collect();
    // A centre crop: the strip at each side stays as it is.
    let region = CropRegion {
        x: 20.0,
        y: 0.0,
        width: 120.0,
        height: 120.0,
    };
    let overlay = factorization_overlay(&image, &region, &maps, DFF_IMAGE_WEIGHT);
    assert_eq!(overlay.get_pixel(5, 60), image.get_pixel(5, 60));
    let colours = concept_colours(3);
    let legend: Vec<LegendEntry> = [
        ["tiger cat 0.62", "tabby 0.21"],
        ["Egyptian cat 0.40", "lynx 0.10"],
        ["a rather long class name indeed, with more 0.05", "x 0.01"],
    ]
    .iter()
    .zip(colours.iter().copied())
    .map(|(lines, colour)| LegendEntry {
        colour,
        lines: lines.iter().map(|s| s.to_string()).collect(),
    })
    .collect();
    let layout = Layout {
        size: 120,
        font_size: 13.0,
    };
    let figure = factorization_figure(&overlay, &legend, layout).unwrap();
    // Each swatch's colour is in the figure.
    for colour in colours {
        assert!(figure.pixels().any(|p| p.0 == colour), "{colour:?}");
    }
    check_golden("factorization_figure", &figure);
}
