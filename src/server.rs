//! Serving connections. `axum::serve` sets no hyper timer and takes every connection the
//! listener offers, so a client that never finished a request, or a thousand that said
//! nothing, held the server forever and could spend every file descriptor. Here each
//! connection runs on hyper's HTTP/1 with a timer, under three bounds (`[http]`):
//! - the request head must arrive within `header_read_timeout` (hyper's own clock, which starts
//!   when it begins waiting for a head: at accept, and after each answer on a kept-alive one);
//! - a connection with no request in flight and no byte received for `idle_timeout` is closed;
//! - at most `max_connections` are served; past that, `probe_reserve` more are accepted for one
//!   request each, answered only when it is a probe, so that an orchestrator does not restart a
//!   gateway that is merely full. Anything beyond is closed as soon as it is accepted, which
//!   keeps the listen backlog moving instead of leaving clients to hang in it.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::config::HttpConfig;

/// A probe's head comes in one packet; a reserve slot waits no longer than this for it, so
/// that slow clients cannot hold the reserve as long as an ordinary slot.
const PROBE_HEAD_TIMEOUT: Duration = Duration::from_secs(1);

/// After `accept` fails (the file limit, most often), a pause before the next try: the error
/// would come back at once and the loop would spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Descriptors kept out of the connection cap for the store, the upstream client's
/// connections, the webhook worker and the logs.
const DESCRIPTORS_FOR_THE_REST: u64 = 128;

/// The bounds each connection is served under, from `[http]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub probe_reserve: usize,
}

impl Limits {
    pub fn from_config(http: &HttpConfig) -> Limits {
        Limits {
            header_read_timeout: Duration::from_millis(http.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(http.idle_timeout_ms),
            max_connections: http.max_connections,
            probe_reserve: http.probe_reserve,
        }
    }

    /// The cap lowered to what the open-file limit allows: above it `accept` fails with "Too
    /// many open files" before the reserve can answer a probe.
    fn within_file_limit(mut self) -> Limits {
        if let Some(limit) = open_file_limit() {
            let room = limit
                .saturating_sub(DESCRIPTORS_FOR_THE_REST)
                .saturating_sub(self.probe_reserve as u64)
                .max(1);
            if (self.max_connections as u64) > room {
                tracing::warn!(
                    configured = self.max_connections,
                    serving = room,
                    open_file_limit = limit,
                    "http.max_connections is above what the open-file limit allows; lowered"
                );
                self.max_connections = usize::try_from(room).unwrap_or(usize::MAX);
            }
        }
        self
    }
}

/// Raises the soft open-file limit to the hard one (each connection is a descriptor) and
/// returns the soft limit now in force; `None` where the platform has no such limit.
pub fn raise_open_file_limit() -> io::Result<Option<u64>> {
    if !rlimit::Resource::NOFILE.is_supported() {
        return Ok(None);
    }
    rlimit::increase_nofile_limit(u64::MAX).map(Some)
}

fn open_file_limit() -> Option<u64> {
    if !rlimit::Resource::NOFILE.is_supported() {
        return None;
    }
    rlimit::Resource::NOFILE
        .get()
        .ok()
        .map(|(soft, _hard)| soft)
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets each
/// connection finish the request it is on, and returns when all have closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let draining = accept_until(&listener, router, limits, shutdown).await;
    // Refused from now on rather than left in a backlog nobody will read.
    drop(listener);
    draining.finish().await;
    Ok(())
}

/// [`serve`] on a listener the caller keeps: connections that arrive after `shutdown` wait in
/// its backlog for whatever serves it next (start-up hands the socket from the not-ready
/// answers to the gateway this way, refusing nobody).
pub async fn serve_on(
    listener: &TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    accept_until(listener, router, limits, shutdown)
        .await
        .finish()
        .await;
    Ok(())
}

/// The connections still open once accepting stopped.
struct Draining {
    stop: watch::Sender<bool>,
    open: watch::Receiver<()>,
    all_closed: watch::Sender<()>,
}

impl Draining {
    /// Tells every connection to finish its request in flight and close, then waits for them.
    async fn finish(self) {
        let _ = self.stop.send(true);
        drop(self.open);
        self.all_closed.closed().await;
    }
}

async fn accept_until(
    listener: &TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> Draining {
    let limits = limits.within_file_limit();
    let ordinary = Arc::new(Semaphore::new(limits.max_connections));
    let reserve = Arc::new(Semaphore::new(limits.probe_reserve));
    let (stop, stopping) = watch::channel(false);
    // Every connection holds a clone; `closed` resolves once the last one has ended.
    let (all_closed, open) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    if !is_connection_error(&error) {
                        tracing::error!(%error, "accept error");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                    continue;
                }
            },
        };
        let slot = if let Ok(permit) = ordinary.clone().try_acquire_owned() {
            Slot::Ordinary(permit)
        } else if let Ok(permit) = reserve.clone().try_acquire_owned() {
            Slot::Reserve(permit)
        } else {
            tracing::debug!("connection cap and probe reserve full: connection closed");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            router.clone(),
            slot,
            limits,
            stopping.clone(),
            open.clone(),
        ));
    }
    Draining {
        stop,
        open,
        all_closed,
    }
}

/// What a connection was let in on; the permit goes back when the connection ends.
enum Slot {
    Ordinary(#[allow(dead_code)] OwnedSemaphorePermit),
    Reserve(#[allow(dead_code)] OwnedSemaphorePermit),
}

async fn connection(
    stream: TcpStream,
    router: Router,
    slot: Slot,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
    _open: watch::Receiver<()>,
) {
    let activity = Arc::new(Activity::new());
    let reserve = matches!(slot, Slot::Reserve(_));
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let in_flight = activity.begin();
            let router = router.clone();
            async move {
                let response = if reserve && !is_probe(&request) {
                    full()
                } else {
                    match router.oneshot(request.map(Body::new)).await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    }
                };
                drop(in_flight);
                Ok::<_, Infallible>(response)
            }
        })
    };
    let header_read_timeout = if reserve {
        limits.header_read_timeout.min(PROBE_HEAD_TIMEOUT)
    } else {
        limits.header_read_timeout
    };
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        // A reserve slot serves one request, then is free for the next probe.
        .keep_alive(!reserve)
        .serve_connection(io, service);
    tokio::pin!(connection);
    let ended = tokio::select! {
        result = connection.as_mut() => Some(result),
        () = activity.idle_for(limits.idle_timeout) => None,
        _ = stopping.wait_for(|stop| *stop) => None,
    };
    let result = match ended {
        Some(result) => result,
        None => {
            // Idle between requests this closes at once; mid-request it finishes the answer
            // and then closes, still bounded by the head and request timeouts.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
    drop(slot);
}

/// A probe by method and path: what a reserve slot answers.
fn is_probe(request: &Request<Incoming>) -> bool {
    matches!(*request.method(), Method::GET | Method::HEAD)
        && matches!(request.uri().path(), "/healthz" | "/readyz")
}

/// The answer on a reserve slot to anything but a probe: the gateway is at its cap.
fn full() -> Response<Body> {
    let problem = crate::error::generic_problem(StatusCode::SERVICE_UNAVAILABLE);
    let mut response = crate::error::render_now(crate::error::problem_response(problem), None);
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// When a connection last did something: the requests in flight, and when the last one ended
/// or the last byte came in. Nothing is woken when a request ends: the idle watch looks again
/// on its own clock, which costs a timer per idle period instead of a task wake-up (and often a
/// parked worker's) per request.
struct Activity {
    state: Mutex<(usize, Instant)>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            state: Mutex::new((0, Instant::now())),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut (usize, Instant)) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A byte came in. No wake-up: the idle watch looks again when its deadline passes.
    fn touch(&self) {
        self.with(|state| state.1 = Instant::now());
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.with(|state| state.0 += 1);
        InFlight(self.clone())
    }

    /// Resolves once no request has been in flight and no byte has come in for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let (in_flight, since) = self.with(|state| *state);
            if in_flight > 0 {
                // Exact all the same: a request that ends after now ends the idle period later
                // than now + `limit`, so this look comes before the connection may close.
                tokio::time::sleep(limit).await;
                continue;
            }
            let deadline = since + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A request being handled; dropped when its answer is ready (or the handler is cancelled).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.with(|state| {
            state.0 = state.0.saturating_sub(1);
            state.1 = Instant::now();
        });
    }
}

/// The socket, noting each read that brings bytes.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
