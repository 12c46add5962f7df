//! One input image, wherever it lives: a local file or an `http(s)://` URL. Callers name,
//! load and prepare both kinds alike; only [`Source::load`] tells them apart.
//!
//! A URL's `user:password@` is used to download it and nowhere else: its name, stem,
//! `Display`, `Debug` and errors all leave the credentials out.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use image::RgbImage;

use crate::decode::{DecodeLimits, DecodedImage, decode_image, load_image};
use crate::error::Result;
use crate::fetch::{FetchLimits, fetch_bytes, without_credentials};
use crate::names::shown_path;
use crate::preprocess::{Prepared, PreprocessConfig, prepare};

/// Where one input image comes from.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// A local file.
    File(PathBuf),
    /// An `http://` or `https://` URL, as it was given, credentials included: show it
    /// through [`Source::name`] or `Display`, which leave them out.
    Url(String),
}

/// The longest stem [`Source::stem`] makes from a URL, in bytes.
const MAX_URL_STEM_LEN: usize = 100;
/// The stem of a URL with neither a usable path segment nor a host.
const FALLBACK_URL_STEM: &str = "download";

impl Source {
    /// The input as the user wrote it, for messages and reports: the path (bytes that are
    /// not UTF-8 as `\xNN`, see [`shown_path`]) or the URL (without any `user:password@`).
    pub fn name(&self) -> Cow<'_, str> {
        match self {
            Source::File(path) => shown_path(path),
            Source::Url(url) => without_credentials(url),
        }
    }

    /// A short name for files written about this input.
    ///
    /// For a file, its stem (`photos/cat.jpg` → `cat`), byte for byte even where it is not
    /// UTF-8. For a URL, the last non-empty path
    /// segment without its extension, query or fragment (`https://HOST/a/cat.jpg?w=640` →
    /// `cat`), with every character outside `[A-Za-z0-9._-]` replaced by `_` and leading
    /// or trailing dots removed; failing that, the host (`127.0.0.1`); failing that,
    /// `download`. A URL's stem never holds a path separator, nor its credentials.
    pub fn stem(&self) -> OsString {
        match self {
            Source::File(path) => path
                .file_stem()
                .map_or_else(|| OsString::from("input"), OsStr::to_os_string),
            Source::Url(url) => url_stem(&without_credentials(url)).into(),
        }
    }

    /// Reads the image as 8-bit RGB: decodes a file, or downloads a URL within `fetch`
    /// and decodes the bytes. Every error names the path or the URL.
    pub fn load_rgb8(&self, decode: &DecodeLimits, fetch: &FetchLimits) -> Result<RgbImage> {
        self.load(decode, fetch).map(|decoded| decoded.image)
    }

    /// [`load_rgb8`](Source::load_rgb8), returning the problems `decode` let through (a
    /// truncated JPEG under [`DecodeLimits::allow_truncated`]) beside the image.
    pub fn load(&self, decode: &DecodeLimits, fetch: &FetchLimits) -> Result<DecodedImage> {
        match self {
            Source::File(path) => load_image(path, decode),
            Source::Url(url) => {
                let bytes = fetch_bytes(url, fetch)?;
                decode_image(&bytes, &self.name(), decode)
            }
        }
    }

    /// [`load_rgb8`](Source::load_rgb8) then [`prepare`]: what
    /// [`prepare_file`](crate::prepare_file) does for a path. Every error names the path
    /// or the URL; an invalid `cfg` is refused before anything is read or downloaded.
    pub fn prepare(
        &self,
        decode: &DecodeLimits,
        fetch: &FetchLimits,
        cfg: &PreprocessConfig,
    ) -> Result<Prepared> {
        cfg.validate()?;
        let img = self.load_rgb8(decode, fetch)?;
        prepare(&img, cfg).map_err(|e| e.with_path(&self.error_path()))
    }

    /// How errors name this input (see [`DataError::path`](crate::DataError::path)): a
    /// file's path as it is, a URL without credentials.
    fn error_path(&self) -> Cow<'_, Path> {
        match self {
            Source::File(path) => Cow::Borrowed(path),
            Source::Url(url) => Cow::Owned(PathBuf::from(without_credentials(url).as_ref())),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Derived, but a URL's credentials stay out of logs.
        match self {
            Source::File(path) => f.debug_tuple("File").field(path).finish(),
            Source::Url(_) => f.debug_tuple("Url").field(&self.name()).finish(),
        }
    }
}

impl From<PathBuf> for Source {
    fn from(path: PathBuf) -> Self {
        Source::File(path)
    }
}

fn url_stem(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let from_segment = path
        .rsplit('/')
        .find(|segment| !segment.is_empty())
        .map(|segment| safe_stem(without_extension(segment)))
        .filter(|stem| !stem.is_empty());
    from_segment
        .or_else(|| Some(safe_stem(host(authority))).filter(|stem| !stem.is_empty()))
        .unwrap_or_else(|| FALLBACK_URL_STEM.to_string())
}

/// `name` without its last `.extension`, as `Path::file_stem` would cut it.
fn without_extension(name: &str) -> &str {
    match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => name,
    }
}

/// The host of a URL authority (`user@host:port`), IPv6 brackets removed.
fn host(authority: &str) -> &str {
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host_port)| host_port);
    match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    }
}

/// `raw` restricted to `[A-Za-z0-9._-]`, without leading or trailing dots (no `..`, no
/// hidden files), at most [`MAX_URL_STEM_LEN`] bytes.
fn safe_stem(raw: &str) -> String {
    let replaced: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = replaced.trim_matches('.');
    // Only ASCII is left, so any byte index is a character boundary.
    trimmed[..trimmed.len().min(MAX_URL_STEM_LEN)]
        .trim_end_matches('.')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DataError;
    use crate::preprocess::Preprocess;
    use crate::test_server::{Reply, TestServer};
    use image::{DynamicImage, ImageFormat, Rgb};
    use std::time::Duration;

    fn url_stem_of(url: &str) -> String {
        Source::Url(url.to_string()).stem().into_string().unwrap()
    }

    #[test]
    fn url_stems() {
        let cases = [
            ("http://127.0.0.1:8080/photos/cat.jpg", "cat"),
            (
                "https://127.0.0.1/img/dog.large.png?w=640&f=a.jpg#top",
                "dog.large",
            ),
            ("http://127.0.0.1/albums/summer/", "summer"),
            ("http://127.0.0.1/albums/summer//?page=2", "summer"),
            ("http://127.0.0.1/photo?id=7", "photo"),
            ("http://127.0.0.1/.hidden.png", "hidden"),
            ("http://127.0.0.1/.png", "png"),
            ("http://127.0.0.1/a/my%20cat%C3%A9.jpeg", "my_20cat_C3_A9"),
            ("http://127.0.0.1/caf\u{e9} au lait.webp", "caf__au_lait"),
            (
                "http://127.0.0.1/x/..%2F..%2Fetc%2Fpasswd.png",
                "_2F.._2Fetc_2Fpasswd",
            ),
            // No usable path segment: the host, then "download".
            ("http://127.0.0.1", "127.0.0.1"),
            ("http://127.0.0.1/", "127.0.0.1"),
            ("https://127.0.0.1:8443?q=1", "127.0.0.1"),
            ("http://127.0.0.1/#frag", "127.0.0.1"),
            ("http://127.0.0.1/../..", "127.0.0.1"),
            ("http://user:secret@127.0.0.1:81/", "127.0.0.1"),
            ("http://[::1]:8000/", "__1"),
            ("http://", "download"),
            ("http:///", "download"),
        ];
        for (url, expected) in cases {
            assert_eq!(url_stem_of(url), expected, "{url}");
        }
        let long = format!("http://127.0.0.1/{}.png", "a".repeat(300));
        assert_eq!(url_stem_of(&long), "a".repeat(MAX_URL_STEM_LEN));
        let dotted = format!("http://127.0.0.1/{}...b.png", "a".repeat(99));
        assert_eq!(url_stem_of(&dotted), "a".repeat(99));
    }

    #[test]
    fn file_stems_and_names() {
        let file = Source::File(PathBuf::from("photos/cat.v2.jpg"));
        assert_eq!(file.stem(), "cat.v2");
        assert_eq!(file.name(), "photos/cat.v2.jpg");
        assert_eq!(file.to_string(), "photos/cat.v2.jpg");
        assert_eq!(Source::from(PathBuf::from("x/README")).stem(), "README");
        let url = Source::Url("http://127.0.0.1:1/a b.png".to_string());
        assert_eq!(url.name(), "http://127.0.0.1:1/a b.png");
        assert_eq!(url.to_string(), "http://127.0.0.1:1/a b.png");
    }

    fn png_bytes(width: u32, height: u32) -> Vec<u8> {
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x * 10) as u8, (y * 10) as u8, 200])
        }));
        let mut buf = std::io::Cursor::new(Vec::new());
        img.write_to(&mut buf, ImageFormat::Png).unwrap();
        buf.into_inner()
    }

    fn fetch_limits() -> FetchLimits {
        FetchLimits {
            timeout: Duration::from_secs(10),
            max_bytes: 1 << 20,
        }
    }

    #[test]
    fn url_image_decodes_and_prepares() {
        let server = TestServer::start(vec![("/photos/cat.png", Reply::ok(png_bytes(20, 12)))]);
        let source = Source::Url(server.url("/photos/cat.png?size=full"));
        assert_eq!(source.stem(), "cat");

        let img = source
            .load_rgb8(&DecodeLimits::default(), &fetch_limits())
            .unwrap();
        assert_eq!(img.dimensions(), (20, 12));
        assert_eq!(*img.get_pixel(3, 5), Rgb([30, 50, 200]));

        let cfg = PreprocessConfig {
            size: 8,
            ..PreprocessConfig::default()
        };
        let prepared = source
            .prepare(&DecodeLimits::default(), &fetch_limits(), &cfg)
            .unwrap();
        assert_eq!(prepared.original, (20, 12));
        assert_eq!(prepared.data.len(), 3 * 8 * 8);

        // The same image from a file prepares to the same input.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cat.png");
        std::fs::write(&path, png_bytes(20, 12)).unwrap();
        let from_file = Source::File(path)
            .prepare(&DecodeLimits::default(), &fetch_limits(), &cfg)
            .unwrap();
        assert_eq!(from_file, prepared);
    }

    #[test]
    fn url_errors_name_the_url() {
        let server = TestServer::start(vec![
            (
                "/garbage.jpg",
                Reply::ok(b"\xff\xd8\xff\xe0 not really a JPEG".to_vec()),
            ),
            (
                "/page.html",
                Reply::ok(b"<!doctype html><p>hello</p>".to_vec()),
            ),
            ("/small.png", Reply::ok(png_bytes(20, 12))),
        ]);
        let decode = DecodeLimits::default();
        let fetch = fetch_limits();

        let url = server.url("/garbage.jpg");
        let err = Source::Url(url.clone())
            .load_rgb8(&decode, &fetch)
            .unwrap_err();
        assert!(matches!(err, DataError::Decoding { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot decode {url}: ")),
            "{err}"
        );
        assert_eq!(err.path(), Some(Path::new(&url)));

        let url = server.url("/page.html");
        let err = Source::Url(url.clone())
            .load_rgb8(&decode, &fetch)
            .unwrap_err();
        assert!(matches!(err, DataError::Unsupported { .. }), "{err:?}");
        assert!(err.to_string().contains(&url), "{err}");

        let url = server.url("/nothing-here.png");
        let err = Source::Url(url.clone())
            .load_rgb8(&decode, &fetch)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot fetch {url}: HTTP status 404 Not Found")
        );

        // Limits and preprocessing errors carry the URL too.
        let url = server.url("/small.png");
        let source = Source::Url(url.clone());
        let err = source
            .load_rgb8(
                &DecodeLimits {
                    max_pixels: 100,
                    ..DecodeLimits::default()
                },
                &fetch,
            )
            .unwrap_err();
        assert!(matches!(err, DataError::Limits { .. }), "{err:?}");
        assert!(err.to_string().contains(&url), "{err}");
        let cfg = PreprocessConfig {
            mode: Preprocess::None,
            ..PreprocessConfig::default()
        };
        let err = source.prepare(&decode, &fetch, &cfg).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{url}: expected 224x224 px for --preprocess none, got 20x12")
        );
        let too_small = FetchLimits {
            max_bytes: 10,
            ..fetch
        };
        let err = source.load_rgb8(&decode, &too_small).unwrap_err();
        assert!(matches!(err, DataError::Fetch { .. }), "{err:?}");
    }

    #[test]
    fn credentials_in_a_url_are_used_but_never_shown() {
        let server = TestServer::start(vec![
            ("/photos/cat.png", Reply::ok(png_bytes(20, 12))),
            ("/photos/page.html", Reply::ok(b"<p>hi</p>".to_vec())),
        ]);
        let secret = |path: &str| {
            server
                .url(path)
                .replacen("http://", "http://alice:s3cr%2Ft@", 1)
        };
        let shown = server.url("/photos/cat.png");
        let source = Source::Url(secret("/photos/cat.png"));
        assert_eq!(source.name(), shown);
        assert_eq!(source.to_string(), shown);
        assert_eq!(format!("{source:?}"), format!("Url({shown:?})"));
        assert_eq!(source.stem(), "cat");
        let img = source
            .load_rgb8(&DecodeLimits::default(), &fetch_limits())
            .unwrap();
        assert_eq!(img.dimensions(), (20, 12));
        assert!(
            server.requests()[0].contains("Basic YWxpY2U6czNjci90"),
            "{}",
            server.requests()[0]
        );

        let leaks = |err: &DataError| {
            let text = format!("{err} {err:?} {:?}", err.path());
            text.contains("alice") || text.contains("s3cr") || text.contains("s3/")
        };
        let decode = DecodeLimits::default();
        for (path, fetch) in [
            ("/photos/page.html", fetch_limits()),
            ("/photos/missing.png", fetch_limits()),
            (
                "/photos/cat.png",
                FetchLimits {
                    max_bytes: 10,
                    ..fetch_limits()
                },
            ),
        ] {
            let err = Source::Url(secret(path))
                .load_rgb8(&decode, &fetch)
                .unwrap_err();
            assert!(!leaks(&err), "{err:?}");
            assert!(err.to_string().contains(&server.url(path)), "{err}");
        }
        let cfg = PreprocessConfig {
            mode: Preprocess::None,
            ..PreprocessConfig::default()
        };
        let err = source.prepare(&decode, &fetch_limits(), &cfg).unwrap_err();
        assert!(!leaks(&err), "{err:?}");
        assert!(err.to_string().starts_with(&shown), "{err}");

        // A password with a `/` makes the URL invalid: still hidden in name, stem and error.
        let broken = Source::Url("http://alice:s3/cr@127.0.0.1:1/dog.png".to_string());
        assert_eq!(broken.name(), "http://127.0.0.1:1/dog.png");
        assert_eq!(broken.stem(), "dog");
        let err = broken.load_rgb8(&decode, &fetch_limits()).unwrap_err();
        assert!(!leaks(&err), "{err:?}");
    }

    #[test]
    fn invalid_config_is_refused_before_downloading() {
        // Nothing listens here; an attempted download would fail with a Fetch error.
        let source = Source::Url("http://127.0.0.1:1/cat.png".to_string());
        let cfg = PreprocessConfig {
            size: 0,
            ..PreprocessConfig::default()
        };
        let err = source
            .prepare(&DecodeLimits::default(), &fetch_limits(), &cfg)
            .unwrap_err();
        assert!(
            matches!(err, DataError::InputSize { size: 0, .. }),
            "{err:?}"
        );
    }
}
