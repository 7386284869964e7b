//! # attestlog-serve
//!
//! HTTP/1.1 serving for a service any client on the internet can reach (DESIGN.md §11),
//! shared by the log server and the witness (`attestlog witness serve`):
//!
//! - a **header read timeout** (default 10 s) from the first byte of a request's head, and for
//!   an idle keep-alive connection from the end of its previous answer: trickling
//!   ("slowloris") and idle connections are closed. `axum::serve` sets no timer, so hyper's
//!   own header timeout never fires there; [`serve`] drives each connection with hyper's
//!   HTTP/1.1 builder and a Tokio timer instead;
//! - a **cap on the request head** (default 64 KiB; hyper answers 431 beyond it);
//! - a **whole-request timeout** (default 30 s) around reading the body and handling it;
//! - at most **N requests in flight** (default 1,024): beyond that an immediate 503 with
//!   `Retry-After`, never a queue;
//! - `X-Content-Type-Options: nosniff` on every answer.
//!
//! Request bodies are capped by the handlers that read them (each endpoint knows its own
//! limit). HTTP/2 is not served: put a reverse proxy in front for it.
//!
//! Out of scope: TLS, per-client rate limits.
#![forbid(unsafe_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;

/// Default header read timeout.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default whole-request timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default most requests in flight.
pub const MAX_IN_FLIGHT: usize = 1024;
/// Default largest request head (request line and headers) in bytes.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Smallest request-head cap hyper accepts.
pub const MIN_HEADER_BYTES: usize = 8192;

/// The limits of one server. `Default` gives DESIGN.md §11's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time allowed to receive a request's head, and for an idle keep-alive connection to
    /// start its next request.
    pub header_read_timeout: Duration,
    /// Time allowed to read a request's body and answer it.
    pub request_timeout: Duration,
    /// Most requests handled at once; more are answered 503 at once.
    pub max_in_flight: usize,
    /// Largest request head in bytes (at least [`MIN_HEADER_BYTES`]).
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            max_in_flight: MAX_IN_FLIGHT,
            max_header_bytes: MAX_HEADER_BYTES,
        }
    }
}

/// Why [`guard`] answered a request itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Too many requests in flight: answer 503 with `Retry-After`.
    Overloaded,
    /// The request was not read and answered within the request timeout: answer 408.
    Timeout,
}

impl Rejection {
    /// A message naming the limit.
    #[must_use]
    pub fn message(self, limits: &Limits) -> String {
        match self {
            Self::Overloaded => format!(
                "the server is handling {} requests; retry shortly",
                limits.max_in_flight
            ),
            Self::Timeout => format!(
                "the request was not completed within {} ms",
                limits.request_timeout.as_millis()
            ),
        }
    }
}

/// Renders a [`Rejection`] in the service's own error format.
pub type Render = fn(Rejection, &Limits) -> Response;

#[derive(Clone)]
struct Guard {
    permits: Arc<Semaphore>,
    limits: Limits,
    render: Render,
}

/// Wraps every route of `router` (and its fallback): the in-flight limit, the request
/// timeout and the `nosniff` header. Call it after the last route is added.
pub fn guard<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    limits: &Limits,
    render: Render,
) -> Router<S> {
    let g = Guard {
        permits: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
        limits: *limits,
        render,
    };
    router.layer(axum::middleware::from_fn_with_state(g, guard_request))
}

async fn guard_request(State(g): State<Guard>, req: Request, next: Next) -> Response {
    let mut response = match g.permits.clone().try_acquire_owned() {
        Ok(permit) => {
            let r = tokio::time::timeout(g.limits.request_timeout, next.run(req))
                .await
                .unwrap_or_else(|_| (g.render)(Rejection::Timeout, &g.limits));
            drop(permit);
            r
        }
        Err(_) => (g.render)(Rejection::Overloaded, &g.limits),
    };
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Whether an accept error concerns only one connection (the listener is still fine).
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Serves `router` on `listener` over HTTP/1.1 with the header read timeout and head cap of
/// `limits`, until `shutdown` resolves; then stops accepting, closes idle connections and
/// lets requests in flight finish (for at most the request timeout).
///
/// Wrap the router with [`guard`] for the in-flight limit, the request timeout and `nosniff`.
///
/// # Errors
/// Never for one connection's errors; the listener's own errors are logged and retried.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        .max_header_size(limits.max_header_bytes.max(MIN_HEADER_BYTES))
        .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_BYTES) + MIN_HEADER_BYTES);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors or similar: back off instead of spinning; the
                    // header timeout frees descriptors held by idle connections.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = builder.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // A connection's end (closed, timed out, malformed) concerns it alone.
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(limits.request_timeout, graceful.shutdown()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::StatusCode;
    use axum::response::IntoResponse as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    fn render(r: Rejection, l: &Limits) -> Response {
        let status = match r {
            Rejection::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::Timeout => StatusCode::REQUEST_TIMEOUT,
        };
        (status, r.message(l)).into_response()
    }

    /// Serves a router whose `/wait` answers only once `release` is notified.
    async fn start(
        limits: Limits,
    ) -> (
        std::net::SocketAddr,
        Arc<tokio::sync::Notify>,
        tokio::sync::oneshot::Sender<()>,
    ) {
        let release = Arc::new(tokio::sync::Notify::new());
        let r = release.clone();
        let router = Router::new()
            .route("/", axum::routing::get(|| async { "ok" }))
            .route(
                "/wait",
                axum::routing::get(move || {
                    let r = r.clone();
                    async move {
                        r.notified().await;
                        "released"
                    }
                }),
            );
        let router = guard(router, &limits, render);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            serve(listener, router, &limits, async move {
                let _ = rx.await;
            })
            .await
        });
        (addr, release, tx)
    }

    /// Reads until the peer closes (Ok) or the deadline passes (Err).
    async fn closed_within(s: &mut tokio::net::TcpStream, d: Duration) -> Result<Vec<u8>, ()> {
        let mut out = Vec::new();
        tokio::time::timeout(d, async {
            let mut buf = [0u8; 1024];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await
        .map_err(|_| ())?;
        Ok(out)
    }

    #[tokio::test]
    async fn trickling_and_idle_connections_are_closed() {
        let limits = Limits {
            header_read_timeout: Duration::from_millis(200),
            ..Limits::default()
        };
        let (addr, _, _stop) = start(limits).await;
        // Half a request head, then nothing.
        let mut trickle = tokio::net::TcpStream::connect(addr).await.unwrap();
        trickle
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        // A keep-alive connection that answered one request and then idles.
        let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        idle.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        assert!(
            closed_within(&mut trickle, Duration::from_secs(10))
                .await
                .is_ok(),
            "a trickling connection stayed open"
        );
        assert!(
            closed_within(&mut idle, Duration::from_secs(10))
                .await
                .is_ok(),
            "an idle keep-alive connection stayed open"
        );
    }

    #[tokio::test]
    async fn requests_beyond_the_limit_are_refused_at_once() {
        let limits = Limits {
            max_in_flight: 2,
            ..Limits::default()
        };
        let (addr, release, _stop) = start(limits).await;
        let url = format!("http://{addr}");
        let http = reqwest_free_get(addr);
        let waiting: Vec<_> = (0..2)
            .map(|_| tokio::spawn(http.clone()("/wait")))
            .collect();
        // Until both waiting requests hold their permits, `/` may still pass.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let refused = loop {
            let r = http("/").await;
            if r.starts_with("HTTP/1.1 503") {
                break r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never refused: {url}"
            );
            tokio::task::yield_now().await;
        };
        assert!(
            refused.contains("x-content-type-options: nosniff"),
            "{refused}"
        );
        release.notify_waiters();
        // Each waiter is released once it waits; keep notifying until both answered.
        for w in waiting {
            let r = loop {
                release.notify_waiters();
                if w.is_finished() {
                    break w.await.unwrap();
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "waiters never answered"
                );
                tokio::task::yield_now().await;
            };
            assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        }
        assert!(http("/").await.starts_with("HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn slow_bodies_time_out_and_big_heads_are_refused() {
        let limits = Limits {
            request_timeout: Duration::from_millis(200),
            ..Limits::default()
        };
        let (addr, _, _stop) = start(limits).await;
        // `/wait` never answers by itself: the request timeout answers 408.
        let r = reqwest_free_get(addr)("/wait").await;
        assert!(r.starts_with("HTTP/1.1 408"), "{r}");
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(MAX_HEADER_BYTES + 1)
        );
        s.write_all(big.as_bytes()).await.unwrap();
        let answer = closed_within(&mut s, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(
            answer.starts_with(b"HTTP/1.1 431"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }

    /// A minimal HTTP/1.1 GET over a fresh connection: the whole answer as text.
    fn reqwest_free_get(
        addr: std::net::SocketAddr,
    ) -> impl Fn(&'static str) -> std::pin::Pin<Box<dyn Future<Output = String> + Send>> + Clone
    {
        move |path| {
            Box::pin(async move {
                let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                s.write_all(
                    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await
                .unwrap();
                let mut out = Vec::new();
                s.read_to_end(&mut out).await.unwrap();
                String::from_utf8_lossy(&out)
                    .to_lowercase()
                    .replacen("http/1.1", "HTTP/1.1", 1)
            })
        }
    }
}
