//! A tiny HTTP/1.1 server on 127.0.0.1 for the download tests: each connection gets one
//! canned [`Reply`] chosen by the request's path, then is closed.
//!
//! Every request's head is recorded ([`TestServer::requests`]), so tests can check what a
//! client sent (an `Authorization` header, and that no credentials went anywhere else).
//!
//! It stops by itself: the accept loop ends when the [`TestServer`] is dropped (or after
//! a minute), and each connection gives up after [`HOLD`] of silence from the client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest a connection waits on a client that neither sends nor closes.
const HOLD: Duration = Duration::from_secs(10);
/// The longest the server accepts connections, whatever the test does.
const LIFETIME: Duration = Duration::from_secs(60);

/// What the server answers on one path.
pub(crate) enum Reply {
    /// A complete response with a `Content-Length`.
    Full {
        status: &'static str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// Headers announcing this many bytes, then no body until the client gives up.
    AnnounceOnly(u64),
    /// A chunked body of this many bytes (or until the client stops reading).
    Chunked(usize),
    /// A body with no length, ended by closing the connection after this many bytes.
    UntilClose(usize),
    /// Reads the request and never answers.
    Silent,
}

impl Reply {
    /// `200 OK` with `body`.
    pub(crate) fn ok(body: Vec<u8>) -> Self {
        Reply::status("200 OK", body)
    }

    /// A response with the status line `status` (e.g. `"404 Not Found"`).
    pub(crate) fn status(status: &'static str, body: Vec<u8>) -> Self {
        Reply::Full {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// `302 Found` to `location`.
    pub(crate) fn redirect(location: &str) -> Self {
        Reply::Full {
            status: "302 Found",
            headers: vec![("Location", location.to_string())],
            body: Vec::new(),
        }
    }
}

/// A running server; dropping it stops the accept loop.
pub(crate) struct TestServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
    accept_loop: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serves `routes` (path without query → reply) on a free loopback port; other paths
    /// get `404 Not Found`.
    pub(crate) fn start(routes: Vec<(&'static str, Reply)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let routes = Arc::new(routes);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let accept_loop = {
            let stop = Arc::clone(&stop);
            let requests = Arc::clone(&requests);
            std::thread::spawn(move || {
                let start = Instant::now();
                while !stop.load(Ordering::Relaxed) && start.elapsed() < LIFETIME {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let routes = Arc::clone(&routes);
                            let requests = Arc::clone(&requests);
                            std::thread::spawn(move || serve(stream, &routes, &requests));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(_) => break,
                    }
                }
            })
        };
        TestServer {
            addr,
            stop,
            requests,
            accept_loop: Some(accept_loop),
        }
    }

    /// The head (request line and headers) of every request received so far, in order.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT` followed by `path_and_query`.
    pub(crate) fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.accept_loop.take() {
            let _ = handle.join();
        }
    }
}

fn serve(mut stream: TcpStream, routes: &[(&'static str, Reply)], requests: &Mutex<Vec<String>>) {
    // Accepted sockets may inherit the listener's non-blocking mode on some systems.
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(HOLD)).is_err()
        || stream.set_write_timeout(Some(HOLD)).is_err()
    {
        return;
    }
    let Some(head) = read_request_head(&mut stream) else {
        return;
    };
    if let Ok(mut requests) = requests.lock() {
        requests.push(head.clone());
    }
    let Some(target) = head
        .lines()
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .map(str::to_string)
    else {
        return;
    };
    let path = target.split('?').next().unwrap_or_default();
    let Some((_, reply)) = routes.iter().find(|(p, _)| *p == path) else {
        let _ = write_full(&mut stream, "404 Not Found", &[], b"not found");
        return;
    };
    let _ = match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => write_full(&mut stream, status, headers, body),
        Reply::AnnounceOnly(length) => {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n");
            stream
                .write_all(head.as_bytes())
                .map(|()| wait_for_close(&mut stream))
        }
        Reply::Chunked(total) => write_chunked(&mut stream, *total),
        Reply::UntilClose(total) => {
            let head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
            stream
                .write_all(head.as_bytes())
                .and_then(|()| write_filler(&mut stream, *total))
        }
        Reply::Silent => {
            wait_for_close(&mut stream);
            Ok(())
        }
    };
}

/// Reads the request head (request line and headers).
fn read_request_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 || head.len() > 64 * 1024 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some(String::from_utf8_lossy(&head[..end]).into_owned())
}

fn write_full(
    stream: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)
}

fn write_chunked(stream: &mut TcpStream, total: usize) -> std::io::Result<()> {
    let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    stream.write_all(head.as_bytes())?;
    let chunk = [b'x'; 4096];
    let mut left = total;
    while left > 0 {
        let n = left.min(chunk.len());
        stream.write_all(format!("{n:x}\r\n").as_bytes())?;
        stream.write_all(&chunk[..n])?;
        stream.write_all(b"\r\n")?;
        left -= n;
    }
    stream.write_all(b"0\r\n\r\n")
}

fn write_filler(stream: &mut TcpStream, total: usize) -> std::io::Result<()> {
    let chunk = [b'x'; 4096];
    let mut left = total;
    while left > 0 {
        let n = left.min(chunk.len());
        stream.write_all(&chunk[..n])?;
        left -= n;
    }
    Ok(())
}

/// Blocks until the client closes the connection (or [`HOLD`] passes without a byte).
fn wait_for_close(stream: &mut TcpStream) {
    let mut buf = [0u8; 256];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}
