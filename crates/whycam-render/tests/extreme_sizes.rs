//! Pictures of extreme aspect ratios, written as real PNG files and decoded as whycam decodes
//! its inputs (issue 16): every picture drawn from them (titled figure, contact-sheet tile,
//! colour-bar figure, the report's thumbnails, embed's thumbnails) stays within a bounded box,
//! nothing panics, and drawing them all stays under a memory ceiling, measured in a child
//! process. A 200000 × 1 PNG of a few hundred bytes once made a titled figure allocate 20 GB,
//! and a 2000 × 1 one a figure 1,024,030 px wide.

use image::{Rgb, RgbImage};
use std::path::PathBuf;
use whycam_data::DecodeLimits;
use whycam_render::{
    Colormap, Layout, MAX_PIXELS, MAX_SIDE, Panel, Scatter, Tile, Verdict, contact_sheet,
    fit_within, side_by_side, with_colorbar,
};

const SHAPES: [(u32, u32); 3] = [(200_000, 1), (1, 200_000), (2000, 1)];

/// A `w × h` PNG written to disk and decoded back. The file name carries the process id
/// and the test's tag, so the two tests (and the child process) never share a file.
fn decoded(w: u32, h: u32, tag: &str) -> RgbImage {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("extreme-{tag}-{}-{w}x{h}.png", std::process::id()));
    RgbImage::from_fn(w, h, |x, y| Rgb([(x % 251) as u8, (y % 241) as u8, 90]))
        .save(&path)
        .unwrap();
    let image = whycam_data::load_rgb8(&path, &DecodeLimits::default()).unwrap();
    assert_eq!(image.dimensions(), (w, h));
    std::fs::remove_file(&path).unwrap();
    image
}

/// One picture drawn: what it is, its size, and the box it must fit in.
type Drawn = (&'static str, (u32, u32), (u32, u32));

/// What whycam draws from one input.
fn everything_drawn_from(image: &RgbImage) -> Vec<Drawn> {
    let layout = Layout::default();
    let panels = [
        Panel {
            image: image.clone(),
            title: "input".into(),
        },
        Panel {
            image: image.clone(),
            title: "cat prob = 0.999923".into(),
        },
    ];
    let figure = side_by_side(&panels, layout).unwrap();
    let tile = Tile {
        image: fit_within(image, 192, 192),
        label: "cat(0.97)".into(),
        verdict: Verdict::Wrong,
        note: Some("true: dog".into()),
    };
    let sheet = contact_sheet(
        &[tile],
        5,
        5,
        Layout {
            size: 192,
            font_size: 14.0,
        },
    )
    .unwrap();
    let signed = with_colorbar(image, Colormap::Bwr, -1.0, 1.0, 28.0);
    let classes = ["cat".to_string(), "dog".to_string()];
    let plot = Scatter {
        points: &[[0.0, 0.0], [1.0, 1.0]],
        labels: &[0, 1],
        classes: &classes,
        title: "t-SNE".into(),
        axes: ["x".into(), "y".into()],
    };
    let mut drawn = vec![
        // Two panels of at most 4 × 256 px, a title line and margins.
        ("titled figure", figure.dimensions(), (2 * 1034 + 10, 320)),
        ("contact sheet", sheet.dimensions(), (212, 270)),
        (
            "colour-bar figure",
            signed.dimensions(),
            (MAX_SIDE / 2 + 200, MAX_SIDE / 2 + 200),
        ),
    ];
    // The report's list, detail and figure pictures.
    for side in [160, 320, 448, 1200] {
        let picture = fit_within(image, side, side);
        drawn.push(("report picture", picture.dimensions(), (side, side)));
    }
    for side in [40, 160] {
        let picture = plot.png_with_thumbnails(1600, 1280, side, |_| Some(image.clone()));
        drawn.push(("embed thumbnails", picture.dimensions(), (1600, 1280)));
    }
    drawn
}

#[test]
fn every_picture_drawn_from_an_extreme_image_is_bounded() {
    for (w, h) in SHAPES {
        let image = decoded(w, h, "bounded");
        for (what, (dw, dh), (bw, bh)) in everything_drawn_from(&image) {
            assert!(
                (1..=bw).contains(&dw) && (1..=bh).contains(&dh),
                "{what} of a {w}x{h} image: {dw}x{dh}, over {bw}x{bh}"
            );
            assert!(u64::from(dw) * u64::from(dh) <= MAX_PIXELS);
        }
    }
}

/// Set in the child process that draws and reports its peak memory.
const CHILD: &str = "WHYCAM_RENDER_MEMORY_CHILD";

/// Peak resident memory of this process in KiB (`VmHWM`), on Linux.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn drawing_extreme_images_stays_under_a_memory_ceiling() {
    const NAME: &str = "drawing_extreme_images_stays_under_a_memory_ceiling";
    if std::env::var_os(CHILD).is_some() {
        for (w, h) in SHAPES {
            let image = decoded(w, h, "memory");
            everything_drawn_from(&image);
        }
        if let Some(kib) = peak_rss_kib() {
            println!("peak_rss_kib={kib}");
        }
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let Some(peak) = stdout
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_kib="))
        .and_then(|v| v.trim().parse::<u64>().ok())
    else {
        // No /proc here: the sizes are still checked by the test above.
        return;
    };
    // The drawings themselves are a few megabytes; the ceiling leaves room for the test
    // harness and allocator, and is a hundredth of what the unbounded figure took.
    assert!(peak < 256 * 1024, "peak resident memory {peak} KiB");
}
