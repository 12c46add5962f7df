//! Running one case of a test in a child process, the test binary re-executed on itself
//! with the case named in the environment, and reading the child's peak memory (`VmHWM` of
//! `/proc/self/status`, Linux only): where memory was the problem, the ceiling is asserted
//! on a process that did nothing else.

// Each test file uses part of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Names the case to run, in the child.
const CASE: &str = "WHYCAM_DATA_CHILD_CASE";
/// The folder holding the case's files, in the child.
const DIR: &str = "WHYCAM_DATA_CHILD_DIR";

/// What a child reported.
pub struct ChildRun {
    /// What the case printed as its result (an error message, say).
    pub result: String,
    /// Its peak resident memory in bytes, where the system tells it.
    pub peak_bytes: Option<u64>,
    /// How long the child ran, start-up included.
    pub elapsed: Duration,
}

/// In a child: the case to run and its folder; `None` in the parent.
pub fn child_case() -> Option<(String, PathBuf)> {
    let case = std::env::var(CASE).ok()?;
    let dir = std::env::var_os(DIR)?;
    Some((case, PathBuf::from(dir)))
}

/// In a child: hands the case's result and this process's peak memory to the parent.
pub fn report(result: &str) {
    println!("CHILD-RESULT: {}", result.replace('\n', " "));
    if let Some(peak) = peak_rss_bytes() {
        println!("CHILD-PEAK-BYTES: {peak}");
    }
}

/// Runs the test `test` (the caller's own name, as the harness knows it) in a child with
/// `case` and `dir`, and returns what it reported. Panics when the child fails.
pub fn run_child(test: &str, case: &str, dir: &Path) -> ChildRun {
    let start = Instant::now();
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CASE, case)
        .env(DIR, dir)
        .output()
        .expect("run the test binary again");
    let elapsed = start.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "case {case} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let field = |name: &str| {
        stdout
            .lines()
            // The harness may have printed the test's name on the same line.
            .find_map(|l| l.split_once(name).map(|(_, value)| value))
            .map(str::to_string)
    };
    let result =
        field("CHILD-RESULT: ").unwrap_or_else(|| panic!("case {case} reported nothing: {stdout}"));
    let peak_bytes = field("CHILD-PEAK-BYTES: ").and_then(|v| v.parse().ok());
    ChildRun {
        result,
        peak_bytes,
        elapsed,
    }
}

/// Asserts that `run` stayed under `ceiling` bytes of memory (where that can be read) and
/// finished within `time`.
pub fn assert_cheap(case: &str, run: &ChildRun, ceiling: u64, time: Duration) {
    if let Some(peak) = run.peak_bytes {
        assert!(
            peak < ceiling,
            "case {case} peaked at {peak} bytes, over {ceiling}: {}",
            run.result
        );
    }
    assert!(
        run.elapsed < time,
        "case {case} took {:?}: {}",
        run.elapsed,
        run.result
    );
}

fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
