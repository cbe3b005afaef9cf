//! `last serve`: LAST re-ranking over HTTP until SIGTERM or Ctrl-C.

use super::args::{usize_in, VariantParser, MAX_BUDGET_US, MAX_THREADS};
use super::output::{note, println, runtime, Failure};
use last::model::Model;
use last::serve::Variant;
use last::server::decode::Defaults;
use last::server::{App, Settings};
use last_kernels::Backend;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Serve a model over HTTP: POST /rank, GET /health, GET /metrics.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model folder (model.safetensors, config.json, and serving.json if present).
    #[arg(long)]
    model: PathBuf,
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Variant of requests that name none (default: serving.json's, else
    /// parallel-gaussian-w2-16).
    #[arg(long, value_parser = VariantParser)]
    variant: Option<Variant>,
    /// Budget of requests that give none, in µs from arrival (0..=3600000000;
    /// default: serving.json's, else 5000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=MAX_BUDGET_US))]
    budget_us: Option<u64>,
    /// Compute worker threads, one Scratch each (1..=64).
    #[arg(long, default_value_t = 2, value_parser = usize_in(1, MAX_THREADS))]
    workers: usize,
    /// Requests that may wait for a worker; beyond, 503 (1..=65536).
    #[arg(long, default_value_t = 64, value_parser = usize_in(1, 65_536))]
    queue: usize,
    /// Largest request body in bytes; beyond, 413 (1024..=1073741824).
    #[arg(long, default_value_t = 4 << 20, value_parser = usize_in(1024, 1 << 30))]
    max_body_bytes: usize,
    /// How long one idle compute worker polls for the next request before
    /// it sleeps, in µs (0..=100000; 0: never spin). Saves the wake-up of a
    /// sleeping thread at low load, at the cost of that much CPU after the
    /// last request.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    spin_us: u64,
    /// Threads of the async runtime that read and write HTTP (1..=64).
    #[arg(long, default_value_t = 1, value_parser = usize_in(1, MAX_THREADS))]
    io_threads: usize,
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    note("stopping: finishing the requests in flight");
}

pub fn run(a: Args, be: Backend) -> Result<(), Failure> {
    let model = Model::load(&a.model, be).map_err(runtime)?;
    let saved = model.serving().cloned();
    let defaults = Defaults {
        variant: a
            .variant
            .or_else(|| saved.as_ref().map(|s| s.variant))
            .unwrap_or_else(Variant::parallel_standard),
        budget: Duration::from_micros(
            a.budget_us
                .or_else(|| saved.as_ref().map(|s| s.budget_us))
                .unwrap_or(5000),
        ),
    };
    let settings = Settings {
        workers: a.workers,
        queue: a.queue,
        max_body_bytes: a.max_body_bytes,
        spin: Duration::from_micros(a.spin_us),
        ..Settings::default()
    };
    let app = App::new(Arc::new(model), defaults, settings).map_err(runtime)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.io_threads)
        .enable_all()
        .build()
        .map_err(runtime)?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.addr)
            .await
            .map_err(|e| runtime(format!("cannot listen on {}: {e}", a.addr)))?;
        let local = listener.local_addr().map_err(runtime)?;
        println(&format!(
            "listening on http://{local} ({} workers, queue {}, default {} with {} µs)",
            a.workers,
            a.queue,
            defaults.variant,
            defaults.budget.as_micros()
        ))?;
        last::server::run(app, listener, shutdown_signal())
            .await
            .map_err(runtime)
    })
}
