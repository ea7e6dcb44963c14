//! gRPC request metrics (a tower layer on both servers) and the HTTP endpoint that serves
//! every metric (`/metrics`, OpenMetrics text; docs/operations.md).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::sync::watch;

/// Counts each gRPC request by service, method and outcome, and times it.
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcMetricsLayer;

impl<S> tower_layer::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics(inner)
    }
}

/// The service [`GrpcMetricsLayer`] wraps.
#[derive(Clone, Debug)]
pub struct GrpcMetrics<S>(S);

/// `ok`, or the gRPC status code a response carries in its headers (tonic sends a
/// refusal as a trailers-only response, so unary refusals are seen here).
fn outcome<B>(r: &http::Response<B>) -> String {
    match r
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
    {
        None | Some(0) => "ok".into(),
        Some(c) => format!("{:?}", tonic::Code::from_i32(c)),
    }
}

impl<S, B, RB> tower_service::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        // "/ledger.v1.Gateway/PutRecord"
        let (service, method) = match req.uri().path().trim_start_matches('/').split_once('/') {
            Some((s, m)) => (s.to_string(), m.to_string()),
            None => (String::new(), req.uri().path().to_string()),
        };
        let started = Instant::now();
        let fut = self.0.call(req);
        Box::pin(async move {
            let r = fut.await;
            let outcome = match &r {
                Ok(resp) => outcome(resp),
                Err(_) => "transport_error".into(),
            };
            ledger_metrics::metrics().request(&service, &method, &outcome, started);
            r
        })
    }
}

/// Serves `/metrics` on `addr` until shutdown (an error of the server is logged).
pub async fn spawn_metrics(
    addr: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, ledger_core::NodeError> {
    let listener = crate::server::bind(addr, "metrics").await?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async {
            (
                [(
                    http::header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                ledger_metrics::export(),
            )
        }),
    );
    tracing::info!(metrics = %addr, "metrics endpoint listening (/metrics)");
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|s| *s).await;
            })
            .await
        {
            tracing::warn!(error = %e, "metrics endpoint ended with an error");
        }
    }))
}
