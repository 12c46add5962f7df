//! Golden-image tests: overlays, colour bars, titled figures and contact sheets drawn from
//! fixed synthetic inputs, compared with the PNGs in `tests/golden/` within a tolerance
//! (glyph rasterisation and resampling may move a few pixel values). `UPDATE_GOLDEN=1 cargo
//! test -p whycam-render --test golden_images` rewrites them; look at them before committing.
//! On a mismatch the picture drawn is left in `target/golden-actual/` to compare.

use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};
use whycam_data::CropRegion;
use whycam_render::{
    Colormap, Heatmap, Layout, OverlayStyle, Panel, Tile, Verdict, centre_signed, contact_sheet,
    overlay, side_by_side, with_colorbar,
};

/// A 160×120 picture with structure in every channel.
fn original() -> RgbImage {
    RgbImage::from_fn(160, 120, |x, y| {
        let ring = (((x as f32 - 80.0).powi(2) + (y as f32 - 60.0).powi(2)).sqrt() / 6.0).sin();
        Rgb([
            (x * 255 / 159) as u8,
            (y * 255 / 119) as u8,
            (127.0 + 100.0 * ring) as u8,
        ])
    })
}

/// The centre 120×120 square, as a centre crop would see it.
fn region() -> CropRegion {
    CropRegion {
        x: 20.0,
        y: 0.0,
        width: 120.0,
        height: 120.0,
    }
}

/// A 7×7 blob off centre, in [0, 1].
fn blob() -> Vec<f32> {
    (0..49)
        .map(|i| {
            let (y, x) = ((i / 7) as f32, (i % 7) as f32);
            (-((x - 4.0).powi(2) + (y - 2.5).powi(2)) / 4.0).exp()
        })
        .collect()
}

fn heatmap(data: &[f32]) -> Heatmap<'_> {
    Heatmap {
        height: 7,
        width: 7,
        data,
    }
}

/// `data` in jet over the original, at the default opacity.
fn jet_overlay(data: &[f32]) -> RgbImage {
    overlay(
        &original(),
        &region(),
        heatmap(data),
        &OverlayStyle::default(),
    )
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Compares `actual` with `tests/golden/<name>.png`: same size, mean absolute difference at
/// most 0.5, and at most 0.5% of the channel values more than 16 apart.
fn check(name: &str, actual: &RgbImage) {
    let path = golden_dir().join(format!("{name}.png"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        actual.save(&path).unwrap();
        return;
    }
    let keep_actual = || {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/golden-actual");
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join(format!("{name}.png"));
        actual.save(&out).unwrap();
        out
    };
    let golden = image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()))
        .to_rgb8();
    if golden.dimensions() != actual.dimensions() {
        panic!(
            "{name}: size {:?}, golden {:?}; drawn: {}",
            actual.dimensions(),
            golden.dimensions(),
            keep_actual().display()
        );
    }
    let diffs: Vec<u32> = golden
        .as_raw()
        .iter()
        .zip(actual.as_raw())
        .map(|(a, b)| u32::from(a.abs_diff(*b)))
        .collect();
    let mean = diffs.iter().sum::<u32>() as f64 / diffs.len() as f64;
    let large = diffs.iter().filter(|&&d| d > 16).count() as f64 / diffs.len() as f64;
    if mean > 0.5 || large > 0.005 {
        panic!(
            "{name}: mean difference {mean:.3}, {:.2}% of values off by more than 16; drawn: {}",
            100.0 * large,
            keep_actual().display()
        );
    }
}

#[test]
fn overlay_jet_inside_the_crop_only() {
    let data = blob();
    let picture = jet_overlay(&data);
    // Outside the crop the original is untouched.
    assert_eq!(picture.get_pixel(5, 60), original().get_pixel(5, 60));
    check("overlay_jet", &picture);
}

#[test]
fn overlay_viridis_on_gray() {
    let data = blob();
    let style = OverlayStyle {
        colormap: Colormap::Viridis,
        alpha: 0.6,
        gray_background: true,
    };
    check(
        "overlay_viridis_gray",
        &overlay(&original(), &region(), heatmap(&data), &style),
    );
}

#[test]
fn signed_map_in_bwr_with_colour_bar() {
    let signed: Vec<f32> = blob()
        .iter()
        .enumerate()
        .map(|(i, v)| 3.0 * v - (i % 7) as f32 * 0.2)
        .collect();
    let (unit, m) = centre_signed(&signed);
    let style = OverlayStyle {
        colormap: Colormap::Bwr,
        alpha: 0.7,
        gray_background: false,
    };
    let picture = overlay(&original(), &region(), heatmap(&unit), &style);
    check(
        "signed_bwr_colorbar",
        &with_colorbar(&picture, Colormap::Bwr, -m, m, 12.0),
    );
}

#[test]
fn titled_figure_of_two_classes() {
    let data = blob();
    let flipped: Vec<f32> = data.iter().rev().copied().collect();
    let panels = [
        Panel {
            image: original(),
            title: "input".into(),
        },
        Panel {
            image: jet_overlay(&data),
            title: "cat prob = 0.999923".into(),
        },
        Panel {
            image: jet_overlay(&flipped),
            title: "dog prob = 0.000077".into(),
        },
    ];
    let layout = Layout {
        size: 120,
        font_size: 13.0,
    };
    check(
        "figure_two_classes",
        &side_by_side(&panels, layout).unwrap(),
    );
}

#[test]
fn contact_sheet_with_label_boxes() {
    let data = blob();
    let picture = jet_overlay(&data);
    let tile = |label: &str, verdict, note: Option<&str>| Tile {
        image: picture.clone(),
        label: label.into(),
        verdict,
        note: note.map(String::from),
    };
    let tiles = [
        tile("cat(0.97)", Verdict::Right, None),
        tile("dog(0.61)", Verdict::Wrong, Some("true: cat")),
        tile("tabby(0.42)", Verdict::Unknown, None),
        tile("a rather long class name(0.99)", Verdict::Right, None),
        tile("cat(0.88)", Verdict::Right, None),
    ];
    let layout = Layout {
        size: 96,
        font_size: 12.0,
    };
    check("grid_2x3", &contact_sheet(&tiles, 2, 3, layout).unwrap());
}
