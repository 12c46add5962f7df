//! The command line on a vision transformer exported to ONNX: `whycam models` lists DeiT's token
//! layers as needing `--tokens-grid`, `whycam explain` refuses them without one and explains
//! them with one. The library's side (maps against pytorch-grad-cam, the grid inference and its
//! errors) is `crates/whycam-cam/tests/onnx_vit.rs`; the small seeded-random model under
//! tests/data/onnx/ comes from `~/venvs/ref/bin/python tools/reference/vit_goldens.py`.

mod support;

use support::{data_dir, fails_with, s, stderr, whycam};

/// Without a grid, DeiT's token layers (198 tokens: not a square plus one, not a square) are
/// listed as needing --tokens-grid and refused with a message that asks for it; a grid that is
/// not HxW is refused; the grid given makes them 14x14 maps; a zoo CNN refuses a grid.
#[test]
fn the_command_line_asks_for_tokens_grid_and_explains_with_one() {
    let file = "onnx/deit_tiny_distilled.torchscript.onnx";
    let weights = s(&data_dir().join(file));
    let photo = s(&data_dir().join("photos224/chelsea.png"));
    let out = whycam(&["models", &weights]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        text.lines()
            .any(|l| l.starts_with("blocks.0.norm1 ") && l.contains("needs --tokens-grid")),
        "{text}"
    );
    let out = whycam(&["models", &weights, "--tokens-grid", "14x14"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("blocks.0.norm1 ")
            && l.contains("[64, 14, 14]")
            && l.contains("(default target)")
            && l.contains("2 leading tokens dropped")),
        "{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out_dir = s(&dir.path().join("out"));
    fails_with(
        &["explain", "--weights", &weights, "--out", &out_dir, &photo],
        &["blocks.0.norm1", "198 tokens", "--tokens-grid HxW"],
    );
    fails_with(
        &[
            "explain",
            "--weights",
            &weights,
            "--tokens-grid",
            "14",
            "--out",
            &out_dir,
            &photo,
        ],
        &["14x14"],
    );
    let out = whycam(&[
        "explain",
        "--weights",
        &weights,
        "--tokens-grid",
        "14x14",
        "--method",
        "gradcam,scorecam",
        "--save-raw",
        "--out",
        &out_dir,
        &photo,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(dir.path().join("out/chelsea.gradcam.npy")).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(npy.shape(), [14, 14]);
    // A zoo CNN has no token layers.
    fails_with(
        &[
            "explain",
            "--model",
            "resnet18",
            "--tokens-grid",
            "14x14",
            "--out",
            &out_dir,
            &photo,
        ],
        &["--tokens-grid 14x14", "resnet18"],
    );
}
