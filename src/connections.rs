//! Accepting HTTP connections so that no client can starve the gateway
//! (issue 18 §6): slow senders, idle connections and floods of either.
//!
//! Each connection is in one of three states, tracked without locks:
//!
//! - **busy**: a request is being answered (its response body, e.g. a long
//!   SSE stream, is not finished). Never closed by a timeout here.
//! - **reading**: a request head is expected and has not been completed —
//!   a new connection, or bytes of the next request on a kept-alive one
//!   (on HTTP/2, any frame while no request is open). Closed after
//!   `http.header_read_timeout_secs`: a client sending its headers one byte
//!   a second is cut off.
//! - **idle**: kept alive between requests with nothing received. Closed
//!   after `http.idle_timeout_secs`.
//!
//! At most `http.max_connections` are open. When a new connection arrives
//! at the cap, the connection that has been reading or idle the longest is
//! closed to make room (a client with a request in progress is never cut
//! off): a flood of idle or slow connections only pushes out itself, and a
//! normal client is served at once. Only when every connection is busy does
//! a new one wait in the listen backlog.

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

/// The `[http]` connection settings.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections at most (`http.max_connections`).
    pub max_connections: usize,
    /// Time to send a complete request head (`http.header_read_timeout_secs`).
    pub header_read_timeout: Duration,
    /// Time a kept-alive connection may wait for its next request
    /// (`http.idle_timeout_secs`).
    pub idle_timeout: Duration,
}

/// One connection's state, shared by its task, its socket and its requests.
struct Activity {
    /// Requests whose response has not been fully sent.
    busy: AtomicUsize,
    /// When the connection turned reading or idle, in ms since the epoch.
    since: AtomicU64,
    /// Waiting for (the rest of) a request head, rather than idle.
    reading: AtomicBool,
    /// Chosen to make room; do not choose it again.
    evicted: AtomicBool,
    /// Wakes the connection's task to close it.
    evict: Notify,
    epoch: Instant,
}

impl Activity {
    fn new(epoch: Instant) -> Self {
        let a = Self {
            busy: AtomicUsize::new(0),
            since: AtomicU64::new(0),
            // A new connection owes its first request head.
            reading: AtomicBool::new(true),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
            epoch,
        };
        a.since.store(a.now(), Ordering::Release);
        a
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Bytes arrived: on an idle connection, a request head has begun.
    fn received(&self) {
        if self.busy.load(Ordering::Acquire) == 0 && !self.reading.swap(true, Ordering::AcqRel) {
            self.since.store(self.now(), Ordering::Release);
        }
    }

    /// When the connection is due to be closed (ms since the epoch), or
    /// `None` while busy.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<u64> {
        if self.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        let allowed = if self.reading.load(Ordering::Acquire) {
            limits.header_read_timeout
        } else {
            limits.idle_timeout
        };
        Some(self.since.load(Ordering::Acquire) + allowed.as_millis() as u64)
    }
}

/// Held while a request is answered, until its response body is dropped
/// (fully sent, or the client went away).
struct Busy(Arc<Activity>);

impl Busy {
    fn enter(activity: &Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Ordering::AcqRel);
        activity.reading.store(false, Ordering::Release);
        Self(Arc::clone(activity))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        // `since` first: the task must not see "not busy" with an old time.
        self.0.since.store(self.0.now(), Ordering::Release);
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket, noting when bytes arrive.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.received();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The open connections, for choosing one to close at the cap.
struct Table {
    epoch: Instant,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
}

impl Table {
    fn insert(&self) -> (u64, Arc<Activity>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new(self.epoch));
        self.lock().insert(id, Arc::clone(&activity));
        (id, activity)
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ask the connection reading or idle the longest to close; false when
    /// every connection is busy.
    fn evict_one(&self) -> bool {
        let open = self.lock();
        let oldest = open
            .values()
            .filter(|a| a.busy.load(Ordering::Acquire) == 0 && !a.evicted.load(Ordering::Acquire))
            .min_by_key(|a| a.since.load(Ordering::Acquire));
        match oldest {
            Some(a) => {
                a.evicted.store(true, Ordering::Release);
                a.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Serve `router` on `listener` until `shutdown` resolves; then stop
/// accepting, close idle connections, let requests in flight finish, and
/// return once every connection has ended.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let table = Arc::new(Table {
        epoch: Instant::now(),
        open: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(0),
    });
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut last_warning: Option<Instant> = None;
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors (or a connection reset before
                    // it was taken): make room and carry on.
                    if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                        tracing::warn!(error = %e, "cannot accept a connection");
                        last_warning = Some(Instant::now());
                    }
                    table.evict_one();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = shutdown.as_mut() => break,
        };
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let room = make_room(&table, &permits);
                tokio::select! {
                    permit = room => permit,
                    () = shutdown.as_mut() => break,
                }
            }
        };
        // Without TCP_NODELAY a streamed (SSE) answer, written in several
        // small pieces, waits ~40 ms on Nagle's algorithm and the client's
        // delayed ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        tokio::spawn(connection(
            tcp,
            router.clone(),
            Arc::clone(&table),
            limits,
            stopping.clone(),
            permit,
        ));
    }
    drop(listener);
    stop.send_replace(true);
    // Every connection holds a permit until it ends.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
}

/// At the cap: close the longest-waiting idle or reading connection and
/// take its permit; if every connection is busy, wait for one to end.
async fn make_room(table: &Table, permits: &Arc<Semaphore>) -> OwnedSemaphorePermit {
    loop {
        table.evict_one();
        tokio::select! {
            permit = Arc::clone(permits).acquire_owned() => {
                return permit.expect("the semaphore is never closed");
            }
            // The chosen one may have started a request meanwhile: choose again.
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

/// One connection, from accept to close.
async fn connection(
    tcp: TcpStream,
    router: Router,
    table: Arc<Table>,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let (id, activity) = table.insert();
    let io = TokioIo::new(Tracked {
        inner: tcp,
        activity: Arc::clone(&activity),
    });
    let service = hyper::service::service_fn({
        let activity = Arc::clone(&activity);
        move |request: hyper::Request<Incoming>| {
            let busy = Busy::enter(&activity);
            let answer = router.clone().oneshot(request.map(Body::new));
            async move {
                let response = answer.await.unwrap_or_else(|never| match never {});
                // The request stays busy until its body is dropped.
                Ok::<_, Infallible>(response.map(|body| {
                    Body::new(body.map_frame(move |frame| {
                        let _held = &busy;
                        frame
                    }))
                }))
            }
        }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut draining = *stopping.borrow();
    if draining {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let wake = match activity.deadline(&limits) {
            Some(at) => activity.epoch + Duration::from_millis(at),
            None => Instant::now() + limits.idle_timeout,
        };
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            () = tokio::time::sleep_until(wake.into()) => {
                if activity.deadline(&limits).is_some_and(|at| activity.now() >= at) {
                    tracing::debug!(
                        reading = activity.reading.load(Ordering::Acquire),
                        "closing a connection that sent no complete request in time"
                    );
                    break;
                }
            }
            () = activity.evict.notified() => {
                if activity.busy.load(Ordering::Acquire) == 0 {
                    tracing::debug!("closing an idle connection to make room for a new one");
                    break;
                }
                activity.evicted.store(false, Ordering::Release);
            }
            changed = stopping.changed(), if !draining => {
                draining = true;
                let _ = changed;
                if activity.busy.load(Ordering::Acquire) == 0 {
                    break;
                }
                // Finish what is in flight, then close.
                conn.as_mut().graceful_shutdown();
            }
        }
    }
    table.remove(id);
}
