//! File names that are not UTF-8. Linux allows any bytes but `/` and NUL in a name; whycam
//! keeps such a name byte for byte wherever it names a file it writes (`\xff.png` gives
//! `\xff.gradcam.png`), and shows it as text (terminal, JSON, report) with each byte that
//! is not part of valid UTF-8 written as `\xNN`, as `ls -b` and Python's `surrogateescape`
//! repr do, rather than as U+FFFD, which would make two different names look alike.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// `name` as text: valid UTF-8 as it is, every other byte as `\xNN` (lower-case hex).
pub fn shown_name(name: &OsStr) -> Cow<'_, str> {
    if let Some(text) = name.to_str() {
        return Cow::Borrowed(text);
    }
    let mut out = String::new();
    for chunk in name.as_encoded_bytes().utf8_chunks() {
        out.push_str(chunk.valid());
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    Cow::Owned(out)
}

/// [`shown_name`] of a whole path.
pub fn shown_path(path: &Path) -> Cow<'_, str> {
    shown_name(path.as_os_str())
}

/// The path a [`shown_path`] text names: the text itself when such a file exists, else
/// (on Unix) the text with every `\xNN` escape of a byte 0x80-0xff turned back into that
/// byte. Only such bytes are ever escaped, since every byte below 0x80 is valid UTF-8 on
/// its own; a real name holding the four characters `\xff` and a file of that name both
/// missing is the one case read back wrongly.
pub fn path_from_shown(text: &str) -> PathBuf {
    let as_is = PathBuf::from(text);
    if as_is.exists() || !text.contains("\\x") {
        return as_is;
    }
    unescaped(text).unwrap_or(as_is)
}

#[cfg(unix)]
fn unescaped(text: &str) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i..i + 4)
            .filter(|b| b.starts_with(b"\\x"))
            .and_then(|b| std::str::from_utf8(&b[2..]).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(|byte| *byte >= 0x80);
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

#[cfg(not(unix))]
fn unescaped(_text: &str) -> Option<PathBuf> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn invalid_bytes_are_shown_as_hex_escapes_and_read_back() {
        let name = OsStr::from_bytes(b"caf\xe9 \xff\xfe.png");
        let shown = shown_name(name);
        assert_eq!(shown, "caf\\xe9 \\xff\\xfe.png");
        assert_eq!(path_from_shown(&shown).as_os_str(), name);
        // Valid UTF-8 (including a multi-byte character) is left alone, borrowed.
        assert!(matches!(
            shown_name(OsStr::new("café.png")),
            Cow::Borrowed(_)
        ));
        // A truncated multi-byte sequence is escaped byte by byte.
        let cut = OsStr::from_bytes(b"a\xc3");
        assert_eq!(shown_name(cut), "a\\xc3");
        assert_eq!(path_from_shown("a\\xc3").as_os_str(), cut);
    }

    #[test]
    fn escapes_below_0x80_are_text() {
        // `\x41` is never an escape whycam wrote (0x41 is valid UTF-8): it stays as it is.
        assert_eq!(path_from_shown("a\\x41\\xzz"), PathBuf::from("a\\x41\\xzz"));
    }
}
