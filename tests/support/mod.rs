//! Helpers of the `whycam` binary's end-to-end tests: running the binary and reading what it
//! wrote. The fixtures, goldens and seeded weights that the library crates' tests use too come
//! from whycam-testkit.

#![allow(dead_code)]

// Every test binary includes this module and uses only some of it.
#[allow(unused_imports)]
pub use whycam_testkit::{
    assert_resumed_gradient_is_the_full_gradient, data_dir, fashion_mnist, golden, max_abs_diff,
    photo_batch, write_synthetic_weights, write_synthetic_weights_edited,
};

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// Runs the `whycam` binary built for these tests.
pub fn whycam(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_whycam"))
        .args(args)
        .output()
        .expect("run whycam")
}

/// A run's standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A JSON file, parsed.
pub fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("JSON")
}

/// Runs whycam, which must fail with each of `needles` in its error output.
pub fn fails_with(args: &[&str], needles: &[&str]) {
    let out = whycam(args);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(needles.iter().all(|n| err.contains(n)), "{err}");
}

/// A path as a string, for argument lists.
pub fn s(p: &Path) -> String {
    p.display().to_string()
}
