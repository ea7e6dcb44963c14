//! Serving the public API and the gateway: listening sockets with Nagle off (small
//! responses must not wait 40 ms for delayed ACKs), message limits, and a shutdown signal
//! that lets requests in progress finish.

use std::net::SocketAddr;
use std::sync::Arc;

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

/// Serves the public ledger API over `ledger` on `listener`.
pub fn spawn_public(
    listener: TcpListener,
    ledger: Arc<Ledger>,
    shutdown: watch::Receiver<bool>,
) -> ServerTask {
    let svc = LedgerServer::new(LedgerService::new(ledger, shutdown.clone()))
        .max_decoding_message_size(ledger_api::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(ledger_api::MAX_MESSAGE_BYTES);
    tokio::spawn(
        Server::builder()
            .add_service(svc)
            .serve_with_incoming_shutdown(incoming(listener), stopped(shutdown)),
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
