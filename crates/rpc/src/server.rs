//! Serving the public API and the gateway: listening sockets with Nagle off (small
//! responses must not wait 40 ms for delayed ACKs), message limits, and a shutdown signal
//! that lets requests in progress finish.
//!
//! The public API faces anyone who can reach it, so it is bounded: at most
//! `max_connections` connections (more are closed as they arrive), at most
//! `max_requests_per_connection` requests in progress on each, every request answered
//! within `request_timeout` (a stream's messages excepted), idle connections probed and
//! dropped, and requests no larger than the largest message a client or validator needs
//! (a transaction, or a relayed batch).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ledger_api::v1::gateway_server::GatewayServer;
use ledger_api::v1::ledger_server::LedgerServer;
use ledger_core::{Ledger, NodeError};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Server;

use crate::gateway::{Gateway, GatewayService};
use crate::service::LedgerService;

/// A server task; it ends when the shutdown signal turns true.
pub type ServerTask = JoinHandle<Result<(), tonic::transport::Error>>;

/// Binds `addr` for the server called `what` in errors.
pub async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, NodeError> {
    TcpListener::bind(addr).await.map_err(|e| NodeError::Io {
        what: format!("listening on {addr} for the {what}"),
        reason: e.to_string(),
    })
}

fn incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    tokio_stream::StreamExt::map(
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        |s| s.and_then(|s| s.set_nodelay(true).map(|()| s)),
    )
}

async fn stopped(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// The public API's bounds.
#[derive(Debug, Clone)]
pub struct PublicLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most requests in progress on one connection.
    pub max_requests_per_connection: usize,
    /// Longest time to answer a request (a stream's later messages excepted).
    pub request_timeout: Duration,
    /// Largest request accepted, in bytes.
    pub max_request_bytes: usize,
    /// Bounds on block streams.
    pub streams: crate::service::StreamLimits,
}

impl PublicLimits {
    /// The largest request a client or validator needs: a transaction of at most
    /// `max_tx_bytes`, or a relayed batch, plus the message's framing.
    pub fn request_bytes_for(max_tx_bytes: usize) -> usize {
        max_tx_bytes.max(ledger_core::relay::RELAY_BATCH_BYTES) + 64 * 1024
    }
}

/// A connection holding its place among the open ones until it closes.
struct Limited {
    stream: tokio::net::TcpStream,
    _place: tokio::sync::OwnedSemaphorePermit,
}

impl tonic::transport::server::Connected for Limited {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl tokio::io::AsyncRead for Limited {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Limited {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Accepted connections, at most `max` open at once: one more is closed at once (its
/// client sees the connection reset and may retry).
fn limited_incoming(
    listener: TcpListener,
    max: usize,
) -> impl tokio_stream::Stream<Item = std::io::Result<Limited>> {
    let places = Arc::new(tokio::sync::Semaphore::new(max));
    let last_warning = std::sync::Mutex::new(None::<std::time::Instant>);
    tokio_stream::StreamExt::filter_map(incoming(listener), move |s| match s {
        Err(e) => Some(Err(e)),
        Ok(stream) => match places.clone().try_acquire_owned() {
            Ok(place) => Some(Ok(Limited {
                stream,
                _place: place,
            })),
            Err(_) => {
                let mut last = last_warning.lock().unwrap_or_else(|p| p.into_inner());
                if last.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                    *last = Some(std::time::Instant::now());
                    tracing::warn!(max, "the public API has its most connections open ([grpc] max_connections): closing new ones");
                }
                None
            }
        },
    })
}

/// Serves the public ledger API over `ledger` on `listener`, within `limits`.
pub fn spawn_public(
    listener: TcpListener,
    ledger: Arc<Ledger>,
    limits: PublicLimits,
    shutdown: watch::Receiver<bool>,
) -> ServerTask {
    let svc = LedgerServer::new(LedgerService::with_limits(
        ledger,
        shutdown.clone(),
        limits.streams.clone(),
    ))
    .max_decoding_message_size(limits.max_request_bytes)
    .max_encoding_message_size(ledger_api::MAX_MESSAGE_BYTES);
    tokio::spawn(
        Server::builder()
            .concurrency_limit_per_connection(limits.max_requests_per_connection)
            .max_concurrent_streams(Some(limits.max_requests_per_connection as u32))
            .timeout(limits.request_timeout)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)))
            .tcp_keepalive(Some(Duration::from_secs(60)))
            .add_service(svc)
            .serve_with_incoming_shutdown(
                limited_incoming(listener, limits.max_connections),
                stopped(shutdown),
            ),
    )
}

/// Serves the organisation's gateway on `listener` (a loopback address: its credentials
/// travel in clear).
pub fn spawn_gateway(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: watch::Receiver<bool>,
) -> ServerTask {
    tokio::spawn(
        Server::builder()
            .add_service(GatewayServer::new(GatewayService(gateway)))
            .serve_with_incoming_shutdown(incoming(listener), stopped(shutdown)),
    )
}
