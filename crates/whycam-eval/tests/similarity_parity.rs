//! Parity with scipy and scikit-image: whycam-eval's Spearman and SSIM against
//! `tests/data/goldens/similarity.json`, made by
//! `~/venvs/sim/bin/python tools/reference/similarity_goldens.py` (see its docstring):
//! `scipy.stats.spearmanr` and `skimage.metrics.structural_similarity(data_range=1)` with its
//! defaults, on maps with ties, a constant map, a 7×7 map (one window) and smooth blobs.

use serde::Deserialize;
use whycam_eval::Map;
use whycam_eval::similarity::{spearman, ssim};
use whycam_testkit::data_dir;

#[derive(Deserialize)]
struct Golden {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    shape: [usize; 2],
    a: Vec<f32>,
    b: Vec<f32>,
    /// `None` where scipy returns NaN (a constant map).
    spearman: Option<f64>,
    ssim: f64,
}

#[test]
fn spearman_and_ssim_match_scipy_and_skimage() {
    let path = data_dir().join("goldens/similarity.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let golden: Golden = serde_json::from_str(&text).unwrap();
    assert_eq!(golden.cases.len(), 8);
    for case in &golden.cases {
        let a = Map::new(&case.a, case.shape).unwrap();
        let b = Map::new(&case.b, case.shape).unwrap();
        // Both computed in float64 from the same float32 values: only summation order differs.
        let s = ssim(a, b).unwrap();
        assert!(
            (s - case.ssim).abs() < 1e-9,
            "{}: ssim {s} vs {}",
            case.name,
            case.ssim
        );
        let rho = spearman(a, b).unwrap();
        match case.spearman {
            Some(expected) => {
                assert!(
                    (rho - expected).abs() < 1e-9,
                    "{}: spearman {rho} vs {expected}",
                    case.name
                )
            }
            // whycam's documented value for a constant map against a varying one.
            None => assert_eq!(rho, 0.0, "{}", case.name),
        }
    }
}
