//! `last serve`: LAST re-ranking over HTTP (feature `server`), axum on tokio.
//!
//! * `POST /rank` takes a JSON body ([`decode`]), or the compact binary
//!   body ([`binary`]) with `Content-Type: application/octet-stream`, and
//!   answers with the served list in JSON; `GET /health` gives the model's shapes; `GET /metrics`
//!   the counters ([`metrics`]) in the Prometheus text format.
//! * Ranking runs on a dedicated compute [`pool`] (std threads, one
//!   [`Scratch`](crate::serve::Scratch) each), never on the runtime's
//!   threads. A full queue answers 503 with `Retry-After`.
//! * At low load one idle worker polls the queue, and a route polls for
//!   its worker's reply while a core is spare, instead of sleeping
//!   ([`Settings::spin`]): a sleeping thread takes tens of microseconds to
//!   wake on a virtual machine.
//! * A request's budget counts from its arrival (the head read), so time
//!   spent queueing is spent from it ([`Model::serve_until`]).
//! * Statuses: 200 ranked; 400 malformed JSON or wrong types; 404 unknown
//!   route; 413 body above the limit; 422 a [`ServeError`](crate::serve::ServeError)
//!   or an unknown variant, with its text; 503 overloaded; 500 a failed worker.
//! * [`run`] stops accepting when its shutdown future resolves, finishes
//!   the requests in flight, then the pool finishes its queue.
//!
//! [`Model::serve_until`]: crate::model::Model::serve_until

pub mod binary;
pub mod decode;
pub mod metrics;
pub mod pool;
mod routes;

use crate::model::Model;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use decode::Defaults;
use metrics::Metrics;
use pool::Pool;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How the server runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Compute worker threads.
    pub workers: usize,
    /// Requests that may wait for a worker beyond those running.
    pub queue: usize,
    /// Largest `POST /rank` body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The `Retry-After` value of a 503, in seconds.
    pub retry_after_s: u64,
    /// How long one idle compute worker polls the queue before it sleeps
    /// (see [`pool`]); zero: workers sleep at once.
    pub spin: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            workers: 2,
            queue: 64,
            max_body_bytes: 4 << 20,
            retry_after_s: 1,
            spin: Pool::DEFAULT_SPIN,
        }
    }
}

/// What the routes share: the model, the defaults, the pool, the counters.
pub struct App {
    model: Arc<Model>,
    defaults: Defaults,
    settings: Settings,
    pool: Pool,
    metrics: Arc<Metrics>,
    /// Cores this process may run on (a route waiting for its reply spins
    /// only while one is spare).
    cores: usize,
}

impl App {
    /// Starts the compute pool for `model`.
    pub fn new(
        model: Arc<Model>,
        defaults: Defaults,
        settings: Settings,
    ) -> std::io::Result<Arc<App>> {
        let pool = Pool::with_spin(settings.workers, settings.queue, settings.spin)?;
        Ok(Arc::new(App {
            model,
            defaults,
            settings,
            pool,
            metrics: Arc::new(Metrics::default()),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }))
    }
    /// The compute pool (e.g. to watch its queue).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// The routes over `app`.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.settings.max_body_bytes;
    Router::new()
        .route("/rank", post(routes::rank))
        .route("/health", get(routes::health))
        .route("/metrics", get(routes::metrics))
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(routes::stamp))
        .with_state(app)
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes
/// the requests in flight.
pub async fn run(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
}
