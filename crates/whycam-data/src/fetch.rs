//! Downloading an input given as an `http://` or `https://` URL, within a time and size
//! budget, before it is decoded like a file.
//!
//! Nothing here contacts a host on its own: the only URLs fetched are the ones a caller
//! passes in. TLS is rustls with the bundled web PKI roots. Redirects are followed (at
//! most 10) to `http` and `https` URLs only, and never from `https` down to `http`. A URL
//! with `user:password@` is fetched with HTTP basic authentication (the user and password
//! percent-decoded), sent only to the URL's own scheme, host and port, as curl does; the
//! credentials appear in no message ([`without_credentials`]). Proxies named by the usual
//! environment variables (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`) are used,
//! except for loopback addresses, which no proxy could reach on the caller's behalf.

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use percent_encoding::percent_decode_str;
use ureq::http::Uri;
use ureq::{Agent, Proxy};
use url::Url;

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

/// Redirects followed at most, as curl's and ureq's default.
const MAX_REDIRECTS: u32 = 10;

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

/// `url` without the `user:password@` of its authority, everything else as written: how a
/// URL is shown and recorded.
///
/// The authority ends where a URL parser ends it (at the first `/`, `\`, `?` or `#`) and
/// the credentials at its last `@`. A URL that does not parse may hide a password holding
/// a `/` (`http://me:pa/ss@host/`); there everything up to the last `@` before the query
/// goes.
pub(crate) fn without_credentials(url: &str) -> Cow<'_, str> {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return Cow::Borrowed(url);
    };
    let rest = &url[start..];
    let before_query = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    if !before_query.contains('@') {
        return Cow::Borrowed(url);
    }
    let authority = &rest[..rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len())];
    let at = authority.rfind('@').or_else(|| {
        let has_credentials = Url::parse(url).map_or(true, |parsed| {
            !parsed.username().is_empty() || parsed.password().is_some()
        });
        has_credentials.then(|| before_query.rfind('@')).flatten()
    });
    match at {
        Some(at) => Cow::Owned(format!("{}{}", &url[..start], &rest[at + 1..])),
        None => Cow::Borrowed(url),
    }
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
/// Fails, with a [`DataError::Fetch`] naming `url` (without credentials), on any other
/// scheme, a network or TLS failure, a redirect to another scheme or from `https` to
/// `http`, more than 10 redirects, a final status other than 2xx, a body over
/// `limits.max_bytes`, or an exchange that takes longer than `limits.timeout`.
pub fn fetch_bytes(url: &str, limits: &FetchLimits) -> Result<Vec<u8>> {
    check_scheme(url)?;
    let start = Instant::now();
    let given = Url::parse(url).map_err(|e| DataError::fetch(url, format!("invalid URL: {e}")))?;
    let authorization = basic_authorization(&given);
    let mut current = given.clone();
    strip_credentials(&mut current);
    // The first request goes to the URL as written (less its credentials), each redirect to
    // its location resolved against the URL that answered.
    let mut target = without_credentials(url).into_owned();
    let agent: Agent = Agent::config_builder()
        // Statuses are checked below, to name the URL and the reason in the error.
        .http_status_as_error(false)
        // Redirects are followed below, each checked first.
        .max_redirects(0)
        .build()
        .into();
    let mut redirects = 0;
    let mut response = loop {
        let left = limits.timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(from_ureq_error(
                url,
                ureq::Error::Timeout(ureq::Timeout::Global),
                limits,
            ));
        }
        let mut request = agent
            .get(&target)
            .config()
            .timeout_global(Some(left))
            .proxy(proxy_for(&target))
            .build();
        if let Some(authorization) = &authorization
            && same_origin(&current, &given)
        {
            request = request.header("Authorization", authorization);
        }
        let response = request
            .call()
            .map_err(|e| from_ureq_error(url, e, limits))?;
        let status = response.status();
        if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
            break response;
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                DataError::fetch(
                    url,
                    format!("HTTP status {status} without a usable Location"),
                )
            })?;
        let mut next = current.join(location).map_err(|e| {
            DataError::fetch(
                url,
                format!(
                    "redirected to an invalid location \"{}\": {e}",
                    without_credentials(location)
                ),
            )
        })?;
        strip_credentials(&mut next);
        check_redirect(&current, &next).map_err(|message| DataError::fetch(url, message))?;
        redirects += 1;
        if redirects > MAX_REDIRECTS {
            return Err(DataError::fetch(
                url,
                format!("more than {MAX_REDIRECTS} redirects"),
            ));
        }
        tracing::debug!(from = %current, to = %next, "following a redirect");
        target = next.to_string();
        current = next;
    };

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
        url = %without_credentials(url),
        bytes = body.len(),
        elapsed_ms = start.elapsed().as_millis(),
        "downloaded input"
    );
    Ok(body)
}

/// `Basic base64(user:password)` for a URL with credentials, both percent-decoded (a
/// password written `p%40ss` is `p@ss`), as curl sends them.
fn basic_authorization(url: &Url) -> Option<String> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let mut credentials: Vec<u8> = percent_decode_str(url.username()).collect();
    credentials.push(b':');
    credentials.extend(percent_decode_str(url.password().unwrap_or_default()));
    Some(format!("Basic {}", BASE64.encode(credentials)))
}

fn strip_credentials(url: &mut Url) {
    // Both fail only for URLs that cannot hold credentials, which then hold none.
    let _ = url.set_username("");
    let _ = url.set_password(None);
}

/// Whether `a` and `b` share scheme, host and port: where credentials may be sent.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Refuses a redirect to anything but `http`/`https` (a `file:` location is not a path to
/// read), and from `https` down to `http`.
fn check_redirect(from: &Url, to: &Url) -> std::result::Result<(), String> {
    if !SUPPORTED_SCHEMES.contains(&to.scheme()) {
        return Err(format!(
            "refused a redirect to {to}: only http and https URLs are followed"
        ));
    }
    if from.scheme() == "https" && to.scheme() == "http" {
        return Err(format!(
            "refused a redirect from https to http ({to}): it would drop the encryption"
        ));
    }
    Ok(())
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
    fn credentials_are_cut_from_what_is_shown() {
        let cases = [
            (
                "http://user:secret@127.0.0.1:81/a.png",
                "http://127.0.0.1:81/a.png",
            ),
            ("https://user@127.0.0.1", "https://127.0.0.1"),
            ("http://:secret@127.0.0.1/", "http://127.0.0.1/"),
            ("http://u:p%40ss@[::1]:8000/x", "http://[::1]:8000/x"),
            // The last `@` of the authority ends the credentials.
            ("http://u:p@ss@127.0.0.1/x", "http://127.0.0.1/x"),
            ("http://u:p@127.0.0.1\\x@y", "http://127.0.0.1\\x@y"),
            (
                "http://u:p@127.0.0.1/a?b=@c#@d",
                "http://127.0.0.1/a?b=@c#@d",
            ),
            // A password holding a `/` makes the URL invalid; it is hidden all the same.
            ("http://me:pa/ss@127.0.0.1/x.png", "http://127.0.0.1/x.png"),
            // An `@` in a valid path or query is not a credential.
            (
                "http://127.0.0.1/users/@me/x.png",
                "http://127.0.0.1/users/@me/x.png",
            ),
            ("http://127.0.0.1/?to=a@b", "http://127.0.0.1/?to=a@b"),
            ("ftp://u:p@127.0.0.1/f", "ftp://127.0.0.1/f"),
            ("cat.png", "cat.png"),
        ];
        for (url, shown) in cases {
            assert_eq!(without_credentials(url), shown, "{url}");
        }
    }

    /// The `Authorization` header lines of the requests `server` received.
    fn authorizations(server: &TestServer) -> Vec<Option<String>> {
        server
            .requests()
            .iter()
            .map(|head| {
                head.lines().find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("authorization")
                        .then(|| value.trim().to_string())
                })
            })
            .collect()
    }

    #[test]
    fn credentials_go_as_decoded_basic_auth_and_nowhere_else() {
        let server = TestServer::start(vec![
            ("/private.bin", Reply::ok(b"for your eyes".to_vec())),
            ("/moved", Reply::redirect("/private.bin")),
        ]);
        let l = limits(10_000, 1000);
        // user "user", password "p@ss w": percent-encoded in the URL as a browser would.
        let with_credentials = |path: &str| {
            server
                .url(path)
                .replacen("http://", "http://us%65r:p%40ss%20w@", 1)
        };
        let got = fetch_bytes(&with_credentials("/private.bin"), &l).unwrap();
        assert_eq!(got, b"for your eyes");
        // Followed within the same host, the credentials go along.
        fetch_bytes(&with_credentials("/moved"), &l).unwrap();
        let expected = Some("Basic dXNlcjpwQHNzIHc=".to_string());
        assert_eq!(
            authorizations(&server),
            [expected.clone(), expected.clone(), expected]
        );
        for head in server.requests() {
            let request_line = head.lines().next().unwrap();
            assert!(!head.contains("%40ss") && !head.contains("p@ss"), "{head}");
            assert!(request_line.starts_with("GET /"), "{request_line}");
        }

        // Errors name the URL without them.
        let url = with_credentials("/missing.png");
        let err = fetch_bytes(&url, &l).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot fetch {}: HTTP status 404 Not Found",
                server.url("/missing.png")
            )
        );
        let err = fetch_bytes("ftp://user:secret@127.0.0.1/cat.png", &l).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot fetch ftp://127.0.0.1/cat.png: unsupported URL scheme \"ftp\": only http \
             and https are accepted"
        );
        let err = fetch_bytes("http://me:pa/ss@127.0.0.1/x.png", &l).unwrap_err();
        assert!(!err.to_string().contains("pa/ss"), "{err}");
    }

    #[test]
    fn credentials_are_not_sent_to_another_host() {
        let other = TestServer::start(vec![("/elsewhere.bin", Reply::ok(b"other".to_vec()))]);
        let server = TestServer::start(vec![(
            "/away",
            Reply::redirect(&other.url("/elsewhere.bin")),
        )]);
        let url = server
            .url("/away")
            .replacen("http://", "http://user:secret@", 1);
        let got = fetch_bytes(&url, &limits(10_000, 1000)).unwrap();
        assert_eq!(got, b"other");
        assert_eq!(
            authorizations(&server),
            [Some("Basic dXNlcjpzZWNyZXQ=".to_string())]
        );
        assert_eq!(authorizations(&other), [None]);
    }

    #[test]
    fn redirects_to_other_schemes_are_refused() {
        let server = TestServer::start(vec![
            ("/to-file", Reply::redirect("file:///etc/passwd")),
            (
                "/to-ftp",
                Reply::redirect("ftp://user:secret@127.0.0.1/x.png"),
            ),
            (
                "/to-data",
                Reply::redirect("data:image/png;base64,iVBORw0KGgo="),
            ),
            ("/loop", Reply::redirect("/loop")),
        ]);
        let l = limits(10_000, 1000);
        let url = server.url("/to-file");
        assert_eq!(
            fetch_error(&url, &l),
            format!(
                "cannot fetch {url}: refused a redirect to file:///etc/passwd: only http and \
                 https URLs are followed"
            )
        );
        let url = server.url("/to-ftp");
        assert_eq!(
            fetch_error(&url, &l),
            format!(
                "cannot fetch {url}: refused a redirect to ftp://127.0.0.1/x.png: only http and \
                 https URLs are followed"
            )
        );
        let url = server.url("/to-data");
        assert!(fetch_error(&url, &l).contains("refused a redirect to data:"));
        let url = server.url("/loop");
        assert_eq!(
            fetch_error(&url, &l),
            format!("cannot fetch {url}: more than 10 redirects")
        );
        // One request for each refused redirect, 11 for the loop: nothing else was fetched.
        assert_eq!(server.requests().len(), 3 + 11);
    }

    #[test]
    fn redirects_from_https_down_to_http_are_refused() {
        let from = Url::parse("https://127.0.0.1/a.png").unwrap();
        let to = |url: &str| check_redirect(&from, &Url::parse(url).unwrap());
        assert_eq!(
            to("http://127.0.0.1/a.png").unwrap_err(),
            "refused a redirect from https to http (http://127.0.0.1/a.png): it would drop the \
             encryption"
        );
        assert!(to("https://127.0.0.2/b.png").is_ok());
        assert!(to("file:///etc/passwd").is_err());
        let plain = Url::parse("http://127.0.0.1/a.png").unwrap();
        assert!(check_redirect(&plain, &Url::parse("https://127.0.0.1/").unwrap()).is_ok());
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
