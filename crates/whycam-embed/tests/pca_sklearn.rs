//! PCA against scikit-learn (`tools/reference/pca_golden.py`): the explained variance, its
//! ratio and the components (up to sign) within 1e-5, the 2-D projection within 1e-4.

use serde_json::Value;
use std::path::PathBuf;
use whycam_embed::Pca;

fn fixture(name: &str) -> (Vec<f32>, Value) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/embed");
    let bytes = std::fs::read(dir.join(format!("pca_{name}.npy"))).expect("fixture .npy");
    let x = npyz::NpyFile::new(&bytes[..])
        .expect("npy")
        .into_vec::<f32>()
        .expect("float32");
    let text = std::fs::read_to_string(dir.join(format!("pca_{name}.json"))).expect("golden");
    (x, serde_json::from_str(&text).expect("JSON"))
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn check(name: &str) {
    let (x, golden) = fixture(name);
    let get = |key: &str| golden[key].as_u64().expect(key) as usize;
    let (n, d, k) = (get("n"), get("d"), get("k"));
    let pca = Pca::fit(&x, n, d, k).expect("PCA");

    let ratio = max_diff(
        &pca.explained_variance_ratio,
        &floats(&golden["explained_variance_ratio"]),
    );
    let variance = max_diff(
        &pca.explained_variance,
        &floats(&golden["explained_variance"]),
    );
    let mut component = 0.0f64;
    for (mine, theirs) in pca
        .components
        .iter()
        .zip(golden["components"].as_array().unwrap())
    {
        let theirs = floats(theirs);
        // Up to sign: whichever sign fits better.
        let negated: Vec<f64> = theirs.iter().map(|v| -v).collect();
        component = component.max(max_diff(mine, &theirs).min(max_diff(mine, &negated)));
    }
    eprintln!(
        "{name}: max |diff| ratio {ratio:.2e}, variance {variance:.2e}, components {component:.2e}"
    );
    assert!(
        ratio < 1e-5,
        "{name}: explained variance ratio off by {ratio}"
    );
    assert!(
        variance < 1e-5 * pca.explained_variance[0],
        "{name}: variance off by {variance}"
    );
    assert!(component < 1e-5, "{name}: components off by {component}");

    // The projection on the first two components, each column up to the sign of its component.
    let mut two = pca.clone();
    two.components.truncate(2);
    let y = two.transform(&x, d);
    let theirs: Vec<Vec<f64>> = golden["projection"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    let scale = theirs.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    for c in 0..2 {
        let mine: Vec<f64> = (0..n).map(|i| y[2 * i + c] as f64).collect();
        let col: Vec<f64> = theirs.iter().map(|r| r[c]).collect();
        let neg: Vec<f64> = col.iter().map(|v| -v).collect();
        let diff = max_diff(&mine, &col).min(max_diff(&mine, &neg));
        assert!(
            diff < 1e-4 * scale,
            "{name}: projection column {c} off by {diff}"
        );
    }
}

#[test]
fn pca_matches_scikit_learn_with_more_points_than_features() {
    check("tall");
}

#[test]
fn pca_matches_scikit_learn_with_fewer_points_than_features() {
    check("wide");
}
