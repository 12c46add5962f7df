//! Runs that are cut short or shared, as a user meets them (issue 16): Ctrl-C and SIGKILL
//! in the middle of `explain`, `--resume`, two runs into one directory, an input whose name
//! is a run-level file's, weights that are not numbers and data with one class.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{data_dir, golden, s, stderr, whycam, write_synthetic_weights_edited};

/// A run's `explanations.json`, parsed.
fn summary_of(dir: &Path) -> Value {
    support::json(&dir.join("explanations.json"))
}

/// `n` photos named `p00.png`... (the five test photos over and over), in `dir/photos`.
fn photos(dir: &Path, n: usize) -> PathBuf {
    let src = data_dir().join("photos224");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let out = dir.join("photos");
    std::fs::create_dir_all(&out).unwrap();
    for i in 0..n {
        std::fs::copy(&names[i % names.len()], out.join(format!("p{i:02}.png"))).unwrap();
    }
    out
}

fn explain_args(out: &Path, inputs: &Path) -> Vec<String> {
    [
        "explain",
        "--method",
        "gradcam,cam",
        "--save-raw",
        "--figure",
        "--grid",
        "3x3",
        "--report",
        "--batch-size",
        "2",
        "--out",
        &s(out),
        &s(inputs),
    ]
    .map(String::from)
    .to_vec()
}

/// Runs `explain` with [`explain_args`] to its end, resuming the run in `out` if asked.
fn explain(out: &Path, inputs: &Path, resume: bool) -> std::process::Output {
    let mut args = explain_args(out, inputs);
    if resume {
        args.push("--resume".into());
    }
    whycam(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn start(args: &[String]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_whycam"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start whycam")
}

/// Every file of a directory, by name (the lock and journal excepted).
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Asserts that every output in `dir` is whole: PNGs decode, arrays parse, JSON parses. A
/// killed run may leave its temporary files (hidden, `.whycam-*.part`), never a cut output;
/// after a completed run none is left.
fn assert_whole(dir: &Path, killed: bool) {
    for name in files(dir) {
        let path = dir.join(&name);
        if name.ends_with(".part") {
            assert!(
                killed && name.starts_with(".whycam-"),
                "temporary file left: {name}"
            );
            continue;
        }
        if name.ends_with(".png") {
            image::open(&path).unwrap_or_else(|e| panic!("{name} is cut: {e}"));
        } else if name.ends_with(".npy") {
            let bytes = std::fs::read(&path).unwrap();
            let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
            let values: Vec<f32> = npy.into_vec().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!values.is_empty(), "{name}");
        } else if name.ends_with(".json") {
            let text = std::fs::read_to_string(&path).unwrap();
            serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

/// The outputs of a run, with its directory's path replaced so two runs compare.
fn outputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let prefix = s(dir);
    files(dir)
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(dir.join(&name)).unwrap();
            let bytes = if name.ends_with(".json") || name.ends_with(".html") {
                String::from_utf8(bytes)
                    .unwrap()
                    .replace(&prefix, "OUT")
                    .into_bytes()
            } else {
                bytes
            };
            (name, bytes)
        })
        .collect()
}

fn assert_same_outputs(resumed: &Path, whole: &Path) {
    let (a, b) = (outputs(resumed), outputs(whole));
    let names = |o: &[(String, Vec<u8>)]| o.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b));
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs from the uninterrupted run's");
    }
}

#[test]
fn killed_runs_leave_whole_files_and_resume_to_the_uninterrupted_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = photos(tmp.path(), 40);
    let whole = tmp.path().join("whole");
    let run = explain(&whole, &inputs, false);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_whole(&whole, false);
    // Kill at several points of the run (times spread over a run's length), checking after
    // each that what is there is whole, then let --resume finish.
    let started = Instant::now();
    let probe = explain(&tmp.path().join("probe"), &inputs, false);
    assert!(probe.status.success());
    let length = started.elapsed();
    for (trial, fraction) in [0.25, 0.5, 0.8].into_iter().enumerate() {
        let out = tmp.path().join(format!("killed{trial}"));
        let mut child = start(&explain_args(&out, &inputs));
        std::thread::sleep(length.mul_f64(fraction));
        child.kill().unwrap();
        child.wait().unwrap();
        if out.is_dir() {
            assert_whole(&out, true);
        }
        let resumed = explain(&out, &inputs, true);
        assert!(resumed.status.success(), "{}", stderr(&resumed));
        assert_whole(&out, false);
        assert_same_outputs(&out, &whole);
    }
}

#[test]
fn ctrl_c_writes_what_is_done_and_resume_finishes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = photos(tmp.path(), 120);
    let out = tmp.path().join("out");
    let child = start(&explain_args(&out, &inputs));
    // Wait for the first overlays, then interrupt.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(out.is_dir() && files(&out).iter().any(|f| f.ends_with(".gradcam.png"))) {
        assert!(Instant::now() < deadline, "no output appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let message = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{message}");
    assert!(message.contains("--resume"), "{message}");
    let summary = summary_of(&out);
    assert_eq!(summary["interrupted"], true);
    let done = summary["images"].as_array().unwrap().len();
    assert!(done < 120, "{done}");
    assert_whole(&out, false);
    let resumed = explain(&out, &inputs, true);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let whole = tmp.path().join("whole");
    let run = explain(&whole, &inputs, false);
    assert!(run.status.success());
    assert_same_outputs(&out, &whole);
}

#[test]
fn a_second_run_into_a_busy_directory_is_refused_and_a_stale_lock_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let photo = s(&data_dir().join("photos224/chelsea.png"));
    // Process 1 always runs: the directory is busy.
    std::fs::write(out.join(".whycam.lock"), "1").unwrap();
    let busy = whycam(&["explain", "--out", &s(&out), &photo]);
    assert_eq!(busy.status.code(), Some(2));
    let message = stderr(&busy);
    assert!(
        message.contains("in use by another whycam run (process 1)") && message.contains(&s(&out)),
        "{message}"
    );
    assert!(!out.join("explanations.json").exists());
    // A lock whose process is gone is taken over, and removed at the end.
    std::fs::write(out.join(".whycam.lock"), "4194303").unwrap();
    let run = whycam(&["explain", "--out", &s(&out), &photo]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(!out.join(".whycam.lock").exists());
    // A resumed run with other settings is refused.
    let other = whycam(&[
        "explain",
        "--method",
        "cam",
        "--resume",
        "--out",
        &s(&out),
        &photo,
    ]);
    assert_eq!(other.status.code(), Some(2));
    assert!(
        stderr(&other).contains("other settings"),
        "{}",
        stderr(&other)
    );
}

#[test]
fn an_input_named_like_a_contact_sheet_keeps_its_own_overlay() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    std::fs::copy(
        data_dir().join("photos224/chelsea.png"),
        inputs.join("grid.png"),
    )
    .unwrap();
    std::fs::copy(
        data_dir().join("photos224/coffee.png"),
        inputs.join("coffee.png"),
    )
    .unwrap();
    let out = tmp.path().join("out");
    let run = whycam(&["explain", "--grid", "2x2", "--out", &s(&out), &s(&inputs)]);
    assert!(run.status.success(), "{}", stderr(&run));
    let summary = summary_of(&out);
    let grid_input = summary["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"].as_str().unwrap().ends_with("grid.png"))
        .unwrap();
    let overlay = grid_input["explanations"][0]["files"][0].as_str().unwrap();
    assert!(overlay.ends_with("grid-2.gradcam.png"), "{overlay}");
    assert_eq!(
        summary["grids"][0].as_str().unwrap(),
        s(&out.join("grid.gradcam.png"))
    );
    // The overlay is the photo's size, the sheet a 2x2 page of tiles.
    let (sheet, own) = (
        image::open(out.join("grid.gradcam.png")).unwrap(),
        image::open(overlay).unwrap(),
    );
    assert_eq!((own.width(), own.height()), (224, 224));
    assert!(sheet.width() > 2 * 192);
}

#[test]
fn weights_that_are_not_numbers_are_refused_naming_the_tensors() {
    let tmp = tempfile::tempdir().unwrap();
    let weights = tmp.path().join("resnet18.safetensors");
    write_synthetic_weights_edited(
        &golden("resnet18"),
        &weights,
        |n| n.to_string(),
        |name, values| match name {
            "layer2.0.conv1.weight" => values[7] = f32::NAN,
            "fc.bias" => values[0] = f32::INFINITY,
            _ => {}
        },
    );
    let photo = s(&data_dir().join("photos224/chelsea.png"));
    let run = whycam(&[
        "predict",
        "--model",
        "resnet18",
        "--weights",
        &s(&weights),
        &photo,
    ]);
    assert_eq!(run.status.code(), Some(2));
    let message = stderr(&run);
    assert!(
        message.contains(&s(&weights))
            && message.contains("layer2.0.conv1.weight")
            && message.contains("fc.bias")
            && message.contains("NaN and infinity"),
        "{message}"
    );
}

#[test]
fn training_data_with_one_class_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data/cat");
    std::fs::create_dir_all(&data).unwrap();
    for i in 0..4 {
        std::fs::copy(
            data_dir().join("photos224/chelsea.png"),
            data.join(format!("c{i}.png")),
        )
        .unwrap();
    }
    let run = whycam(&[
        "train",
        "--valid-fraction",
        "0",
        "--out",
        &s(&tmp.path().join("run")),
        &s(&tmp.path().join("data")),
    ]);
    assert_eq!(run.status.code(), Some(2));
    let message = stderr(&run);
    assert!(
        message.contains("at least two classes") && message.contains("cat"),
        "{message}"
    );
    assert!(!tmp.path().join("run/last.safetensors").exists());
}

#[test]
fn a_cut_jpeg_is_refused_unless_allowed_and_then_carries_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let photo = image::open(data_dir().join("photos224/chelsea.png"))
        .unwrap()
        .to_rgb8();
    let whole = tmp.path().join("whole.jpg");
    photo.save(&whole).unwrap();
    let bytes = std::fs::read(&whole).unwrap();
    let cut = tmp.path().join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = tmp.path().join("out");
    let run = whycam(&["explain", "--out", &s(&out), &s(&cut), &s(&whole)]);
    assert_eq!(run.status.code(), Some(1));
    assert!(stderr(&run).contains("truncated"), "{}", stderr(&run));
    let summary = summary_of(&out);
    assert_eq!(summary["images"].as_array().unwrap().len(), 1);
    assert_eq!(summary["errors"][0]["kind"], "decode");
    let allowed = tmp.path().join("allowed");
    let run = whycam(&[
        "explain",
        "--allow-truncated",
        "--report",
        "--out",
        &s(&allowed),
        &s(&cut),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(stderr(&run).contains("warning"), "{}", stderr(&run));
    let summary = summary_of(&allowed);
    let warnings = summary["images"][0]["warnings"].as_array().unwrap();
    assert!(
        warnings[0].as_str().unwrap().contains("truncated"),
        "{warnings:?}"
    );
    // The report reads the cut photo as leniently as the run did: nothing is missing.
    let report = std::fs::read_to_string(allowed.join("report.html")).unwrap();
    assert!(report.contains("\"missing\":[]"), "a picture is missing");
    assert!(
        !report.contains("\"original\":null"),
        "the original is missing"
    );
}

#[test]
fn control_characters_in_names_reach_the_terminal_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    // An escape sequence that would set the terminal's title, and one that clears it.
    let evil = tmp.path().join("cat\u{1b}]0;pwned\u{7}\u{1b}[2J.png");
    std::fs::copy(data_dir().join("photos224/chelsea.png"), &evil).unwrap();
    let missing = tmp.path().join("gone\u{1b}[31m.png");
    let out = tmp.path().join("out");
    let run = whycam(&["explain", "--out", &s(&out), &s(&evil), &s(&missing)]);
    assert_eq!(run.status.code(), Some(1));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
    }
    assert!(stdout.contains("cat\\u{1b}]0;pwned\\u{7}"), "{stdout}");
    assert!(stderr.contains("gone\\u{1b}[31m.png"), "{stderr}");
    // The files and the summary keep the name as it is.
    let summary = summary_of(&out);
    assert_eq!(summary["images"][0]["image"].as_str().unwrap(), s(&evil));
}

#[cfg(unix)]
#[test]
fn names_that_are_not_utf8_are_kept_byte_for_byte_and_shown_escaped() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    // "café" in Latin-1, and a name that is nothing but an invalid byte.
    let latin1 = inputs.join(OsStr::from_bytes(b"caf\xe9.png"));
    std::fs::copy(data_dir().join("photos224/chelsea.png"), &latin1).unwrap();
    std::fs::copy(
        data_dir().join("photos224/coffee.png"),
        inputs.join(OsStr::from_bytes(b"\xff.png")),
    )
    .unwrap();
    let missing = tmp.path().join(OsStr::from_bytes(b"gone\xfe.png"));
    let out = tmp.path().join("out");
    let run_explain = |resume: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_whycam"));
        command.args(["explain", "--save-raw", "--figure", "--report", "--out"]);
        command.arg(&out).arg(&inputs).arg(&missing);
        if resume {
            command.arg("--resume");
        }
        command.output().unwrap()
    };
    let run = run_explain(false);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    // The files carry the input's own bytes.
    for stem in [&b"caf\xe9"[..], b"\xff"] {
        for suffix in [".gradcam.png", ".gradcam.npy", ".gradcam.figure.png"] {
            let name = [stem, suffix.as_bytes()].concat();
            let path = out.join(OsStr::from_bytes(&name));
            assert!(path.is_file(), "{} missing", path.display());
        }
    }
    // Shown, the bytes that are not UTF-8 are \xNN escapes, never U+FFFD.
    let (stdout, err) = (
        String::from_utf8(run.stdout.clone()).unwrap(),
        String::from_utf8(run.stderr.clone()).unwrap(),
    );
    assert!(
        stdout.contains("caf\\xe9") && stdout.contains("\\xff"),
        "{stdout}"
    );
    assert!(err.contains("gone\\xfe.png"), "{err}");
    let json_text = std::fs::read_to_string(out.join("explanations.json")).unwrap();
    assert!(!json_text.contains('\u{fffd}'), "{json_text}");
    let summary = summary_of(&out);
    let image = summary["images"][0]["image"].as_str().unwrap();
    assert!(image.ends_with("/in/caf\\xe9.png"), "{image}");
    let overlay = summary["images"][0]["explanations"][0]["files"][0]
        .as_str()
        .unwrap();
    assert!(overlay.ends_with("/caf\\xe9.gradcam.png"), "{overlay}");
    assert!(
        summary["errors"][0]["error"]
            .as_str()
            .unwrap()
            .contains("gone\\xfe.png")
    );
    // The report shows the escaped name and found the overlay by its bytes: its picture is
    // inlined after the name.
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.contains("caf\\\\xe9.png"), "name not shown");
    assert!(
        report.contains("caf\\\\xe9.gradcam.png\",\"thumb\":\"data:image/jpeg;base64,"),
        "overlay missing from the report"
    );
    // A resumed run finds the earlier files by their bytes and keeps them.
    let before = std::fs::read(out.join(OsStr::from_bytes(b"caf\xe9.gradcam.npy"))).unwrap();
    let resumed = run_explain(true);
    assert_eq!(resumed.status.code(), Some(1), "{}", stderr(&resumed));
    let after = summary_of(&out);
    assert_eq!(after["images"], summary["images"]);
    assert_eq!(
        std::fs::read(out.join(OsStr::from_bytes(b"caf\xe9.gradcam.npy"))).unwrap(),
        before
    );
    assert!(
        !out.join(OsStr::from_bytes(b"caf\xe9-2.gradcam.png"))
            .exists(),
        "the resumed run explained the image again"
    );
}
