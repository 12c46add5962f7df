//! Downloading an input given as an `http://` or `https://` URL, within a time and size
//! budget, before it is decoded like a file.
//!
//! Nothing here contacts a host on its own: the only URLs fetched are the ones a caller
//! passes in. TLS is rustls with the bundled web PKI roots. Redirects are followed (at
//! most 10). Proxies named by the usual environment variables (`HTTPS_PROXY`,
//! `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`) are used, except for loopback addresses, which
//! no proxy could reach on the caller's behalf.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ureq::http::Uri;
use ureq::{Agent, Proxy};

use crate::error::{DataError, Result};

/// Resource limits applied while downloading one URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchLimits {
    /// The whole exchange, from name lookup and connection to the last byte of the body
    /// (redirects included), must finish within this time.
    pub timeout: Duration,
    /// The largest accepted body, in bytes: refused from `Content-Length` before the body
    /// is read, and while reading when the server does not announce a length.
    pub max_bytes: u64,
}

impl FetchLimits {
    /// Default time budget for one download: 30 seconds.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default size budget for one download: 50 MiB, well above any photo worth explaining.
    pub const DEFAULT_MAX_BYTES: u64 = 50 * 1024 * 1024;
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            timeout: Self::DEFAULT_TIMEOUT,
            max_bytes: Self::DEFAULT_MAX_BYTES,
        }
    }
}

/// The URL schemes [`fetch_bytes`] accepts.
pub(crate) const SUPPORTED_SCHEMES: [&str; 2] = ["http", "https"];

/// The scheme of `input` when it is written like a URL (`scheme://...`), whatever the scheme.
///
/// One-letter schemes are not taken, so a Windows path such as `C://photos` stays a path.
pub(crate) fn url_scheme(input: &str) -> Option<&str> {
    let (scheme, _) = input.split_once("://")?;
    let mut chars = scheme.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_valid = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (starts_with_letter && rest_valid && scheme.len() >= 2).then_some(scheme)
}

/// Refuses anything but an `http://` or `https://` URL, naming it.
pub(crate) fn check_scheme(url: &str) -> Result<()> {
    match url_scheme(url) {
        Some(scheme)
            if SUPPORTED_SCHEMES
                .iter()
                .any(|s| s.eq_ignore_ascii_case(scheme)) =>
        {
            Ok(())
        }
        Some(scheme) => Err(DataError::fetch(
            url,
            format!("unsupported URL scheme \"{scheme}\": only http and https are accepted"),
        )),
        None => Err(DataError::fetch(
            url,
            "not a URL: expected http://... or https://...",
        )),
    }
}

/// Downloads the body at `url`, an `http://` or `https://` URL.
///
/// Fails, with a [`DataError::Fetch`] naming `url`, on any other scheme, a network or TLS
/// failure, a final status other than 2xx, a body over `limits.max_bytes`, or an exchange
/// that takes longer than `limits.timeout`.
pub fn fetch_bytes(url: &str, limits: &FetchLimits) -> Result<Vec<u8>> {
    check_scheme(url)?;
    let start = Instant::now();
    let agent: Agent = Agent::config_builder()
        .timeout_global(Some(limits.timeout))
        // Statuses are checked below, to name the URL and the reason in the error.
        .http_status_as_error(false)
        .proxy(proxy_for(url))
        .build()
        .into();
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| from_ureq_error(url, e, limits))?;

    let status = response.status();
    if !status.is_success() {
        return Err(DataError::fetch(url, format!("HTTP status {status}")));
    }
    if let Some(announced) = response.body().content_length()
        && announced > limits.max_bytes
    {
        return Err(DataError::fetch(
            url,
            format!(
                "the server announces {announced} bytes (Content-Length), more than the limit of {} bytes",
                limits.max_bytes
            ),
        ));
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(limits.max_bytes)
        .read_to_vec()
        .map_err(|e| from_ureq_error(url, e, limits))?;
    tracing::debug!(
        url,
        bytes = body.len(),
        elapsed_ms = start.elapsed().as_millis(),
        "downloaded input"
    );
    Ok(body)
}

/// The environment's proxy, unless `url` points at a loopback address.
fn proxy_for(url: &str) -> Option<Proxy> {
    let is_loopback = Uri::try_from(url).ok().is_some_and(|uri| {
        uri.host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|h| h.parse::<IpAddr>().ok())
            .is_some_and(|ip| ip.is_loopback())
    });
    if is_loopback {
        None
    } else {
        Proxy::try_from_env()
    }
}

fn from_ureq_error(url: &str, error: ureq::Error, limits: &FetchLimits) -> DataError {
    let message = match error {
        ureq::Error::Timeout(_) => format!(
            "no complete response within the time limit of {} s",
            limits.timeout.as_secs_f64()
        ),
        ureq::Error::BodyExceedsLimit(_) => format!(
            "the body is larger than the limit of {} bytes",
            limits.max_bytes
        ),
        ureq::Error::Io(e) => e.to_string(),
        other => other.to_string(),
    };
    DataError::fetch(url, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::{Reply, TestServer};

    fn limits(timeout_ms: u64, max_bytes: u64) -> FetchLimits {
        FetchLimits {
            timeout: Duration::from_millis(timeout_ms),
            max_bytes,
        }
    }

    fn fetch_error(url: &str, limits: &FetchLimits) -> String {
        let err = fetch_bytes(url, limits).expect_err("must fail");
        assert!(matches!(err, DataError::Fetch { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("cannot fetch {url}: ")),
            "{message}"
        );
        message
    }

    #[test]
    fn defaults() {
        let d = FetchLimits::default();
        assert_eq!(d.timeout, Duration::from_secs(30));
        assert_eq!(d.max_bytes, 52_428_800);
    }

    #[test]
    fn recognises_url_schemes() {
        assert_eq!(url_scheme("http://127.0.0.1/a.png"), Some("http"));
        assert_eq!(url_scheme("HTTPS://127.0.0.1/a.png"), Some("HTTPS"));
        assert_eq!(url_scheme("svn+ssh://127.0.0.1/x"), Some("svn+ssh"));
        assert_eq!(url_scheme("C://photos/a.png"), None);
        assert_eq!(url_scheme("photos/a.png"), None);
        assert_eq!(url_scheme("./http://127.0.0.1/a.png"), None);
        assert_eq!(url_scheme("://127.0.0.1/a.png"), None);
        assert_eq!(url_scheme("1x://127.0.0.1/a.png"), None);
    }

    #[test]
    fn only_http_and_https_are_fetched() {
        let l = FetchLimits::default();
        for url in [
            "ftp://127.0.0.1/cat.png",
            "file:///tmp/cat.png",
            "data://image/png",
        ] {
            let message = fetch_error(url, &l);
            assert!(message.contains("unsupported URL scheme"), "{message}");
        }
        let message = fetch_error("cat.png", &l);
        assert!(message.contains("not a URL"), "{message}");
        assert!(check_scheme("HTTP://127.0.0.1/").is_ok());
    }

    #[test]
    fn returns_the_body() {
        let body: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let server = TestServer::start(vec![("/blob.bin", Reply::ok(body.clone()))]);
        let got = fetch_bytes(&server.url("/blob.bin"), &limits(10_000, 5000)).unwrap();
        assert_eq!(got, body, "a body exactly at the limit is accepted");
    }

    #[test]
    fn follows_redirects() {
        let server = TestServer::start(vec![
            ("/old", Reply::redirect("/new")),
            ("/new", Reply::ok(b"moved here".to_vec())),
        ]);
        let got = fetch_bytes(&server.url("/old"), &limits(10_000, 1000)).unwrap();
        assert_eq!(got, b"moved here");
    }

    #[test]
    fn error_status_names_url_and_status() {
        let server = TestServer::start(vec![(
            "/teapot",
            Reply::status("418 I'm a teapot", b"short and stout".to_vec()),
        )]);
        let l = limits(10_000, 1000);
        let url = server.url("/missing.png");
        let message = fetch_error(&url, &l);
        assert_eq!(
            message,
            format!("cannot fetch {url}: HTTP status 404 Not Found")
        );
        let url = server.url("/teapot");
        assert!(fetch_error(&url, &l).ends_with("HTTP status 418 I'm a teapot"));
    }

    #[test]
    fn announced_body_over_the_limit_is_refused_before_reading() {
        // The server announces 1001 bytes and then sends nothing: only a refusal made
        // from the header can come back before the time limit.
        let server = TestServer::start(vec![("/big.png", Reply::AnnounceOnly(1001))]);
        let url = server.url("/big.png");
        let start = Instant::now();
        let message = fetch_error(&url, &limits(5_000, 1000));
        assert!(start.elapsed() < Duration::from_secs(4));
        assert_eq!(
            message,
            format!(
                "cannot fetch {url}: the server announces 1001 bytes (Content-Length), \
                 more than the limit of 1000 bytes"
            )
        );
    }

    #[test]
    fn unannounced_body_over_the_limit_is_refused_while_reading() {
        let server = TestServer::start(vec![
            ("/chunked", Reply::Chunked(1_000_000)),
            ("/until-close", Reply::UntilClose(1_000_000)),
            ("/chunked-small", Reply::Chunked(1000)),
        ]);
        let l = limits(10_000, 1000);
        for path in ["/chunked", "/until-close"] {
            let url = server.url(path);
            assert_eq!(
                fetch_error(&url, &l),
                format!("cannot fetch {url}: the body is larger than the limit of 1000 bytes")
            );
        }
        let got = fetch_bytes(&server.url("/chunked-small"), &l).unwrap();
        assert_eq!(got.len(), 1000);
    }

    #[test]
    fn silent_server_times_out() {
        let server = TestServer::start(vec![("/slow.png", Reply::Silent)]);
        let url = server.url("/slow.png");
        let start = Instant::now();
        let message = fetch_error(&url, &limits(1_000, 1000));
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
            "{elapsed:?}"
        );
        assert_eq!(
            message,
            format!("cannot fetch {url}: no complete response within the time limit of 1 s")
        );
    }

    #[test]
    fn refused_connection_names_the_url() {
        // Bind and drop a listener: its port is (almost surely) closed now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/cat.png");
        fetch_error(&url, &limits(5_000, 1000));
    }
}
