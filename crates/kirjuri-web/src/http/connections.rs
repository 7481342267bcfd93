//! The HTTP/1.1 connection layer under the router: the accept loop, the
//! connection cap, the header-read and keep-alive idle timeouts, the TLS
//! handshake, the lingering close after a refused body, and graceful
//! shutdown. Everything a client can hold open without credentials is
//! bounded here, in count and in time.
//!
//! - **Cap.** At most `max_connections` connections are served at once
//!   (a TLS handshake, headers being read, a request in flight, a kept-alive
//!   connection and a lingering close all count). When a new connection
//!   arrives at the cap, the *oldest idle* connection — one with no request
//!   in flight: still handshaking or sending its headers, kept alive between
//!   requests, or lingering — is closed to make room (nginx drains its
//!   reusable connections the same way). A slow or idle client therefore
//!   holds a slot only until newer clients need it, and a fast client (its
//!   request head arrives in one packet) is served even during a flood of
//!   half-open connections. A request in flight is never evicted: when every
//!   slot carries one, the new connection waits in the kernel's accept
//!   backlog until a slot frees. While it makes room the accept loop holds
//!   that one new connection, so at most `max_connections + 1` sockets are
//!   open.
//! - **Time.** A client gets `header_read_timeout` to finish its TLS
//!   handshake and, separately, to send each request's head (hyper's timer
//!   also runs while a kept-alive connection waits for its next request, so
//!   it bounds the keep-alive idle time too). A kept-alive connection with
//!   no request for `keep_alive_idle` is closed. Bodies are bounded by the
//!   router's body idle timeouts, not here.
//! - **Refused bodies.** When the router refused a request without reading
//!   its whole body (a 401 for an upload without credentials), the answer
//!   carries `Connection: close`, then the connection half-closes and reads
//!   and discards what the client is still sending — at most
//!   [`LINGER_BYTES`] for at most [`LINGER_TIME`], and at most
//!   [`LINGER_MAX`] connections at once, the rest closing at once — so the
//!   client reads the refusal instead of meeting a reset. Nothing is kept:
//!   the bytes go through one fixed buffer per lingering connection.
//! - **Accept errors** (out of file descriptors and the like) back off from
//!   10 ms up to 1 s instead of spinning; a warning is logged at most once a minute.
//! - **Shutdown.** The listener closes, idle connections close at once, and
//!   requests in flight (uploads included) finish before [`run`] returns.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use kirjuri_app::{Error, Result};

/// After a refused body, at most this many bytes are read and discarded.
/// An HTTP client that reads while it sends (curl, hyper, browsers) stops
/// soon after the refusal arrives; one that sends blindly has this much —
/// a 4 MB recording sent with a revoked token still sees its 401 — and is
/// cut off after it. Discarding costs a copy into one 8 KiB buffer, never
/// memory proportional to the body.
pub const LINGER_BYTES: u64 = 8 << 20;

/// …and for at most this long.
pub const LINGER_TIME: Duration = Duration::from_secs(2);

/// At most this many connections linger at once; others close at once.
pub const LINGER_MAX: usize = 32;

/// The largest request head (request line and headers) accepted; a larger
/// one gets 431 and the connection closes. Without it hyper buffers up to
/// its read buffer's maximum (about 400 KiB) per connection while a head is
/// being read. Kirjuri's own heads (a bearer token or a session cookie) are
/// well under 4 KiB; 64 KiB is nginx's default of four 8 KiB buffers twice
/// over. At the default cap, heads in progress hold at most 32 MiB.
const MAX_HEAD_BYTES: usize = 64 << 10;

/// The most a connection reads ahead into its buffer (hyper's default is
/// about 400 KiB), twice the largest head, which must fit in it. A body
/// arrives in pieces of at most this, and a piece the upload still holds
/// (queued for hashing) keeps its part of the buffer alive, so this bounds
/// what each concurrent upload holds: many one-minute calls at once peaked
/// several MiB per connection higher with the default (issue 16 §6).
const READ_BUFFER_BYTES: usize = 2 * MAX_HEAD_BYTES;

/// The first pause after a failed `accept`; doubled per failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(10);

/// The longest pause after failed `accept`s.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// While waiting for a slot at the cap, look for a newly idle connection
/// to evict this often.
const EVICT_RETRY: Duration = Duration::from_millis(100);

/// A connection asked to close that has answered a request and has none in
/// flight is dropped if it has not closed after this long (the grace lets
/// the last response's tail out): hyper waits for a head it has begun
/// reading, and an evicted half-sent request must not hold its slot until
/// the header-read timeout. One that never got as far as a request is
/// dropped at once.
const CLOSE_GRACE: Duration = Duration::from_millis(100);

/// Warn about the same trouble (the cap reached, `accept` failing) at most
/// this often.
const WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// How long closing our side of a finished connection may take (a TLS
/// close_notify to a client that reads nothing).
const SHUTDOWN_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// The connection limits, validated from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time to finish the TLS handshake, and to send a request's head.
    pub header_read_timeout: Duration,
    /// A kept-alive connection with no request this long is closed.
    pub keep_alive_idle: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

/// The longest timeout accepted, so deadlines never overflow.
const MAX_TIMEOUT_SECONDS: u64 = 24 * 60 * 60;

/// The largest cap accepted (the semaphore's limit is far larger; no
/// machine has the file descriptors for more).
const MAX_CONNECTIONS: usize = 1 << 20;

impl Limits {
    /// Reads and checks `header_read_timeout_seconds`, `keep_alive_idle_seconds`
    /// and `max_connections`; an error names the key and its allowed range.
    pub fn from_config(config: &kirjuri_app::Config) -> Result<Self> {
        let seconds = |key: &'static str, value: u64| {
            if (1..=MAX_TIMEOUT_SECONDS).contains(&value) {
                Ok(Duration::from_secs(value))
            } else {
                Err(Error::config(
                    key,
                    format!("must be between 1 and {MAX_TIMEOUT_SECONDS} (it is {value})"),
                ))
            }
        };
        if !(1..=MAX_CONNECTIONS).contains(&config.max_connections) {
            return Err(Error::config(
                "max_connections",
                format!(
                    "must be between 1 and {MAX_CONNECTIONS} (it is {})",
                    config.max_connections
                ),
            ));
        }
        Ok(Self {
            header_read_timeout: seconds(
                "header_read_timeout_seconds",
                config.header_read_timeout_seconds,
            )?,
            keep_alive_idle: seconds("keep_alive_idle_seconds", config.keep_alive_idle_seconds)?,
            max_connections: config.max_connections,
        })
    }
}

/// One served connection, as the accept loop and the router see it.
#[derive(Debug)]
struct Connection {
    /// Its place in accept order: the smallest is the oldest.
    id: u64,
    /// Requests whose response has not finished.
    in_flight: AtomicUsize,
    /// Requests answered so far.
    answered: AtomicU64,
    /// When it last became idle (accepted, or a response finished).
    idle_since: Mutex<Instant>,
    /// The router refused a body it did not read: linger after closing.
    linger: AtomicBool,
    /// Ends the connection gracefully: eviction, or the server's shutdown.
    stop: CancellationToken,
}

impl Connection {
    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }

    fn idle_since(&self) -> Instant {
        *self
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Handed to the router (a request extension) so that a refusal can ask
/// for a lingering close; see [`Lingering::after_response`].
#[derive(Debug, Clone)]
pub struct Lingering(Arc<Connection>);

impl Lingering {
    /// The response refuses a body the client may still be sending: after
    /// it, read and discard (bounded) before closing.
    pub fn after_response(&self) {
        self.0.linger.store(true, Ordering::SeqCst);
    }
}

/// Every served connection, oldest first, for eviction at the cap.
#[derive(Debug, Default)]
struct Registry {
    next_id: AtomicU64,
    connections: Mutex<BTreeMap<u64, Arc<Connection>>>,
}

impl Registry {
    fn register(self: &Arc<Self>, stop: CancellationToken) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let connection = Arc::new(Connection {
            id,
            in_flight: AtomicUsize::new(0),
            answered: AtomicU64::new(0),
            idle_since: Mutex::new(Instant::now()),
            linger: AtomicBool::new(false),
            stop,
        });
        self.lock().insert(id, Arc::clone(&connection));
        Registration {
            registry: Arc::clone(self),
            connection,
        }
    }

    /// Asks the oldest idle connection not already asked to close; false
    /// when every connection has a request in flight.
    fn evict_oldest_idle(&self) -> bool {
        let connections = self.lock();
        let victim = connections
            .values()
            .find(|c| c.idle() && !c.stop.is_cancelled());
        match victim {
            Some(victim) => {
                victim.stop.cancel();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Connection>>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection's place in the registry, given up when it ends.
struct Registration {
    registry: Arc<Registry>,
    connection: Arc<Connection>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.connection.id);
    }
}

/// What every connection task shares.
struct Shared {
    router: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    lingering: Semaphore,
}

/// Serves `router` on `listener` (over TLS with `tls`) until `shutdown`
/// resolves, then stops accepting and returns once every connection has
/// ended — requests in flight finish first.
pub async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let server_stop = CancellationToken::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let registry = Arc::new(Registry::default());
    let shared = Arc::new(Shared {
        router,
        tls,
        limits,
        lingering: Semaphore::new(LINGER_MAX),
    });
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = MIN_BACKOFF;
    let mut last_cap_warning: Option<Instant> = None;
    let mut last_accept_warning: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = MIN_BACKOFF;
                accepted
            }
            // The client gave up before we got to it: nothing to back off from.
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // One line per minute at most: while descriptors run out, a
                // freed one lets a single accept through and the next fails
                // again, so "once per streak" would still flood the log.
                if last_accept_warning.is_none_or(|at| at.elapsed() >= WARNING_INTERVAL) {
                    tracing::warn!(error = %e, "accept failed; backing off");
                    last_accept_warning = Some(Instant::now());
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let permit = match Arc::clone(&slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if last_cap_warning.is_none_or(|at| at.elapsed() >= WARNING_INTERVAL) {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached; closing the oldest idle connections"
                    );
                    last_cap_warning = Some(Instant::now());
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    permit = make_room(&registry, &slots) => permit?,
                }
            }
        };
        let registration = registry.register(server_stop.child_token());
        tokio::spawn(serve_connection(
            stream,
            peer,
            Arc::clone(&shared),
            registration,
            permit,
        ));
    }
    drop(listener);
    server_stop.cancel();
    // Every connection holds a slot until it ends; all slots back means done.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await.map_err(|e| Error::Other {
        step: "waiting for connections to end failed",
        source: Box::new(e),
    })?;
    Ok(())
}

/// Evicts the oldest idle connection and waits for a slot, evicting again
/// while none frees (a request may have finished meanwhile).
async fn make_room(registry: &Registry, slots: &Arc<Semaphore>) -> Result<OwnedSemaphorePermit> {
    loop {
        registry.evict_oldest_idle();
        match tokio::time::timeout(EVICT_RETRY, Arc::clone(slots).acquire_owned()).await {
            Ok(permit) => {
                return permit.map_err(|e| Error::Other {
                    step: "the connection slots closed",
                    source: Box::new(e),
                });
            }
            Err(_) => continue,
        }
    }
}

/// Errors of one connection that came and went before `accept` returned.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// One connection, from its TLS handshake (if any) to its close.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    registration: Registration,
    _slot: OwnedSemaphorePermit,
) {
    let connection = Arc::clone(&registration.connection);
    let _ = stream.set_nodelay(true);
    match &shared.tls {
        None => serve_http(stream, peer, &shared, connection).await,
        Some(acceptor) => {
            let handshake = tokio::select! {
                () = connection.stop.cancelled() => return,
                handshake = tokio::time::timeout(
                    shared.limits.header_read_timeout,
                    acceptor.accept(stream),
                ) => handshake,
            };
            match handshake {
                Ok(Ok(tls)) => serve_http(tls, peer, &shared, connection).await,
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
        }
    }
}

/// HTTP/1.1 on an established (plain or TLS) stream.
async fn serve_http<I>(io: I, peer: SocketAddr, shared: &Shared, connection: Arc<Connection>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.header_read_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(READ_BUFFER_BYTES)
        .keep_alive(true);
    let service = ConnectionService {
        router: shared.router.clone(),
        peer,
        connection: Arc::clone(&connection),
    };
    let mut conn = builder.serve_connection(TokioIo::new(io), service);
    let keep_alive_idle = shared.limits.keep_alive_idle;
    // Once asked to close (evicted, idle too long, or the server stopping),
    // a connection with no request in flight gets CLOSE_GRACE to finish
    // closing; one that is still sending a request head is dropped then.
    let mut close_by: Option<Instant> = None;
    let mut idle_check = Instant::now() + keep_alive_idle;
    let ended = loop {
        tokio::select! {
            ended = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => break ended,
            () = connection.stop.cancelled(), if close_by.is_none() => {
                // Nothing answered and nothing in flight (the service is
                // called in this task, so not in between): nothing to lose.
                if connection.answered.load(Ordering::SeqCst) == 0 && connection.idle() {
                    return;
                }
                // Idle: closes now; a request in flight finishes first.
                Pin::new(&mut conn).graceful_shutdown();
                close_by = Some(Instant::now() + CLOSE_GRACE);
            }
            () = tokio::time::sleep_until(idle_check), if close_by.is_none() => {
                // Only between requests: before the first one, hyper's
                // header-read timeout is the bound.
                let now = Instant::now();
                let answered = connection.answered.load(Ordering::SeqCst) > 0;
                if answered && connection.idle() {
                    let deadline = connection.idle_since() + keep_alive_idle;
                    if deadline <= now {
                        Pin::new(&mut conn).graceful_shutdown();
                        close_by = Some(now + CLOSE_GRACE);
                    } else {
                        idle_check = deadline;
                    }
                } else {
                    // Busy, or the first head still awaited: look again later.
                    idle_check = now + keep_alive_idle;
                }
            }
            () = sleep_until_some(close_by) => {
                if connection.idle() {
                    tracing::debug!("dropping a connection that did not close in time");
                    return;
                }
                // A request in flight: graceful shutdown ends the connection
                // after its response.
                close_by = Some(Instant::now() + CLOSE_GRACE);
            }
        }
    };
    if let Err(e) = ended {
        // Header-read timeouts, malformed requests, clients that left.
        tracing::debug!(error = %e, "connection ended");
        return;
    }
    let mut io = conn.into_parts().io.into_inner();
    let _ = tokio::time::timeout(SHUTDOWN_WRITE_TIMEOUT, io.shutdown()).await;
    if connection.linger.load(Ordering::SeqCst) {
        // Taken only now, so a full pool never holds up the response itself.
        if let Ok(_permit) = shared.lingering.try_acquire() {
            linger(&mut io, &connection.stop).await;
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Reads and discards what the client still sends, within the bounds.
async fn linger<I: AsyncRead + Unpin>(io: &mut I, stop: &CancellationToken) {
    let deadline = Instant::now() + LINGER_TIME;
    // On the heap, and only while lingering: not in every connection's task.
    let mut buffer = vec![0u8; 8192];
    let mut left = LINGER_BYTES;
    loop {
        let read = tokio::select! {
            () = stop.cancelled() => return,
            read = tokio::time::timeout_at(deadline, io.read(&mut buffer)) => read,
        };
        match read {
            Ok(Ok(n)) if n > 0 && (n as u64) < left => left -= n as u64,
            _ => return,
        }
    }
}

/// The router as hyper calls it on one connection: each request gets the
/// client's address (`ConnectInfo<SocketAddr>`, for the login throttle) and
/// the connection's [`Lingering`], and counts as in flight until its
/// response body is done or dropped.
#[derive(Clone)]
struct ConnectionService {
    router: Router,
    peer: SocketAddr,
    connection: Arc<Connection>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnectionService {
    type Response = hyper::Response<TrackedBody>;
    type Error = Infallible;
    type Future =
        Pin<Box<dyn Future<Output = std::result::Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let guard = InFlight::begin(Arc::clone(&self.connection));
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(self.peer));
        request
            .extensions_mut()
            .insert(Lingering(Arc::clone(&self.connection)));
        let router = self.router.clone();
        Box::pin(async move {
            let response = tower::ServiceExt::oneshot(router, request).await?;
            Ok(response.map(|body| TrackedBody {
                body,
                _in_flight: guard,
            }))
        })
    }
}

/// A request in flight on its connection; ends when dropped.
struct InFlight(Arc<Connection>);

impl InFlight {
    fn begin(connection: Arc<Connection>) -> Self {
        connection.in_flight.fetch_add(1, Ordering::SeqCst);
        Self(connection)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        *self
            .0
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.answered.fetch_add(1, Ordering::SeqCst);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that keeps its request in flight until it is done.
struct TrackedBody {
    body: axum::body::Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<http_body::Frame<bytes::Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kirjuri_app::Config;

    #[test]
    fn zero_or_huge_limits_are_refused_naming_the_key() {
        for (key, config) in [
            (
                "header_read_timeout_seconds",
                Config {
                    header_read_timeout_seconds: 0,
                    ..Config::default()
                },
            ),
            (
                "keep_alive_idle_seconds",
                Config {
                    keep_alive_idle_seconds: 0,
                    ..Config::default()
                },
            ),
            (
                "keep_alive_idle_seconds",
                Config {
                    keep_alive_idle_seconds: u64::MAX,
                    ..Config::default()
                },
            ),
            (
                "max_connections",
                Config {
                    max_connections: 0,
                    ..Config::default()
                },
            ),
        ] {
            let error = Limits::from_config(&config).unwrap_err().to_string();
            assert!(error.contains(key), "{key}: {error}");
        }
        let limits = Limits::from_config(&Config::default()).unwrap();
        assert!(limits.max_connections > LINGER_MAX);
    }

    #[test]
    fn the_oldest_idle_connection_is_evicted_and_one_in_flight_never() {
        let registry = Arc::new(Registry::default());
        let oldest = registry.register(CancellationToken::new());
        let middle = registry.register(CancellationToken::new());
        let newest = registry.register(CancellationToken::new());
        let busy = InFlight::begin(Arc::clone(&oldest.connection));

        assert!(registry.evict_oldest_idle());
        assert!(!oldest.connection.stop.is_cancelled(), "in flight");
        assert!(middle.connection.stop.is_cancelled());
        assert!(!newest.connection.stop.is_cancelled());

        assert!(registry.evict_oldest_idle());
        assert!(newest.connection.stop.is_cancelled());
        assert!(!registry.evict_oldest_idle(), "only a busy one is left");

        drop(busy);
        assert!(registry.evict_oldest_idle());
        assert!(oldest.connection.stop.is_cancelled());
        drop((oldest, middle, newest));
        assert!(registry.lock().is_empty());
    }
}
