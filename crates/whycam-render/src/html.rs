//! Values from the outside world (file names, class labels, `--truth` entries, URLs, error
//! messages) written into an HTML page or an SVG so they stay text, each escaped for the
//! context it lands in: element text and quoted attributes ([`escape_text`]), JSON inlined in
//! a `<script>` element ([`json_in_script`]) and links ([`relative_file_url`]); and the hashes
//! by which a Content-Security-Policy allows exactly the page's own inline script and style
//! ([`csp_hash`]).

use base64::Engine;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::ffi::OsStr;
use std::path::{Component, Path};

/// `text` for element content or a quoted attribute value: `&`, `<`, `>`, `"` and `'` as
/// character references, so it can neither open a tag nor leave its attribute.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON text (as `serde_json` writes it) made safe to inline in a `<script>` element: `<`,
/// `>`, `&`, U+2028 and U+2029 become `\u` escapes (`\u003c` for `<`). In JSON these
/// characters occur only inside strings, where the escape means the same character, so the
/// value is unchanged, and no `<!--`, `<script` or `</script` (which would end or derail
/// the element) can appear.
pub fn json_in_script(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A relative `path` (names and `..` only) as a relative URL: each name percent-encoded
/// byte for byte (all but `A-Z a-z 0-9 - . _ ~`), and `./` in front unless it starts with
/// `..`. A name such as `javascript:alert(1).png` thus stays a file beside the page, never a
/// scheme, a query or a fragment. `None` for an absolute or empty path.
pub fn relative_file_url(path: &Path) -> Option<String> {
    let mut segments = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => segments.push("..".to_string()),
            Component::Normal(name) => segments.push(percent_encode(&name_bytes(name))),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    let joined = segments.join("/");
    match segments.first().map(String::as_str) {
        None => None,
        Some("..") => Some(joined),
        Some(_) => Some(format!("./{joined}")),
    }
}

/// A Content-Security-Policy source allowing exactly the inline script or style whose text
/// (between its tags) is `source`: `'sha256-…'`.
pub fn csp_hash(source: &str) -> String {
    let digest = Sha256::digest(source.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The bytes of a file name: exact on Unix, where names are bytes.
fn name_bytes(name: &OsStr) -> Cow<'_, [u8]> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Cow::Borrowed(name.as_bytes())
    }
    #[cfg(not(unix))]
    {
        match name.to_string_lossy() {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        }
    }
}

fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: [&str; 6] = [
        "<!--<script>alert(1)</script>.png",
        "x</script><script>alert(1)</script>",
        "\"onerror=\"alert(1).png",
        "' onmouseover='alert(1)",
        "javascript:alert(1).png",
        "line\u{2028}para\u{2029}&amp;",
    ];

    #[test]
    fn text_cannot_open_a_tag_or_leave_an_attribute() {
        assert_eq!(
            escape_text("<a href=\"x\" title='y'>&</a>"),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        for s in HOSTILE {
            let escaped = escape_text(s);
            assert!(!escaped.contains(['<', '>', '"', '\'']), "{escaped}");
        }
    }

    #[test]
    fn inlined_json_keeps_its_value_and_cannot_derail_the_script() {
        let value = serde_json::json!({ "names": HOSTILE, "nested": { "<": "</SCRIPT >" } });
        let inlined = json_in_script(&serde_json::to_string(&value).unwrap());
        for needle in ["<", ">", "&", "\u{2028}", "\u{2029}"] {
            assert!(!inlined.contains(needle), "{needle:?} in {inlined}");
        }
        let back: serde_json::Value = serde_json::from_str(&inlined).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn links_are_relative_files_never_schemes() {
        let url = |p: &str| relative_file_url(Path::new(p));
        assert_eq!(
            url("cat.gradcam.figure.png").unwrap(),
            "./cat.gradcam.figure.png"
        );
        assert_eq!(
            url("javascript:alert(1).png").unwrap(),
            "./javascript%3Aalert%281%29.png"
        );
        assert_eq!(
            url("../out dir/a#b?c%d.png").unwrap(),
            "../out%20dir/a%23b%3Fc%25d.png"
        );
        assert_eq!(
            url("./<!--<script>/\"x\".png").unwrap(),
            "./%3C%21--%3Cscript%3E/%22x%22.png"
        );
        assert_eq!(url("/etc/passwd"), None);
        assert_eq!(url(""), None);
        assert_eq!(url("."), None);
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let raw = Path::new(OsStr::from_bytes(b"caf\xe9.png"));
            assert_eq!(relative_file_url(raw).unwrap(), "./caf%E9.png");
        }
    }

    #[test]
    fn csp_hashes_are_the_standard_ones() {
        // The example of the CSP Level 3 specification.
        assert_eq!(
            csp_hash("alert('Hello, world.');"),
            "'sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng='"
        );
    }
}
