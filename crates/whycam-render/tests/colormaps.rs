//! whycam's colour maps against matplotlib's (`tests/data/colormaps.json`, written by
//! `tools/reference/colormap_goldens.py`): every table entry, points between entries, and
//! values outside [0, 1].

use whycam_render::Colormap;

#[test]
fn every_map_matches_matplotlib() {
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("data/colormaps.json")).expect("golden json");
    let xs: Vec<f64> = serde_json::from_value(golden["x"].clone()).unwrap();
    assert!(xs.len() > 256);
    for map in Colormap::ALL {
        let expected: Vec<[u8; 3]> = serde_json::from_value(golden["maps"][map.name()].clone())
            .unwrap_or_else(|e| {
                panic!("no golden for {map}: {e}");
            });
        let mut worst = (0i32, 0.0);
        for (&x, want) in xs.iter().zip(&expected) {
            let got = map.rgb(x as f32);
            for (g, w) in got.iter().zip(want) {
                let d = (i32::from(*g) - i32::from(*w)).abs();
                if d > worst.0 {
                    worst = (d, x);
                }
            }
        }
        // The tables are matplotlib's; a difference of 1 can only come from rounding.
        assert!(
            worst.0 <= 1,
            "{map}: off matplotlib by {} at x = {}",
            worst.0,
            worst.1
        );
    }
}

#[test]
fn colorous_turbo_is_not_matplotlibs() {
    // Why turbo.rs exists: colorous's turbo is d3's polynomial approximation.
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("data/colormaps.json")).unwrap();
    let expected: Vec<[u8; 3]> = serde_json::from_value(golden["maps"]["turbo"].clone()).unwrap();
    let xs: Vec<f64> = serde_json::from_value(golden["x"].clone()).unwrap();
    let worst = xs
        .iter()
        .zip(&expected)
        .filter(|(x, _)| (0.0..=1.0).contains(*x))
        .map(|(&x, want)| {
            let c = colorous::TURBO.eval_continuous(x);
            [c.r, c.g, c.b]
                .iter()
                .zip(want)
                .map(|(g, w)| (i32::from(*g) - i32::from(*w)).abs())
                .max()
                .unwrap()
        })
        .max()
        .unwrap();
    assert!(
        worst > 2,
        "colorous turbo now matches ({worst}); use it instead of turbo.rs"
    );
}
