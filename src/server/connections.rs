//! Connections, before any call: a cap on how many are open, a deadline for
//! the handshake, and idle ones closed.
//!
//! Why here: neither tonic nor hyper bounds connections that never finish
//! the HTTP/2 handshake (HTTP/2 keepalive pings start only after it) or that
//! finish it and never call. So the server accepts through
//! [`accept::incoming`](super::accept::incoming), whose connections
//! ([`GuardedIo`]) hold a slot of the cap until they close, and enforce both
//! deadlines from the socket up; the [`streams`](super::streams) layer tells
//! a connection when a call starts and when its response is done, so a
//! connection with a call in flight (a health Watch stream, say) is never
//! idle.
//!
//! The handshake is done when the client's HTTP/2 preface and first
//! SETTINGS frame have arrived. When they cannot be seen (over TLS, whose
//! bytes are encrypted below HTTP) or never come (HTTP/1.1, which has no
//! preface), it is done when the first call starts: an HTTP/1.1 client has
//! the handshake deadline to send its first request, and from then on only
//! the idle timeouts apply, across its keep-alive requests.
//!
//! Until it carries an authenticated call (the auth layer calls
//! [`Activity::authenticate`]), a connection counts against its peer's
//! (source address's) share, has the shorter unauthenticated idle timeout,
//! and may not take the reserved slots of the cap for longer than
//! [`RESERVE_IDLE`] without a call: so one peer cannot hold every slot, and
//! health checks and authenticated callers get in while others fill the rest.

use std::{
    io,
    net::IpAddr,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep, sleep_until},
};
use tonic::transport::server::{Connected, TcpConnectInfo};

use super::peers::{Held, PeerFull, PeerGuard, Peers};

/// What a connection may cost.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Connections open at once; more are closed as soon as accepted.
    pub max_connections: usize,
    /// Slots of `max_connections` that connections which have not
    /// authenticated may use only briefly (see [`RESERVE_IDLE`]).
    pub reserved_connections: usize,
    /// Connections that have not authenticated, per peer address; 0: no limit.
    pub max_connections_per_peer: usize,
    /// The idle timeout of a connection that never carried an authenticated call.
    pub unauthenticated_idle_timeout: Duration,
    /// Until the client's HTTP/2 preface and first SETTINGS frame have
    /// arrived (over TLS, and for HTTP/1.1: until the first call).
    pub handshake_timeout: Duration,
    /// A connection with no call in flight for this long is closed.
    pub idle_timeout: Duration,
}

/// The client's connection preface (RFC 9113 section 3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The preface and the 9-byte header of the first frame, which must be SETTINGS.
const HANDSHAKE_BYTES: usize = PREFACE.len() + 9;
const FRAME_TYPE_SETTINGS: u8 = 4;
/// The first byte of a TLS record carrying a handshake.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// How long a connection admitted into the reserve may stay idle before it
/// authenticates: long enough for its first call to arrive.
pub const RESERVE_IDLE: Duration = Duration::from_secs(1);

/// What a connection holds until it carries an authenticated call.
#[derive(Debug)]
struct Unauthenticated {
    _peer: Option<PeerGuard>,
    /// A slot outside the reserve; `None` for a connection in the reserve.
    _open_slot: Option<OwnedSemaphorePermit>,
}

/// Calls on one connection, shared by the connection and the layers.
#[derive(Debug)]
pub struct Activity {
    opened: Instant,
    calls_started: AtomicUsize,
    in_flight: AtomicUsize,
    /// When the last call started or ended, in milliseconds since `opened`.
    last_ms: AtomicU64,
    peer: Option<IpAddr>,
    peers: Peers,
    /// Admitted into the reserve: nothing left outside it at accept time.
    reserved: bool,
    authenticated: AtomicBool,
    unauthenticated: Mutex<Option<Unauthenticated>>,
}

impl Activity {
    fn new(peer: Option<IpAddr>, peers: Peers, held: Unauthenticated) -> Self {
        Self {
            opened: Instant::now(),
            calls_started: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
            peer,
            peers,
            reserved: held._open_slot.is_none(),
            authenticated: AtomicBool::new(false),
            unauthenticated: Mutex::new(Some(held)),
        }
    }

    /// The connection carried an authenticated call: it no longer counts
    /// against its peer's limits, and gets the longer idle timeout.
    pub fn authenticate(&self) {
        if !self.authenticated.swap(true, Ordering::AcqRel) {
            let held = self
                .unauthenticated
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            drop(held);
        }
    }

    fn is_authenticated(&self) -> bool {
        self.authenticated.load(Ordering::Acquire)
    }

    /// A public stream on this connection: counted against its peer while
    /// the connection has not authenticated (`Ok(None)` once it has);
    /// `Err` when the peer holds `max` already.
    pub fn take_stream(&self, max: usize) -> Result<Option<PeerGuard>, PeerFull> {
        match self.peer {
            Some(ip) if !self.is_authenticated() => self
                .peers
                .take(ip, Held::Stream, max)
                .map(Some)
                .ok_or(PeerFull),
            _ => Ok(None),
        }
    }

    /// How long this connection may go without a call.
    fn idle_timeout(&self, limits: &ConnectionLimits) -> Duration {
        if self.is_authenticated() {
            limits.idle_timeout
        } else if self.reserved {
            RESERVE_IDLE.min(limits.unauthenticated_idle_timeout)
        } else {
            limits.unauthenticated_idle_timeout.min(limits.idle_timeout)
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    pub fn begin(self: &Arc<Self>) -> CallGuard {
        self.calls_started.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        CallGuard(self.clone())
    }
}

/// A call in flight on its connection, until dropped.
#[derive(Debug)]
pub struct CallGuard(Arc<Activity>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What tonic puts in every request's extensions for our connections.
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    pub tcp: TcpConnectInfo,
    activity: Arc<Activity>,
}

impl ConnectionInfo {
    pub fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }
}

/// The connection a request came on, over TCP or TLS (see
/// [`accept`](super::accept)).
pub fn info_of(extensions: &http::Extensions) -> Option<&ConnectionInfo> {
    extensions.get::<ConnectionInfo>()
}

/// An accepted connection, holding its slot of the cap until it closes.
#[derive(Debug)]
pub struct GuardedIo {
    inner: TcpStream,
    _slot: OwnedSemaphorePermit,
    info: ConnectionInfo,
    limits: ConnectionLimits,
    handshaking: bool,
    seen: [u8; HANDSHAKE_BYTES],
    seen_len: usize,
    tls: bool,
    timer: Pin<Box<Sleep>>,
}

impl Connected for GuardedIo {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        self.info.clone()
    }
}

impl GuardedIo {
    /// `tcp`, let in as `admitted`: its handshake deadline starts now.
    pub(super) fn new(tcp: TcpStream, admitted: Admitted, limits: ConnectionLimits) -> Self {
        let _ = tcp.set_nodelay(true);
        Self {
            info: ConnectionInfo {
                tcp: tcp.connect_info(),
                activity: admitted.activity,
            },
            inner: tcp,
            _slot: admitted.slot,
            limits,
            handshaking: true,
            seen: [0; HANDSHAKE_BYTES],
            seen_len: 0,
            tls: false,
            timer: Box::pin(sleep_until(Instant::now() + limits.handshake_timeout)),
        }
    }

    fn watch_handshake(&mut self, read: &[u8]) {
        if self.seen_len == 0 && read.first() == Some(&TLS_HANDSHAKE_RECORD) {
            // Encrypted: the preface cannot be seen; the first call ends
            // the handshake instead.
            self.tls = true;
            return;
        }
        let n = read.len().min(HANDSHAKE_BYTES - self.seen_len);
        self.seen[self.seen_len..self.seen_len + n].copy_from_slice(&read[..n]);
        self.seen_len += n;
        if self.seen_len == HANDSHAKE_BYTES
            && &self.seen[..PREFACE.len()] == PREFACE
            && self.seen[PREFACE.len() + 3] == FRAME_TYPE_SETTINGS
        {
            self.handshake_done();
        }
    }

    /// From now on, the deadline is the idle one.
    fn handshake_done(&mut self) {
        self.handshaking = false;
        self.info.activity.touch();
        let next = Instant::now() + self.info.activity.idle_timeout(&self.limits);
        self.timer.as_mut().reset(next);
    }

    /// `Err` closes the connection: its handshake or idle time is over.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.handshaking && self.info.activity.calls_started.load(Ordering::Relaxed) > 0 {
            self.handshake_done();
        }
        let activity = &self.info.activity;
        while self.timer.as_mut().poll(cx).is_ready() {
            if self.handshaking {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "handshake not completed in time",
                ));
            }
            let now = Instant::now();
            let idle = activity.idle_timeout(&self.limits);
            let next = if activity.in_flight.load(Ordering::Acquire) > 0 {
                now + idle
            } else {
                activity.last() + idle
            };
            if next <= now {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle"));
            }
            // Polled again by the loop, which registers the waker.
            self.timer.as_mut().reset(next);
        }
        Ok(())
    }
}

impl AsyncRead for GuardedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read
            && this.handshaking
            && !this.tls
        {
            this.watch_handshake(&buf.filled()[before..]);
        }
        this.poll_deadline(cx)?;
        read
    }
}

impl AsyncWrite for GuardedIo {
    // While its writes are blocked, HTTP/2 stops reading: the deadlines are
    // checked on the write side too.
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if written.is_pending() {
            self.poll_deadline(cx)?;
        }
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if written.is_pending() {
            self.poll_deadline(cx)?;
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = Pin::new(&mut self.inner).poll_flush(cx);
        if flushed.is_pending() {
            self.poll_deadline(cx)?;
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The slots of the connection cap: how many connections are open, and by
/// whom.
#[derive(Clone, Debug)]
pub struct OpenConnections {
    slots: Arc<Semaphore>,
    /// The slots outside the reserve, for connections not yet authenticated.
    open_slots: Arc<Semaphore>,
    peers: Peers,
    max: usize,
}

impl OpenConnections {
    /// At most half of the cap is reserved, whatever `limits` asks.
    pub fn new(limits: &ConnectionLimits) -> Self {
        let max = limits.max_connections.max(1);
        let reserved = limits.reserved_connections.min(max / 2);
        Self {
            slots: Arc::new(Semaphore::new(max)),
            open_slots: Arc::new(Semaphore::new(max - reserved)),
            peers: Peers::default(),
            max,
        }
    }

    pub fn count(&self) -> usize {
        self.max - self.slots.available_permits()
    }

    /// Connections from `ip` that have not authenticated.
    pub fn unauthenticated_from(&self, ip: IpAddr) -> usize {
        self.peers.count(ip, Held::Connection)
    }

    /// A slot for a new connection from `peer`, or `None` (close it): at the
    /// cap, or the peer holds its share of unauthenticated connections.
    pub(super) fn admit(
        &self,
        peer: Option<IpAddr>,
        limits: &ConnectionLimits,
    ) -> Option<Admitted> {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            tracing::debug!("connection refused: at the cap of open connections");
            return None;
        };
        let per_peer = limits.max_connections_per_peer;
        let peer_guard = match peer {
            Some(ip) => match self.peers.take(ip, Held::Connection, per_peer) {
                Some(guard) => Some(guard),
                None => {
                    tracing::debug!(%ip, "connection refused: the peer holds its maximum");
                    return None;
                }
            },
            None => None,
        };
        let held = Unauthenticated {
            _peer: peer_guard,
            _open_slot: self.open_slots.clone().try_acquire_owned().ok(),
        };
        let activity = Arc::new(Activity::new(peer, self.peers.clone(), held));
        Some(Admitted { slot, activity })
    }
}

/// A connection let in: its slot of the cap and its activity.
pub(super) struct Admitted {
    slot: OwnedSemaphorePermit,
    activity: Arc<Activity>,
}
