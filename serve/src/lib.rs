//! # attestlog-serve
//!
//! HTTP/1.1 serving for a service any client on the internet can reach (DESIGN.md §11),
//! shared by the log server and the witness (`attestlog witness serve`):
//!
//! - a **header read timeout** (default 10 s) from the first byte of a request's head, and for
//!   an idle keep-alive connection from the end of its previous answer (the keep-alive idle
//!   timeout): trickling ("slowloris") and idle connections are closed. `axum::serve` sets no
//!   timer, so hyper's own header timeout never fires there; [`serve`] drives each connection
//!   with hyper's HTTP/1.1 builder and a Tokio timer instead;
//! - a **cap on the request head** (default 64 KiB; hyper answers 431 beyond it);
//! - a **whole-request timeout** (default 30 s) around reading the body and handling it
//!   (beyond it, 408), and for sending the answer: a connection whose answer is not sent
//!   [`SEND_GRACE`] after the request timeout (a client that stopped reading) is closed;
//! - at most **N requests in flight** (default 1,024), each counted until its answer's body
//!   has been sent, not only its head: beyond that an immediate 503 with `Retry-After`,
//!   never a queue;
//! - at most **N open connections** (default 2,048, [`MAX_CONNECTIONS`]): at the cap a new
//!   connection is accepted only when it can be served, after closing the connection idle the
//!   longest if that one has idled at least [`EVICT_IDLE_AFTER`] (first among connections that
//!   never completed a request, such as trickling heads, then among idle keep-alive
//!   connections, as nginx reuses keep-alive connections when it runs out); a connection with
//!   a request in flight is never cut. Otherwise (every connection busy or recently active)
//!   the server stops accepting until a connection closes or idles long enough: new
//!   connections wait in the kernel's listen queue, never accepted only to be closed (a
//!   reconnecting flood would turn that into an accept-and-close storm). So many idle
//!   connections cost bounded memory, a reconnecting flood can neither churn out the
//!   keep-alive connections of active clients nor burn the CPU on accepts, and a new client
//!   is served as soon as some connection has idled;
//! - `X-Content-Type-Options: nosniff` on every answer.
//!
//! Request bodies are capped by the handlers that read them (each endpoint knows its own
//! limit). HTTP/2 is not served: put a reverse proxy in front for it.
//!
//! Out of scope: TLS, per-client rate limits.
#![forbid(unsafe_code)]

pub mod fs;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::{Notify, Semaphore};

/// Default header read timeout.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default whole-request timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default most requests in flight.
pub const MAX_IN_FLIGHT: usize = 1024;
/// Default most open connections.
pub const MAX_CONNECTIONS: usize = 2048;
/// Default least idle time of a connection closed to make room for a new one.
pub const EVICT_IDLE_AFTER: Duration = Duration::from_secs(1);
/// Time beyond the request timeout allowed for sending an answer before its connection is
/// closed.
pub const SEND_GRACE: Duration = Duration::from_secs(1);
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
    /// Most open connections; a new one beyond it closes the connection idle the longest.
    pub max_connections: usize,
    /// Least idle time of a connection closed to make room for a new one.
    pub evict_idle_after: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            max_in_flight: MAX_IN_FLIGHT,
            max_header_bytes: MAX_HEADER_BYTES,
            max_connections: MAX_CONNECTIONS,
            evict_idle_after: EVICT_IDLE_AFTER,
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
            // The request counts until its answer's body has been sent (or abandoned).
            r.map(|b| Body::new(Held::new(b, permit)))
        }
        Err(_) => (g.render)(Rejection::Overloaded, &g.limits),
    };
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A response body that holds `G` (a permit, a connection's busy mark) until its last frame
/// has been taken, it failed, or it is dropped (the connection ended).
struct Held<G> {
    inner: Body,
    guard: Option<G>,
}

impl<G> Held<G> {
    fn new(inner: Body, guard: G) -> Self {
        Self {
            inner,
            guard: Some(guard),
        }
    }
}

impl<G: Send + Unpin + 'static> HttpBody for Held<G> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(r, Poll::Ready(None | Some(Err(_)))) {
            self.guard = None;
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Open connections: how many, and which are idle (no request in flight), oldest idle first.
///
/// At the cap a new connection evicts the connection idle the longest (as nginx reuses its
/// keep-alive connections when it runs out), first among connections that never completed a
/// request (trickling heads, connections opened and left silent), then among keep-alive
/// connections; only one idle at least `evict_after`, and never a connection with a request
/// in flight. When none can make room, the server stops accepting: new connections wait in
/// the kernel's listen queue instead of being accepted and closed (which a reconnecting flood
/// turns into an accept-and-close storm).
#[derive(Default)]
struct Table {
    /// Open connections, not counting evicted ones that are closing.
    open: usize,
    /// Sequence of the next idle period.
    next: u64,
    /// Idle connections that never completed a request, by the sequence number of their idle
    /// period (smallest: longest idle), with the start of that period.
    fresh: BTreeMap<u64, (tokio::time::Instant, Arc<Conn>)>,
    /// Idle connections that completed a request (keep-alive), the same way.
    idle: BTreeMap<u64, (tokio::time::Instant, Arc<Conn>)>,
}

/// One connection's state, shared by its task and its requests.
struct Conn {
    /// Key of its current idle period in [`Table::fresh`] or [`Table::idle`] (`u64::MAX`:
    /// busy or closed); changed only under the table's lock.
    idle_key: AtomicU64,
    /// Set once an answer on it has been sent.
    served: AtomicBool,
    /// Set when evicted: its task closes it.
    evicted: AtomicBool,
    /// When its current request's head arrived (busy).
    busy_since: Mutex<Option<tokio::time::Instant>>,
    /// Wakes its task on a change (busy, idle, evicted).
    wake: Notify,
}

const NOT_IDLE: u64 = u64::MAX;

/// When a new connection can be admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Room {
    /// Now (below the cap, or a connection can be evicted).
    Now,
    /// When the connection idle the longest will have idled long enough, unless another
    /// closes before.
    At(tokio::time::Instant),
    /// When a connection closes or idles: every open connection has a request in flight.
    Later,
}

/// The open connections of one server.
struct Connections {
    table: Mutex<Table>,
    max: usize,
    evict_after: Duration,
    /// Wakes the accept loop waiting for room: a connection closed or became idle.
    changed: Notify,
}

impl Connections {
    fn new(max: usize, evict_after: Duration) -> Self {
        Self {
            table: Mutex::new(Table::default()),
            max: max.max(1),
            evict_after,
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The connection [`admit`](Self::admit) would evict, and when it may: the longest idle
    /// of those that never completed a request if one may go now, else the longest idle of
    /// all.
    fn candidate(&self, t: &Table) -> Option<(u64, bool, tokio::time::Instant)> {
        let fresh = t.fresh.first_key_value().map(|(k, (s, _))| (*k, true, *s));
        let kept = t.idle.first_key_value().map(|(k, (s, _))| (*k, false, *s));
        match (fresh, kept) {
            (Some(f), _) if f.2.elapsed() >= self.evict_after => Some(f),
            (Some(f), Some(k)) => Some(if f.2 <= k.2 { f } else { k }),
            (f, k) => f.or(k),
        }
    }

    /// Whether a new connection can be admitted now, and if not, when to look again.
    fn room(&self) -> Room {
        let t = self.lock();
        if t.open < self.max {
            return Room::Now;
        }
        match self.candidate(&t) {
            None => Room::Later,
            Some((_, _, since)) if since.elapsed() >= self.evict_after => Room::Now,
            Some((_, _, since)) => Room::At(since + self.evict_after),
        }
    }

    /// Waits until [`room`](Self::room) is [`Room::Now`].
    async fn wait_for_room(&self) {
        loop {
            // Registered before looking, so that a change after the look is not missed.
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            match self.room() {
                Room::Now => return,
                Room::At(when) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(when) => {}
                        () = changed => {}
                    }
                }
                Room::Later => changed.await,
            }
        }
    }

    /// Admits a new connection, idle until its first request: at the cap, after evicting the
    /// connection [`candidate`](Self::candidate) names if it idled long enough; `None`
    /// otherwise.
    fn admit(&self) -> Option<Arc<Conn>> {
        let mut t = self.lock();
        if t.open >= self.max {
            let (key, fresh, since) = self.candidate(&t)?;
            if since.elapsed() < self.evict_after {
                return None;
            }
            let map = if fresh { &mut t.fresh } else { &mut t.idle };
            let (_, oldest) = map.remove(&key)?;
            oldest.idle_key.store(NOT_IDLE, Ordering::Relaxed);
            oldest.evicted.store(true, Ordering::Relaxed);
            oldest.wake.notify_one();
            t.open -= 1;
        }
        let c = Arc::new(Conn {
            idle_key: AtomicU64::new(NOT_IDLE),
            served: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            busy_since: Mutex::new(None),
            wake: Notify::new(),
        });
        t.open += 1;
        Self::set_idle(&mut t, &c);
        Some(c)
    }

    fn set_idle(t: &mut Table, c: &Arc<Conn>) {
        let key = t.next;
        t.next += 1;
        c.idle_key.store(key, Ordering::Relaxed);
        let map = if c.served.load(Ordering::Relaxed) {
            &mut t.idle
        } else {
            &mut t.fresh
        };
        map.insert(key, (tokio::time::Instant::now(), c.clone()));
    }

    fn unset_idle(t: &mut Table, c: &Conn) {
        let key = c.idle_key.swap(NOT_IDLE, Ordering::Relaxed);
        if key != NOT_IDLE && t.idle.remove(&key).is_none() {
            t.fresh.remove(&key);
        }
    }

    /// A request's head arrived on `c`.
    fn busy(&self, c: &Arc<Conn>) {
        {
            let mut t = self.lock();
            Self::unset_idle(&mut t, c);
        }
        if let Ok(mut b) = c.busy_since.lock() {
            *b = Some(tokio::time::Instant::now());
        }
        c.wake.notify_one();
    }

    /// The answer on `c` was sent (or abandoned): idle again, unless evicted or closed.
    fn idle(&self, c: &Arc<Conn>) {
        if let Ok(mut b) = c.busy_since.lock() {
            *b = None;
        }
        c.served.store(true, Ordering::Relaxed);
        {
            let mut t = self.lock();
            if !c.evicted.load(Ordering::Relaxed) && c.idle_key.load(Ordering::Relaxed) == NOT_IDLE
            {
                Self::set_idle(&mut t, c);
            }
        }
        c.wake.notify_one();
        self.changed.notify_one();
    }

    /// `c`'s task ended.
    fn closed(&self, c: &Conn) {
        {
            let mut t = self.lock();
            Self::unset_idle(&mut t, c);
            if !c.evicted.swap(true, Ordering::Relaxed) {
                t.open -= 1;
            }
        }
        self.changed.notify_one();
    }
}

/// Marks its connection idle again when dropped (the answer was sent or abandoned).
struct Answering {
    conns: Arc<Connections>,
    conn: Arc<Conn>,
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.conns.idle(&self.conn);
    }
}

/// The router as one connection's service: marks the connection busy from a request's head
/// until its answer has been sent.
struct ConnService {
    inner: TowerToHyperService<Router>,
    conns: Arc<Connections>,
    conn: Arc<Conn>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        self.conns.busy(&self.conn);
        let answering = Answering {
            conns: self.conns.clone(),
            conn: self.conn.clone(),
        };
        let fut = self.inner.call(req);
        Box::pin(async move {
            let r = fut.await?;
            Ok(r.map(|b| Body::new(Held::new(b, answering))))
        })
    }
}

/// Drives one connection until it ends, is evicted, or its answer is not sent in time.
async fn drive<F: Future>(conn: F, c: Arc<Conn>, conns: Arc<Connections>, limit: Duration) {
    let mut conn = std::pin::pin!(conn);
    loop {
        if c.evicted.load(Ordering::Relaxed) {
            break;
        }
        let deadline = c.busy_since.lock().ok().and_then(|b| *b).map(|t| t + limit);
        let late = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut conn => break,
            () = c.wake.notified() => {}
            () = late => {
                tracing::debug!("answer not sent in time: connection closed");
                break;
            }
        }
    }
    conns.closed(&c);
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

/// Serves `router` on `listener` over HTTP/1.1 with the header read timeout, head cap,
/// connection cap and send deadline of `limits`, until `shutdown` resolves; then stops
/// accepting, closes idle connections and lets requests in flight finish (for at most the
/// request timeout).
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
    let conns = Arc::new(Connections::new(
        limits.max_connections,
        limits.evict_idle_after,
    ));
    let send_limit = limits.request_timeout + SEND_GRACE;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // At the cap, with no connection to evict, new connections wait in the listen queue
        // (a connection is accepted only when it can be served).
        tokio::select! {
            () = conns.wait_for_room() => {}
            () = &mut shutdown => break,
        }
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
        // Should the room have gone while accepting (the connection to evict became busy),
        // this one waits for the next room rather than being closed.
        let c = loop {
            if let Some(c) = conns.admit() {
                break Some(c);
            }
            tokio::select! {
                () = conns.wait_for_room() => {}
                () = &mut shutdown => break None,
            }
        };
        let Some(c) = c else { break };
        let _ = stream.set_nodelay(true);
        let service = ConnService {
            inner: TowerToHyperService::new(router.clone()),
            conns: conns.clone(),
            conn: c.clone(),
        };
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        // A connection's end (closed, timed out, malformed, evicted) concerns it alone.
        tokio::spawn(drive(conn, c, conns.clone(), send_limit));
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

    /// A body of one chunk `first\n`, then the end once `gate` gives a permit.
    struct Gated {
        first: Option<Bytes>,
        gate: Pin<Box<dyn Future<Output = ()> + Send>>,
        done: bool,
    }

    impl HttpBody for Gated {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if let Some(b) = self.first.take() {
                return Poll::Ready(Some(Ok(Frame::data(b))));
            }
            if self.done {
                return Poll::Ready(None);
            }
            match self.gate.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.done = true;
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            }
        }
    }

    /// Serves a router whose `/wait` answers only once `release` is notified, and whose
    /// `/stream` sends its first chunk at once and ends once `gate` gives it a permit.
    async fn start(
        limits: Limits,
    ) -> (
        std::net::SocketAddr,
        Arc<tokio::sync::Notify>,
        tokio::sync::oneshot::Sender<()>,
    ) {
        let (addr, release, _, stop) = start_gated(limits).await;
        (addr, release, stop)
    }

    async fn start_gated(
        limits: Limits,
    ) -> (
        std::net::SocketAddr,
        Arc<tokio::sync::Notify>,
        Arc<Semaphore>,
        tokio::sync::oneshot::Sender<()>,
    ) {
        let release = Arc::new(tokio::sync::Notify::new());
        let r = release.clone();
        let gate = Arc::new(Semaphore::new(0));
        let g = gate.clone();
        let router = Router::new()
            .route("/", axum::routing::get(|| async { "ok" }))
            .route(
                "/stream",
                axum::routing::get(move || {
                    let g = g.clone();
                    async move {
                        Body::new(Gated {
                            first: Some(Bytes::from_static(b"first\n")),
                            gate: Box::pin(async move {
                                if let Ok(p) = g.acquire().await {
                                    p.forget();
                                }
                            }),
                            done: false,
                        })
                    }
                }),
            )
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
        (addr, release, gate, tx)
    }

    /// Sends a keep-alive GET on `s` and reads its answer (head and `Content-Length` body, or
    /// a chunked body up to its `marker`): the text read.
    async fn get_on(s: &mut tokio::net::TcpStream, path: &str, marker: &str) -> String {
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        tokio::time::timeout(Duration::from_secs(10), async {
            while !String::from_utf8_lossy(&out).contains(marker) {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed: {}", String::from_utf8_lossy(&out));
                out.extend_from_slice(&buf[..n]);
            }
        })
        .await
        .unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    /// A request's permit is held until its answer's body has been sent, not only its head.
    #[tokio::test]
    async fn the_in_flight_permit_is_held_until_the_body_is_sent() {
        let limits = Limits {
            max_in_flight: 1,
            ..Limits::default()
        };
        let (addr, _, gate, _stop) = start_gated(limits).await;
        let http = reqwest_free_get(addr);
        let mut a = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = get_on(&mut a, "/stream", "first\n").await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        // The head and a first chunk are out; the body is not finished: still in flight.
        let r = http("/").await;
        assert!(r.starts_with("HTTP/1.1 503"), "{r}");
        gate.add_permits(1);
        let rest = get_on_end(&mut a).await;
        assert!(rest.ends_with("0\r\n\r\n"), "{rest:?}");
        let r = http("/").await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }

    /// Reads `s` until a chunked body's last chunk.
    async fn get_on_end(s: &mut tokio::net::TcpStream) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        tokio::time::timeout(Duration::from_secs(10), async {
            while !out.ends_with(b"0\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed: {}", String::from_utf8_lossy(&out));
                out.extend_from_slice(&buf[..n]);
            }
        })
        .await
        .unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    /// At the connection cap, a new connection closes the connection idle the longest and is
    /// served; a connection with an answer in flight is never cut.
    #[tokio::test]
    async fn at_the_connection_cap_the_longest_idle_connection_makes_room() {
        let limits = Limits {
            max_connections: 3,
            evict_idle_after: Duration::ZERO,
            ..Limits::default()
        };
        let (addr, _, gate, _stop) = start_gated(limits).await;
        let mut busy = tokio::net::TcpStream::connect(addr).await.unwrap();
        get_on(&mut busy, "/stream", "first\n").await;
        let mut idle = Vec::new();
        for _ in 0..2 {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            assert!(get_on(&mut s, "/", "ok").await.starts_with("HTTP/1.1 200"));
            idle.push(s);
        }
        // Two more: each evicts the connection idle the longest, oldest first.
        for k in 0..2 {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            assert!(get_on(&mut s, "/", "ok").await.starts_with("HTTP/1.1 200"));
            assert!(
                closed_within(&mut idle[k], Duration::from_secs(10))
                    .await
                    .is_ok(),
                "idle connection {k} was not closed"
            );
            idle.push(s);
        }
        // The newest idle connection still serves; the busy one finishes its answer.
        assert!(
            get_on(&mut idle[3], "/", "ok")
                .await
                .starts_with("HTTP/1.1 200")
        );
        gate.add_permits(1);
        get_on_end(&mut busy).await;
    }

    /// Whether `s` has nothing to read and is still open right now.
    fn nothing_yet(s: &tokio::net::TcpStream) -> bool {
        let mut buf = [0u8; 16];
        matches!(s.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// When every open connection is recently active, a new connection waits in the listen
    /// queue (neither served nor closed) and the keep-alive connections stay; it is served once
    /// one of them closes.
    #[tokio::test]
    async fn recently_active_connections_are_not_churned_out() {
        let limits = Limits {
            max_connections: 2,
            evict_idle_after: Duration::from_secs(600),
            ..Limits::default()
        };
        let (addr, _, _, _stop) = start_gated(limits).await;
        let mut kept = Vec::new();
        for _ in 0..2 {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            assert!(get_on(&mut s, "/", "ok").await.starts_with("HTTP/1.1 200"));
            kept.push(s);
        }
        let mut waiting = Vec::new();
        for _ in 0..5 {
            let mut w = tokio::net::TcpStream::connect(addr).await.unwrap();
            w.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            waiting.push(w);
        }
        // The kept connections are served meanwhile; the waiting ones are neither answered
        // nor closed (closed at accept, they would have read an end by now).
        for s in &mut kept {
            assert!(get_on(s, "/", "ok").await.starts_with("HTTP/1.1 200"));
        }
        for w in &waiting {
            assert!(
                nothing_yet(w),
                "a connection beyond the cap was served or closed"
            );
        }
        // Each closed connection lets the next waiting one in, in turn.
        drop(kept);
        for w in &mut waiting {
            let mut first = [0u8; 12];
            tokio::time::timeout(Duration::from_secs(10), w.read_exact(&mut first))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&first, b"HTTP/1.1 200");
            w.shutdown().await.unwrap();
            closed_within(w, Duration::from_secs(10)).await.unwrap();
        }
    }

    /// When every open connection has an answer in flight, a new connection waits until one
    /// of them is done.
    #[tokio::test]
    async fn connections_beyond_the_cap_wait_while_all_are_busy() {
        let limits = Limits {
            max_connections: 1,
            evict_idle_after: Duration::ZERO,
            ..Limits::default()
        };
        let (addr, _, gate, _stop) = start_gated(limits).await;
        let mut busy = tokio::net::TcpStream::connect(addr).await.unwrap();
        get_on(&mut busy, "/stream", "first\n").await;
        let mut waiting = tokio::net::TcpStream::connect(addr).await.unwrap();
        waiting
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert!(
            nothing_yet(&waiting),
            "a connection beyond the cap was served"
        );
        gate.add_permits(1);
        get_on_end(&mut busy).await;
        // The finished connection is idle (idle enough at once here): it makes room.
        let got = closed_within(&mut busy, Duration::from_secs(10)).await;
        assert_eq!(got, Ok(Vec::new()), "the idle connection was not evicted");
        let mut first = [0u8; 12];
        tokio::time::timeout(Duration::from_secs(10), waiting.read_exact(&mut first))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
    }

    /// At the cap, connections that never completed a request go before keep-alive
    /// connections that idled longer.
    #[tokio::test]
    async fn connections_that_never_sent_a_request_are_evicted_first() {
        let limits = Limits {
            max_connections: 2,
            evict_idle_after: Duration::ZERO,
            header_read_timeout: Duration::from_secs(600),
            ..Limits::default()
        };
        let (addr, _, _, _stop) = start_gated(limits).await;
        let mut kept = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(
            get_on(&mut kept, "/", "ok")
                .await
                .starts_with("HTTP/1.1 200")
        );
        // Half a head, then silence; accepted before the next connection (the queue is FIFO).
        let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        silent.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let mut new = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(
            get_on(&mut new, "/", "ok")
                .await
                .starts_with("HTTP/1.1 200")
        );
        let got = closed_within(&mut silent, Duration::from_secs(10)).await;
        assert_eq!(got, Ok(Vec::new()), "the silent connection was not evicted");
        assert!(
            get_on(&mut kept, "/", "ok")
                .await
                .starts_with("HTTP/1.1 200")
        );
    }

    /// An answer a client does not take within the request timeout (and the grace) closes
    /// its connection and frees its permit.
    #[tokio::test]
    async fn an_answer_not_sent_in_time_closes_its_connection() {
        let limits = Limits {
            request_timeout: Duration::from_millis(100),
            max_in_flight: 1,
            ..Limits::default()
        };
        let (addr, _, _gate, _stop) = start_gated(limits).await;
        let mut a = tokio::net::TcpStream::connect(addr).await.unwrap();
        get_on(&mut a, "/stream", "first\n").await;
        let rest = closed_within(&mut a, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(!rest.ends_with(b"0\r\n\r\n"), "the body was finished");
        let r = reqwest_free_get(addr)("/").await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
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
