//! `whycam explain --figure --signed --grid --report` and `whycam report`, end to end; the
//! report is opened in a real browser, Debian's chromium run headless (the README's test command
//! installs it). The page's `#selftest` mode loads every picture and opens a detail view, then
//! writes what rendered into the page, which `--dump-dom` returns. A screenshot is kept in
//! `target/test-artifacts/report.png`. A run over files with hostile names (and a summary with
//! hostile labels) shows that no value from outside runs as a script in the page.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{data_dir, whycam};

/// Four photos, two in a folder named after a class (`tabby`: one of them, chelsea, is a
/// tiger cat to the model, so it is misclassified), and a file that is not an image.
fn inputs(root: &Path) -> PathBuf {
    let dir = root.join("inputs");
    std::fs::create_dir_all(dir.join("tabby")).unwrap();
    std::fs::create_dir_all(dir.join("misc")).unwrap();
    let photos = data_dir().join("photos224");
    std::fs::copy(photos.join("chelsea.png"), dir.join("tabby/chelsea.png")).unwrap();
    std::fs::copy(
        photos.join("astronaut.png"),
        dir.join("tabby/astronaut.png"),
    )
    .unwrap();
    std::fs::copy(photos.join("coffee.png"), dir.join("misc/coffee.png")).unwrap();
    std::fs::copy(photos.join("rocket.png"), dir.join("misc/rocket.png")).unwrap();
    std::fs::write(dir.join("misc/broken.jpg"), b"not a jpeg").unwrap();
    dir
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("explanations.json")).unwrap()).unwrap()
}

/// A chromium-like browser: `WHYCAM_CHROMIUM`, or the first of the usual names on PATH.
fn browser() -> PathBuf {
    if let Some(path) = std::env::var_os("WHYCAM_CHROMIUM") {
        return path.into();
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("which").arg(name).output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!(
        "no chromium found: the README's test command installs Debian's chromium \
         (apt-get install chromium), or set WHYCAM_CHROMIUM"
    );
}

fn headless(browser: &Path, profile: &Path) -> Command {
    let mut command = Command::new(browser);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--log-level=0",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// The page as the browser left it after its `#selftest`, and what the browser logged.
struct Rendered {
    dom: String,
    log: String,
}

impl Rendered {
    /// What the page's self-test reported (it fails when the page's script did not run to
    /// its end).
    fn selftest(&self) -> Value {
        let open = "<pre id=\"selftest\">";
        let start = self
            .dom
            .find(open)
            .unwrap_or_else(|| panic!("the self-test did not finish; browser log:\n{}", self.log));
        let text = &self.dom[start + open.len()..];
        let text = &text[..text.find("</pre>").unwrap()];
        let text = text
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
        serde_json::from_str(&text).unwrap()
    }

    /// The browser's console messages.
    fn console(&self) -> Vec<&str> {
        self.log.lines().filter(|l| l.contains("CONSOLE")).collect()
    }
}

/// Opens `report` headless in `#selftest` mode.
fn render_in_browser(browser: &Path, profile: &Path, report: &Path) -> Rendered {
    let url = format!("file://{}#selftest", report.display());
    let out = headless(browser, profile)
        .args(["--virtual-time-budget=30000", "--dump-dom"])
        .arg(&url)
        .output()
        .expect("run chromium");
    Rendered {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        log: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn figures_grids_and_a_report_that_renders_in_a_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = inputs(tmp.path());
    let out = tmp.path().join("out");
    let result = whycam(&[
        "explain",
        "--method",
        "gradcam,cam",
        "--top-k",
        "2",
        "--figure",
        "--signed",
        "--grid",
        "2x2",
        "--colormap",
        "turbo",
        "--report",
        "--out",
        out.to_str().unwrap(),
        inputs.to_str().unwrap(),
    ]);
    // The broken file fails the run, and everything else is written.
    assert_eq!(
        result.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let s = summary(&out);
    assert_eq!(s["images"].as_array().unwrap().len(), 4);
    assert_eq!(s["errors"].as_array().unwrap().len(), 1);
    // 4 images on a 2x2 page: one sheet per method.
    assert_eq!(s["grids"].as_array().unwrap().len(), 2);
    for grid in s["grids"].as_array().unwrap() {
        let image = image::open(grid.as_str().unwrap()).unwrap();
        assert!(image.width() > 2 * 192 && image.height() > 2 * 192);
    }
    let chelsea = s["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"].as_str().unwrap().ends_with("chelsea.png"))
        .unwrap();
    assert_eq!(chelsea["truth"]["label"], "tabby");
    assert_eq!(chelsea["truth"]["correct"], false);
    assert_eq!(chelsea["figures"].as_array().unwrap().len(), 2);
    let files = chelsea["explanations"][0]["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .any(|f| f.as_str().unwrap().ends_with(".signed.png"))
    );
    // Probabilities of the two targets are the two best classes'.
    let p0 = chelsea["explanations"][0]["target"]["probability"]
        .as_f64()
        .unwrap();
    assert!((p0 - chelsea["top"][0]["probability"].as_f64().unwrap()).abs() < 1e-6);
    let report = out.join("report.html");
    let html = std::fs::read_to_string(&report).unwrap();
    // Self-contained: no request leaves the file.
    for needle in ["http://", "https://", "src=\"/", "<link"] {
        assert!(!html.contains(needle), "the report references {needle}");
    }

    let browser = browser();
    let profile = tmp.path().join("profile");
    let rendered = render_in_browser(&browser, &profile, &report);
    let result = rendered.selftest();
    assert_eq!(result["rows"], 4, "{result}");
    assert_eq!(result["expectedRows"], 4, "{result}");
    assert_eq!(
        result["rendered"], result["images"],
        "pictures that did not render: {result}"
    );
    // 4 originals + 4 images × 4 overlays in the list, and the detail view's pictures.
    assert!(result["images"].as_u64().unwrap() >= 20, "{result}");
    assert_eq!(result["missing"], 0, "{result}");
    assert_eq!(
        result["errorsShown"], 1,
        "the failed input is listed: {result}"
    );
    assert_eq!(result["problems"].as_array().unwrap().len(), 0, "{result}");
    // Nothing logged, so in particular no Content-Security-Policy violation.
    let console = rendered.console();
    assert!(console.is_empty(), "console output: {console:#?}");

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("report.png");
    let _ = std::fs::remove_file(&screenshot);
    let shot = headless(&browser, &profile)
        .args(["--window-size=1280,1400", "--virtual-time-budget=10000"])
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(format!("file://{}", report.display()))
        .output()
        .expect("run chromium");
    let picture = image::open(&screenshot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}); browser log:\n{}",
            String::from_utf8_lossy(&shot.stderr)
        )
    });
    assert_eq!((picture.width(), picture.height()), (1280, 1400));
}

#[test]
fn report_command_rebuilds_the_page_and_refuses_a_directory_without_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let photo = data_dir().join("photos224/coffee.png");
    let result = whycam(&[
        "explain",
        "--out",
        out.to_str().unwrap(),
        photo.to_str().unwrap(),
    ]);
    assert!(result.status.success());
    let page = tmp.path().join("page.html");
    let result = whycam(&[
        "report",
        "--out",
        page.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("data:image/jpeg;base64,"));

    let result = whycam(&["report", tmp.path().to_str().unwrap()]);
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("explanations.json"), "{stderr}");
}

#[test]
fn a_grid_over_zero_images_is_an_error_not_an_empty_file() {
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken.png");
    std::fs::write(&broken, b"not a png").unwrap();
    let out = tmp.path().join("out");
    let result = whycam(&[
        "explain",
        "--grid",
        "3x3",
        "--out",
        out.to_str().unwrap(),
        broken.to_str().unwrap(),
    ]);
    assert_ne!(result.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("--grid") && stderr.contains("no image"),
        "{stderr}"
    );
    assert!(
        !std::fs::read_dir(&out).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("grid"))
    );
    let bad = whycam(&["explain", "--grid", "0x3", broken.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("1 to 400 tiles"));
}

/// The payloads set the page's title or mark its root element; the test checks neither
/// happened. Each file name (or path, where a name needs a `/`) would run one if it reached
/// the page as HTML or as a link.
const PWNED_TITLE: &str = "document.title='PWNED'";
const PWNED_MARK: &str = "document.documentElement.dataset.pwned=1";

/// Copies of a photo under hostile names, and a broken "image" with one, in `root/inputs`.
/// Returns the input folder and the names as they appear in the summary's paths.
fn hostile_inputs(root: &Path) -> (PathBuf, Vec<String>) {
    let dir = root.join("inputs");
    let photo = data_dir().join("photos224/coffee.png");
    let names = [
        // Made the page blank: the data block never closed.
        format!("<!--<script>{PWNED_TITLE}.png"),
        // A `/` cannot be in a name, so `</script>` spans folders.
        format!("<</script><script>{PWNED_MARK}</script>.png"),
        // A link in reports above 200 images.
        format!("javascript:{PWNED_TITLE}.png"),
        format!("\"><img src=x onerror={PWNED_MARK}>.png"),
        "line\u{2028}and\u{2029}para'.png".to_string(),
    ];
    for name in &names {
        let path = dir.join("hostile").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::copy(&photo, &path).unwrap();
    }
    let broken = dir.join(format!("hostile/<img src=x onerror={PWNED_TITLE}>.jpg"));
    std::fs::write(&broken, b"not a jpeg").unwrap();
    (dir, names.to_vec())
}

/// `text` as the browser writes a text node when it dumps the page.
fn as_dom_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Opens `report` and checks that every row rendered, nothing logged (no error, no CSP
/// violation), no payload ran, and each name shows as text.
fn renders_safely(browser: &Path, profile: &Path, report: &Path, names: &[String], shown: &[&str]) {
    let html = std::fs::read_to_string(report).unwrap();
    assert!(html.contains("<meta http-equiv=\"Content-Security-Policy\""));
    for needle in ["http://", "https://", "<link"] {
        assert!(!html.contains(needle), "the report references {needle}");
    }
    let rendered = render_in_browser(browser, profile, report);
    let dom = &rendered.dom;
    // No payload ran: the title is the page's own, the root element is unmarked, and no
    // element got an event handler attribute. Checked first, so an injection that also
    // breaks the page is reported as what it is.
    let title = &dom[dom.find("<title>").unwrap() + 7..dom.find("</title>").unwrap()];
    assert!(
        title.starts_with("whycam: "),
        "a script set the title: {title}"
    );
    let root = &dom[dom.find("<html").unwrap()..];
    let root = &root[..root.find('>').unwrap()];
    assert!(!root.contains("pwned"), "a script marked the page: {root}");
    assert!(
        !dom.contains("onerror=\""),
        "an element with a handler: {dom}"
    );
    let result = rendered.selftest();
    assert_eq!(result["rows"], names.len(), "{result}");
    assert_eq!(result["expectedRows"], names.len(), "{result}");
    assert_eq!(result["rendered"], result["images"], "{result}");
    assert!(
        result["images"].as_u64().unwrap() >= 2 * names.len() as u64,
        "{result}"
    );
    assert_eq!(result["errorsShown"], 1, "{result}");
    assert_eq!(result["problems"].as_array().unwrap().len(), 0, "{result}");
    // Nothing logged: no error, and no Content-Security-Policy violation (which a payload
    // that got into the page would cause).
    let console = rendered.console();
    assert!(console.is_empty(), "console output: {console:#?}");
    for name in names {
        assert!(dom.contains(&as_dom_text(name)), "{name} is not shown");
    }
    for text in shown {
        assert!(dom.contains(&as_dom_text(text)), "{text} is not shown");
    }
}

#[test]
fn a_report_of_hostile_names_runs_no_script_and_renders_every_row() {
    let tmp = tempfile::tempdir().unwrap();
    let (inputs, names) = hostile_inputs(tmp.path());
    let out = tmp.path().join("out");
    let result = whycam(&[
        "explain",
        "--method",
        "gradcam",
        "--figure",
        "--report",
        "--out",
        out.to_str().unwrap(),
        inputs.to_str().unwrap(),
    ]);
    // The broken file fails the run; the hostile names are explained.
    assert_eq!(
        result.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let mut s = summary(&out);
    assert_eq!(s["images"].as_array().unwrap().len(), names.len());
    let browser = browser();
    let profile = tmp.path().join("profile");
    renders_safely(&browser, &profile, &out.join("report.html"), &names, &[]);

    // Labels, true labels, the model's name and error messages come from outside too (a
    // model's class list, a --truth file): the same page rebuilt with hostile ones.
    let label = format!("<!--<script>{PWNED_TITLE}</script>");
    let model = format!("\"><svg onload={PWNED_MARK}>");
    let error = format!("</script><script>{PWNED_MARK}</script>\u{2028}");
    s["model"] = Value::from(model.clone());
    for image in s["images"].as_array_mut().unwrap() {
        image["prediction"]["label"] = Value::from(label.clone());
        for class in image["top"].as_array_mut().unwrap() {
            class["label"] = Value::from(label.clone());
        }
        image["truth"] =
            serde_json::json!({ "index": 0, "label": error.clone(), "correct": false });
        image["explanations"][0]["target"]["label"] = Value::from(label.clone());
    }
    s["errors"][0]["error"] = Value::from(error.clone());
    std::fs::write(out.join("explanations.json"), s.to_string()).unwrap();
    let page = tmp.path().join("hostile.html");
    let result = whycam(&[
        "report",
        "--out",
        page.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    renders_safely(&browser, &profile, &page, &names, &[&label, &model, &error]);
}

#[test]
fn evaluate_in_an_explain_directory_adds_a_faithfulness_section() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let photos = [
        data_dir().join("photos224/coffee.png"),
        data_dir().join("photos224/rocket.png"),
    ];
    let photos: Vec<&str> = photos.iter().map(|p| p.to_str().unwrap()).collect();
    let explain = whycam(
        &[
            &["explain", "--method", "gradcam,cam", "--report", "--out"],
            &[out.to_str().unwrap()][..],
            &photos,
        ]
        .concat(),
    );
    assert!(explain.status.success());
    let evaluate = whycam(
        &[
            &[
                "evaluate",
                "--method",
                "gradcam,cam",
                "--metric",
                "avg-drop,deletion,insertion",
                "--steps",
                "5",
                "--out",
            ],
            &[out.to_str().unwrap()][..],
            &photos,
        ]
        .concat(),
    );
    let stderr = String::from_utf8_lossy(&evaluate.stderr);
    assert!(evaluate.status.success(), "{stderr}");
    assert!(stderr.contains("report.html"), "{stderr}");
    let profile = tmp.path().join("profile");
    let rendered = render_in_browser(&browser(), &profile, &out.join("report.html"));
    let result = rendered.selftest();
    assert_eq!(result["faithfulnessRows"], 3, "{result}");
    assert_eq!(result["rows"], 2, "{result}");
    // Every picture rendered, the two curve plots included.
    assert_eq!(result["rendered"], result["images"], "{result}");
    assert_eq!(result["problems"].as_array().unwrap().len(), 0, "{result}");
    assert!(rendered.dom.contains("deletion ↓"), "no table");
}
