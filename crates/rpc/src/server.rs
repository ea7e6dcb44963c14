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
use ledger_types::{OrgId, PublicKey};
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

enum PublicIo {
    Plain(Limited),
    Tls(Box<ledger_tls::tokio_rustls::server::TlsStream<Limited>>),
}

/// A connection to the public API: plain, or mutual TLS with a checked member.
struct PublicConn {
    io: PublicIo,
    guard: Option<Guard>,
}

/// Checks a mutual-TLS connection's member again after each committed block, as the
/// connection is used (before the next request is read, or the next response or block
/// written): a suspension, removal or signing-key rotation closes the connections already
/// open (a block stream included), not only refuses new ones. Membership changes only at
/// a commit, so this is the per-request check, made once per block.
struct Guard {
    org: OrgId,
    key: PublicKey,
    verifier: Arc<ledger_tls::MemberVerifier>,
    heights: watch::Receiver<u64>,
    checked: u64,
    refused: bool,
}

impl Guard {
    fn admitted(&mut self) -> std::io::Result<()> {
        let denied = |e: String| std::io::Error::new(std::io::ErrorKind::PermissionDenied, e);
        if self.refused {
            return Err(denied(format!("{} may no longer connect", self.org)));
        }
        let height = *self.heights.borrow();
        if height != self.checked {
            self.checked = height;
            if let Err(e) = self.verifier.still_admitted(&self.org, &self.key) {
                tracing::info!(org = %self.org, reason = %e, "closing a TLS connection: its member may no longer connect");
                self.refused = true;
                return Err(denied(e));
            }
        }
        Ok(())
    }
}

impl PublicConn {
    fn admitted(&mut self) -> std::io::Result<()> {
        self.guard.as_mut().map_or(Ok(()), Guard::admitted)
    }
}

impl tonic::transport::server::Connected for PublicConn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        match &self.io {
            PublicIo::Plain(l) => l.stream.connect_info(),
            PublicIo::Tls(t) => t.get_ref().0.stream.connect_info(),
        }
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match &mut $self.io {
            PublicIo::Plain(l) => {
                let $s = Pin::new(&mut l.stream);
                $e
            }
            PublicIo::Tls(t) => {
                let $s = Pin::new(t.as_mut());
                $e
            }
        }
    };
}

impl tokio::io::AsyncRead for PublicConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Err(e) = self.admitted() {
            return Poll::Ready(Err(e));
        }
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl tokio::io::AsyncWrite for PublicConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if let Err(e) = self.admitted() {
            return Poll::Ready(Err(e));
        }
        delegate!(self, s => s.poll_write(cx, buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if let Err(e) = self.admitted() {
            return Poll::Ready(Err(e));
        }
        delegate!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            PublicIo::Plain(l) => l.stream.is_write_vectored(),
            PublicIo::Tls(t) => t.is_write_vectored(),
        }
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

/// Mutual TLS on the public API: the handshake, and the later checks of each
/// connection's member.
#[derive(Clone)]
pub struct PublicTls {
    /// The handshake (this node's certificate, the clients' check).
    pub server: ledger_tls::ServerTls,
    /// Checks, after each commit, that a connection's member may still connect.
    pub verifier: Arc<ledger_tls::MemberVerifier>,
}

/// Connections that completed the handshake. Handshakes run in their own tasks (a slow
/// or silent client holds up no other), each within [`ledger_tls::HANDSHAKE_TIMEOUT`].
fn tls_incoming(
    accepted: impl tokio_stream::Stream<Item = std::io::Result<Limited>> + Send + 'static,
    tls: PublicTls,
    heights: watch::Receiver<u64>,
    mut shutdown: watch::Receiver<bool>,
) -> impl tokio_stream::Stream<Item = std::io::Result<PublicConn>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        let mut accepted = std::pin::pin!(accepted);
        loop {
            let next = tokio::select! {
                n = tokio_stream::StreamExt::next(&mut accepted) => n,
                _ = shutdown.wait_for(|s| *s) => None,
            };
            let conn = match next {
                None => return,
                Some(Err(e)) => {
                    if tx.send(Err(e)).await.is_err() {
                        return;
                    }
                    continue;
                }
                Some(Ok(c)) => c,
            };
            let (tls, tx, heights) = (tls.clone(), tx.clone(), heights.clone());
            tokio::spawn(async move {
                let addr = conn.stream.peer_addr().ok();
                // The handshake checks the member as of this height or a later one.
                let checked = *heights.borrow();
                match tls.server.accept(conn).await {
                    Ok((stream, b)) => {
                        tracing::debug!(?addr, org = %b.org, "TLS client connected");
                        let guard = Guard {
                            org: b.org,
                            key: b.member_key,
                            verifier: tls.verifier.clone(),
                            heights,
                            checked,
                            refused: false,
                        };
                        let _ = tx
                            .send(Ok(PublicConn {
                                io: PublicIo::Tls(Box::new(stream)),
                                guard: Some(guard),
                            }))
                            .await;
                    }
                    Err(e) => tracing::debug!(?addr, error = %e, "TLS handshake failed"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// The standard gRPC services beside ours, so that standard tools (grpcurl, load balancers,
/// Kubernetes probes) work: health (`grpc.health.v1.Health`, the overall status "" and
/// `service` serving until shutdown, then not serving) and reflection (v1 and v1alpha)
/// listing `service` and the two standard ones.
struct Standard<H, R1, R2> {
    health: tonic_health::pb::health_server::HealthServer<H>,
    reflection: tonic_reflection::server::v1::ServerReflectionServer<R1>,
    reflection_alpha: tonic_reflection::server::v1alpha::ServerReflectionServer<R2>,
}

fn standard(
    service: &'static str,
    mut shutdown: watch::Receiver<bool>,
) -> Standard<
    impl tonic_health::pb::health_server::Health,
    impl tonic_reflection::server::v1::ServerReflection,
    impl tonic_reflection::server::v1alpha::ServerReflection,
> {
    let (reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(async move {
        reporter
            .set_service_status(service, tonic_health::ServingStatus::Serving)
            .await;
        let _ = shutdown.wait_for(|s| *s).await;
        for name in ["", service] {
            reporter
                .set_service_status(name, tonic_health::ServingStatus::NotServing)
                .await;
        }
    });
    let configure = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(ledger_api::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name(service)
            .with_service_name("grpc.health.v1.Health")
    };
    // The descriptor sets are compiled in: building from them cannot fail unless the
    // build itself is broken, which the tests show.
    #[allow(clippy::expect_used)]
    let (reflection, reflection_alpha) = (
        configure()
            .with_service_name("grpc.reflection.v1.ServerReflection")
            .build_v1()
            .expect("the compiled-in descriptor sets decode"),
        configure()
            .with_service_name("grpc.reflection.v1alpha.ServerReflection")
            .build_v1alpha()
            .expect("the compiled-in descriptor sets decode"),
    );
    Standard {
        health,
        reflection,
        reflection_alpha,
    }
}

/// Serves the public ledger API over `ledger` on `listener`, within `limits`: plain, or
/// with mutual TLS when `tls` is given; with gRPC health and reflection.
pub fn spawn_public(
    listener: TcpListener,
    ledger: Arc<Ledger>,
    limits: PublicLimits,
    tls: Option<PublicTls>,
    shutdown: watch::Receiver<bool>,
) -> ServerTask {
    let heights = ledger.subscribe();
    let svc = LedgerServer::new(LedgerService::with_limits(
        ledger,
        shutdown.clone(),
        limits.streams.clone(),
    ))
    .max_decoding_message_size(limits.max_request_bytes)
    .max_encoding_message_size(ledger_api::MAX_MESSAGE_BYTES);
    let accepted = limited_incoming(listener, limits.max_connections);
    let incoming: Pin<Box<dyn tokio_stream::Stream<Item = std::io::Result<PublicConn>> + Send>> =
        match tls {
            Some(t) => Box::pin(tls_incoming(accepted, t, heights, shutdown.clone())),
            None => Box::pin(tokio_stream::StreamExt::map(accepted, |c| {
                c.map(|l| PublicConn {
                    io: PublicIo::Plain(l),
                    guard: None,
                })
            })),
        };
    let std = standard("ledger.v1.Ledger", shutdown.clone());
    tokio::spawn(
        Server::builder()
            .layer(crate::metrics::GrpcMetricsLayer)
            .concurrency_limit_per_connection(limits.max_requests_per_connection)
            .max_concurrent_streams(Some(limits.max_requests_per_connection as u32))
            .timeout(limits.request_timeout)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)))
            .tcp_keepalive(Some(Duration::from_secs(60)))
            .add_service(svc)
            .add_service(std.health)
            .add_service(std.reflection)
            .add_service(std.reflection_alpha)
            .serve_with_incoming_shutdown(incoming, stopped(shutdown)),
    )
}

/// Serves the organisation's gateway on `listener` (a loopback address: its credentials
/// travel in clear), with gRPC health and reflection (which need no credential).
pub fn spawn_gateway(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: watch::Receiver<bool>,
) -> ServerTask {
    let std = standard("ledger.v1.Gateway", shutdown.clone());
    tokio::spawn(
        Server::builder()
            .layer(crate::metrics::GrpcMetricsLayer)
            .add_service(GatewayServer::new(GatewayService(gateway)))
            .add_service(std.health)
            .add_service(std.reflection)
            .add_service(std.reflection_alpha)
            .serve_with_incoming_shutdown(incoming(listener), stopped(shutdown)),
    )
}
