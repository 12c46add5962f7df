//! Mutation tests of the HTML escapers (`whycam_render::html`): hostile file names, labels
//! and JSON, mutated byte by byte, must come out as text that cannot open a tag, leave an
//! attribute, end a `<script>` or name a URL scheme, and must mean what went in.
//!
//! The brief runs are part of the suite; the long runs are `--ignored`:
//! `WHYCAM_FUZZ_CASES=200000 cargo test --release -p whycam-render --test fuzz_html --
//! --ignored --nocapture`.

use proptest::test_runner::TestCaseError;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};
use whycam_render::html::{escape_text, json_in_script, relative_file_url};
use whycam_testkit::mutate::{CappedAlloc, Corpus, Fuzz, Outcome, check};

#[global_allocator]
static ALLOC: CappedAlloc<{ 256 << 20 }> = CappedAlloc;

/// Names and texts that reach the report: file names, labels, URLs, error messages.
fn corpus() -> Corpus {
    let mut corpus = Corpus::new();
    for text in [
        "photos/cat.gradcam.figure.png",
        "<!--<script>alert(1)</script>.png",
        "x</script><script>alert(1)</script>",
        "\"onerror=\"alert(1).png",
        "' onmouseover='alert(1)",
        "javascript:alert(1).png",
        "../out dir/a#b?c%d.png",
        "./<!--<script>/\"x\".png",
        "line\u{2028}para\u{2029}&amp;&#39;&lt;",
        "Ünïcødé/木/ファイル名 ✓.jpg",
        "caf\u{e9}/\u{0}\u{7}\t\r\n.png",
        "/etc/passwd",
        "data:text/html;base64,PHNjcmlwdD4=",
        "{\"label\": \"</SCRIPT >\", \"n\": [1, 2.5e3, null, true], \"<\": {\"&\": \"\\u2028\"}}",
    ] {
        corpus.add(text, text.as_bytes().to_vec());
    }
    corpus.add("latin-1 name", b"caf\xe9 \xff\xfe.png".to_vec());
    corpus
}

/// Undoes `escape_text`'s five references; `None` for an `&` that starts none of them.
fn unescape(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let (entity, c) = [
            ("&amp;", '&'),
            ("&lt;", '<'),
            ("&gt;", '>'),
            ("&quot;", '"'),
            ("&#39;", '\''),
        ]
        .into_iter()
        .find(|(e, _)| rest.starts_with(e))?;
        out.push(c);
        rest = &rest[entity.len()..];
    }
    out.push_str(rest);
    Some(out)
}

/// `escape_text`: no raw `<`, `>`, `"`, `'`; every `&` starts a reference; it unescapes to
/// the text.
fn escaped_text_is_inert(bytes: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(bytes);
    let escaped = escape_text(&text);
    check(!escaped.contains(['<', '>', '"', '\'']), || {
        format!("raw markup in {escaped:?}")
    })?;
    check(unescape(&escaped).as_deref() == Some(&*text), || {
        format!("{escaped:?} does not unescape to {text:?}")
    })?;
    Ok("ok".into())
}

/// `json_in_script` of JSON holding the text (and of the text itself when it is JSON): no
/// `<`, `>`, `&`, U+2028, U+2029 (so no `</script`, `<!--` or `<script` in any case), and it
/// parses back to the same value.
fn inlined_json_is_inert(bytes: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(bytes);
    let mut values = vec![serde_json::json!({ "name": &*text, "list": [&*text, 1, null] })];
    let parsed = serde_json::from_str::<serde_json::Value>(&text).ok();
    let outcome = if parsed.is_some() { "ok (JSON)" } else { "ok" };
    values.extend(parsed);
    for value in values {
        let json = serde_json::to_string(&value).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // What the JSON text means, as the parser reads it: serde_json's float parsing is not
        // exact, so some numbers change by an ulp in its own round trip, escaping or not.
        let meant: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let inlined = json_in_script(&json);
        let lower = inlined.to_lowercase();
        for needle in ["</script", "<!--", "<script"] {
            check(!lower.contains(needle), || {
                format!("{needle} in {inlined:?}")
            })?;
        }
        check(
            !inlined.contains(['<', '>', '&', '\u{2028}', '\u{2029}']),
            || format!("unescaped character in {inlined:?}"),
        )?;
        let back: serde_json::Value =
            serde_json::from_str(&inlined).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        check(back == meant, || format!("{inlined:?} parses to {back:?}"))?;
    }
    Ok(outcome.into())
}

/// Percent-decodes one URL segment; `None` for a malformed escape.
fn percent_decode(segment: &str) -> Option<Vec<u8>> {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// `relative_file_url` of the bytes as a Unix path: never a scheme, query or fragment,
/// always relative, and it decodes back to the path's names; `None` only for an absolute
/// path or one without names.
fn links_stay_relative_files(bytes: &[u8]) -> Outcome {
    let path = Path::new(OsStr::from_bytes(bytes));
    let names: Vec<Vec<u8>> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.as_bytes().to_vec()),
            Component::ParentDir => Some(b"..".to_vec()),
            _ => None,
        })
        .collect();
    let Some(url) = relative_file_url(path) else {
        check(path.is_absolute() || names.is_empty(), || {
            format!("no URL for the relative path {path:?}")
        })?;
        return Ok("none".into());
    };
    check(!path.is_absolute(), || {
        format!("{url:?} for the absolute {path:?}")
    })?;
    check(!url.contains([':', '?', '#', '\\']), || {
        format!("{url:?} could be read as a scheme, query or fragment")
    })?;
    check(url.is_ascii() && !url.contains(char::is_whitespace), || {
        format!("{url:?} is not plain ASCII")
    })?;
    check(url.starts_with("./") || url.starts_with(".."), || {
        format!("{url:?} is not relative to the page")
    })?;
    let decoded: Option<Vec<Vec<u8>>> = url
        .strip_prefix("./")
        .unwrap_or(&url)
        .split('/')
        .map(percent_decode)
        .collect();
    check(decoded.as_ref() == Some(&names), || {
        format!("{url:?} decodes to {decoded:?}, not {names:?}")
    })?;
    Ok("url".into())
}

#[test]
fn escaped_text() {
    Fuzz::brief("html_escape_text", 2000).run(&corpus(), escaped_text_is_inert);
}

#[test]
fn inlined_json() {
    Fuzz::brief("html_json_in_script", 2000).run(&corpus(), inlined_json_is_inert);
}

#[test]
fn file_links() {
    Fuzz::brief("html_relative_file_url", 2000).run(&corpus(), links_stay_relative_files);
}

#[test]
fn seeds_hold_the_properties_unmutated() {
    for (name, bytes) in corpus().files() {
        for property in [
            escaped_text_is_inert,
            inlined_json_is_inert,
            links_stay_relative_files,
        ] {
            property(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    // The checks can fail: a raw `<` is caught.
    assert!(unescape("&lt;&bogus;").is_none());
    // Found by a long run (seed baa68cb5c401cd96): a number serde_json itself does not
    // read back exactly; the escaped JSON must mean what the unescaped JSON means.
    let long_number = br#"{"label": "</SCRIPT >", "n": [1, 9032533524921149953.5e3, null, true], "<": {"&": "\u2028"}}"#;
    assert_eq!(inlined_json_is_inert(long_number).unwrap(), "ok (JSON)");
}

#[test]
#[ignore = "long run: WHYCAM_FUZZ_CASES cases from a random seed"]
fn escaped_text_long() {
    Fuzz::long("html_escape_text")
        .without_abort_file()
        .run(&corpus(), escaped_text_is_inert);
}

#[test]
#[ignore = "long run: WHYCAM_FUZZ_CASES cases from a random seed"]
fn inlined_json_long() {
    Fuzz::long("html_json_in_script")
        .without_abort_file()
        .run(&corpus(), inlined_json_is_inert);
}

#[test]
#[ignore = "long run: WHYCAM_FUZZ_CASES cases from a random seed"]
fn file_links_long() {
    Fuzz::long("html_relative_file_url")
        .without_abort_file()
        .run(&corpus(), links_stay_relative_files);
}
