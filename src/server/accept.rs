//! The accept loop: connections let in under the
//! [cap](super::connections::OpenConnections), their TLS handshakes (when
//! TLS is on) run side by side, and a loop that backs off instead of
//! spinning when the process runs out of file descriptors (tonic's own
//! retries a failed accept at once).
//!
//! Each TLS handshake runs in a task of its own, bounded by the handshake
//! deadline, so a client that is slow to finish it never holds up the next
//! accept. tonic then gets plaintext IO and serves HTTP/2 or HTTP/1.1 on it,
//! as the client speaks.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use futures_util::Stream;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpListener,
    task::JoinSet,
};
use tokio_rustls::server::TlsStream;
use tonic::transport::server::Connected;

use super::{
    connections::{ConnectionInfo, ConnectionLimits, GuardedIo, OpenConnections},
    tls::TlsAcceptor,
};

/// A connection handed to tonic: plaintext, or TLS after its handshake
/// (both boxed: the two differ widely in size).
#[derive(Debug)]
pub enum Conn {
    Plain(Box<GuardedIo>),
    Tls(Box<TlsStream<GuardedIo>>),
}

impl Conn {
    /// The socket below, whose deadlines and slot hold in either case.
    fn guarded(&self) -> &GuardedIo {
        match self {
            Self::Plain(io) => io,
            Self::Tls(tls) => tls.get_ref().0,
        }
    }
}

impl Connected for Conn {
    type ConnectInfo = ConnectionInfo;

    /// The same for TCP and TLS, so that the layers find it under one type.
    fn connect_info(&self) -> ConnectionInfo {
        self.guarded().connect_info()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(io) => Pin::new(io.as_mut()).poll_read(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(io) => Pin::new(io.as_mut()).poll_write(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(io) => Pin::new(io.as_mut()).poll_write_vectored(cx, bufs),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(io) => io.is_write_vectored(),
            Self::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(io) => Pin::new(io.as_mut()).poll_flush(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(io) => Pin::new(io.as_mut()).poll_shutdown(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Errors of one connection, not of the listener: accept the next one.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
    )
}

/// The listener and what it lets in.
struct Listening {
    listener: TcpListener,
    limits: ConnectionLimits,
    open: OpenConnections,
    backoff: Duration,
}

impl Listening {
    const FIRST_BACKOFF: Duration = Duration::from_millis(10);
    const MAX_BACKOFF: Duration = Duration::from_secs(1);

    /// The next connection let in. Refused ones are closed at once, so
    /// their clients see it rather than hang.
    async fn next(&mut self) -> GuardedIo {
        loop {
            let (tcp, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    let retry_in = self.backoff;
                    tracing::warn!(error = %e, ?retry_in, "cannot accept connections");
                    self.backoff = (retry_in * 2).min(Self::MAX_BACKOFF);
                    tokio::time::sleep(retry_in).await;
                    continue;
                }
            };
            self.backoff = Self::FIRST_BACKOFF;
            if let Some(admitted) = self.open.admit(Some(peer.ip()), &self.limits) {
                return GuardedIo::new(tcp, admitted, self.limits);
            }
        }
    }
}

/// The accept loop's state: the listener, and the TLS handshakes under way.
struct Accepting {
    listening: Listening,
    tls: Option<TlsAcceptor>,
    handshakes: JoinSet<Option<Conn>>,
}

impl Accepting {
    async fn next(&mut self) -> Conn {
        loop {
            let io = tokio::select! {
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    match done {
                        Ok(Some(conn)) => return conn,
                        // Failed or out of time (logged), or cancelled.
                        Ok(None) | Err(_) => continue,
                    }
                }
                io = self.listening.next() => io,
            };
            let Some(tls) = &self.tls else {
                return Conn::Plain(Box::new(io));
            };
            let tls = tls.clone();
            self.handshakes.spawn(async move {
                let stream = tls.accept(io).await?;
                Some(Conn::Tls(Box::new(stream)))
            });
        }
    }
}

/// Accepts connections from `listener` under `limits`, each holding a slot
/// of `open`, over TLS when `tls` is set. Never yields an error: when
/// accepting fails for want of descriptors or memory, it waits (10 ms,
/// doubling up to 1 s) and tries again, rather than spinning. Dropping the
/// stream closes the listener and ends the handshakes under way.
pub fn incoming(
    listener: TcpListener,
    limits: ConnectionLimits,
    open: &OpenConnections,
    tls: Option<TlsAcceptor>,
) -> impl Stream<Item = Result<Conn, io::Error>> + Send + 'static {
    let accepting = Accepting {
        listening: Listening {
            listener,
            limits,
            open: open.clone(),
            backoff: Listening::FIRST_BACKOFF,
        },
        tls,
        handshakes: JoinSet::new(),
    };
    futures_util::stream::unfold(accepting, |mut accepting| async move {
        let conn = accepting.next().await;
        Some((Ok(conn), accepting))
    })
}
