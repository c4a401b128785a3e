//! The connections: accepting them (at most [`ConnectionLimits::max_connections`] open at
//! once), the time a client has to send what it owes, and a shutdown that ends in its grace.
//!
//! A connection is in one of three phases, and each but the last has a time limit:
//!
//! | phase | from | until | limit |
//! |---|---|---|---|
//! | idle | the connection opens, or its last answer was handed over | a byte of the next request arrives | `idle_timeout` |
//! | head | that byte | the request's headers are complete | `header_timeout` |
//! | busy | the headers are complete | the answer was handed over | none here: the body has its own deadline (`app.rs`), Redis and the payments API theirs |
//!
//! A connection over its limit is closed. The body is read by the router (`app.rs`), within its
//! own deadline and before the request takes an in-flight slot, so a client that trickles a
//! body holds a connection for a bounded time and never a slot.
//!
//! hyper's own `header_read_timeout` is not used: it starts as soon as a connection is ready for
//! its next request, so it would be the idle limit and the header limit at once, and a proxy
//! that keeps its connections to the origin open between requests (Cloudflare keeps them up to
//! 900 s) would lose them as soon as a slowloris loses its. Here the two limits are apart.
//!
//! It names nothing of this crate: `run` (in `lib.rs`) hands it the router and the limits.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::Router;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

/// What a client may take of the server's time and connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// How long a request's headers may take to arrive, from their first byte.
    pub header_timeout: Duration,
    /// How long a connection may stay open with no request under way and no byte of the next.
    pub idle_timeout: Duration,
    /// Connections open at once; past it, new ones wait in the listen backlog.
    pub max_connections: usize,
    /// How long the requests under way get to finish once shutdown begins.
    pub shutdown_grace: Duration,
}

/// How [`serve`] ended.
#[derive(Debug, Clone, Copy)]
pub struct Stopped {
    /// The end of the shutdown's grace: what the caller still has to close should be done by
    /// then.
    pub deadline: Instant,
    /// Connections still busy at the end of the grace, and dropped.
    pub cut: usize,
}

/// Serves `router` on `listener` until `shutdown` resolves. Then it stops accepting, lets the
/// requests under way finish and closes idle connections; a connection still busy when
/// `shutdown_grace` is over is dropped, and `serve` returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> Stopped {
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // Finished connections are reaped here, so the set holds the open ones and a few more.
        while connections.try_join_next().is_some() {}
        // At the cap, wait for a connection to close before accepting: new ones queue in the
        // listen backlog instead of being taken and starved.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&open).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _peer)) => {
                let (router, stopping) = (router.clone(), stopping.clone());
                connections.spawn(async move {
                    connection(stream, router, limits, stopping).await;
                    drop(permit);
                });
            }
            // The peer gave up before we took it: nothing to do.
            Err(e) if is_connection_error(&e) => {}
            // Out of file descriptors, most likely: retry in a moment instead of spinning.
            Err(e) => {
                tracing::error!(error = %e, "accepting a connection failed");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
    // New connections are refused from here on.
    drop(listener);
    let deadline = after(Instant::now(), limits.shutdown_grace);
    let _ = stop.send(true);
    while connections.try_join_next().is_some() {}
    tracing::info!(
        connections = connections.len(),
        grace_ms = u64::try_from(limits.shutdown_grace.as_millis()).unwrap_or(u64::MAX),
        "shutting down: finishing the requests under way"
    );
    let drained = tokio::time::timeout_at(deadline, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    let cut = connections.len();
    if drained.is_err() {
        tracing::warn!(
            cut,
            "the shutdown's grace is over: dropping the connections still busy"
        );
        connections.shutdown().await;
    }
    Stopped { deadline, cut }
}

/// `t` + `d`; a limit too large to add is as good as none, and stands for a year.
fn after(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .unwrap_or_else(|| t + Duration::from_secs(365 * 24 * 3600))
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection until it closes, breaks a limit, or (once `stopping`) finishes its
/// request under way.
async fn connection(
    stream: TcpStream,
    router: Router,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<bool>,
) {
    let state = Arc::new(Mutex::new(State {
        phase: Phase::Idle {
            since: Instant::now(),
        },
        waiting: None,
    }));
    let io = TokioIo::new(Watched {
        stream,
        state: Arc::clone(&state),
        limits,
        timer: Box::pin(tokio::time::sleep_until(Instant::now())),
        armed_for: None,
    });
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let busy = Busy::begin(&state);
        let router = router.clone();
        async move {
            let response = router.oneshot(request.map(Body::new)).await;
            // The request is under way until hyper has taken the whole answer.
            response.map(|r| r.map(|body| Handed { body, _busy: busy }))
        }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        // The header and idle limits are `Watched`'s (see the module's doc).
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(conn);
    // A closed channel (the server gone) counts as a stop.
    let stop = async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        () = stop => {
            // Closes it now if idle, else after the answer under way.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = ended {
        // Clients that hang up or break a limit: the normal wear of a public server.
        tracing::debug!(error = %e, "connection ended");
    }
}

/// Where a connection stands (see the module's doc).
#[derive(Debug, Clone, Copy)]
enum Phase {
    Idle { since: Instant },
    Head { since: Instant },
    Busy { requests: usize },
}

impl Phase {
    /// When the connection is over its limit, if it has one now.
    fn deadline(self, limits: &ConnectionLimits) -> Option<Instant> {
        match self {
            Phase::Idle { since } => Some(after(since, limits.idle_timeout)),
            Phase::Head { since } => Some(after(since, limits.header_timeout)),
            Phase::Busy { .. } => None,
        }
    }
}

/// What a connection's socket and its requests share.
#[derive(Debug)]
struct State {
    phase: Phase,
    /// The connection's task, when the socket was last found with nothing to do while busy: the
    /// end of the request wakes it, so the idle limit is armed even if hyper would not touch
    /// the socket again until the client sends something.
    waiting: Option<Waker>,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // The state is plain values, whole at every instant: a panic elsewhere cannot leave it torn.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A request under way on a connection, from its complete headers until hyper has taken its
/// whole answer (or dropped it).
struct Busy(Arc<Mutex<State>>);

impl Busy {
    fn begin(state: &Arc<Mutex<State>>) -> Busy {
        let mut s = lock(state);
        s.phase = match s.phase {
            Phase::Busy { requests } => Phase::Busy {
                requests: requests + 1,
            },
            Phase::Idle { .. } | Phase::Head { .. } => Phase::Busy { requests: 1 },
        };
        Busy(Arc::clone(state))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut s = lock(&self.0);
        if let Phase::Busy { requests } = s.phase {
            if requests > 1 {
                s.phase = Phase::Busy {
                    requests: requests - 1,
                };
            } else {
                s.phase = Phase::Idle {
                    since: Instant::now(),
                };
                if let Some(task) = s.waiting.take() {
                    task.wake();
                }
            }
        }
    }
}

/// An answer's body that keeps its request [`Busy`] until hyper drops it, that is once the
/// last frame is taken or the connection is gone.
struct Handed {
    body: Body,
    _busy: Busy,
}

impl HttpBody for Handed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The connection's socket, which notes the first byte of each request and fails a read or a
/// write once the phase's limit has passed (hyper then closes the connection).
struct Watched {
    stream: TcpStream,
    state: Arc<Mutex<State>>,
    limits: ConnectionLimits,
    timer: Pin<Box<Sleep>>,
    /// The deadline `timer` is set to, so it is reset only when the deadline moves.
    armed_for: Option<Instant>,
}

impl Watched {
    /// Called when the socket has nothing for hyper: `Ready(err)` once the phase's limit has
    /// passed, else `Pending` with the timer set to wake the connection at the limit (or, while
    /// busy, with the task noted for the end of the request).
    fn over_limit(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let deadline = {
            let mut s = lock(&self.state);
            let deadline = s.phase.deadline(&self.limits);
            if deadline.is_none() && !s.waiting.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                s.waiting = Some(cx.waker().clone());
            }
            deadline
        };
        let Some(deadline) = deadline else {
            return Poll::Pending;
        };
        if self.armed_for != Some(deadline) {
            self.timer.as_mut().reset(deadline);
            self.armed_for = Some(deadline);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client kept the connection idle, or sent its headers too slowly",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    let mut s = lock(&self.state);
                    if let Phase::Idle { .. } = s.phase {
                        s.phase = Phase::Head {
                            since: Instant::now(),
                        };
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.over_limit(cx).map(Err),
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write(cx, buf) {
            // A client that does not read what it was sent holds the connection like an idle
            // one, and is cut off the same.
            Poll::Pending => self.over_limit(cx).map(Err),
            ready => ready,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.over_limit(cx).map(Err),
            ready => ready,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_phase_has_its_limit() {
        let limits = ConnectionLimits {
            header_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1,
            shutdown_grace: Duration::ZERO,
        };
        let t = Instant::now();
        assert_eq!(
            Phase::Idle { since: t }.deadline(&limits),
            Some(t + Duration::from_secs(60))
        );
        assert_eq!(
            Phase::Head { since: t }.deadline(&limits),
            Some(t + Duration::from_secs(2))
        );
        assert_eq!(Phase::Busy { requests: 1 }.deadline(&limits), None);
        let unlimited = ConnectionLimits {
            idle_timeout: Duration::MAX,
            ..limits
        };
        assert!(Phase::Idle { since: t }.deadline(&unlimited) > Some(t));
    }

    #[test]
    fn a_connection_is_idle_again_once_every_answer_is_handed_over() {
        let state = Arc::new(Mutex::new(State {
            phase: Phase::Head {
                since: Instant::now(),
            },
            waiting: None,
        }));
        let first = Busy::begin(&state);
        let second = Busy::begin(&state);
        assert!(matches!(lock(&state).phase, Phase::Busy { requests: 2 }));
        drop(first);
        assert!(matches!(lock(&state).phase, Phase::Busy { requests: 1 }));
        drop(second);
        assert!(matches!(lock(&state).phase, Phase::Idle { .. }));
    }
}
