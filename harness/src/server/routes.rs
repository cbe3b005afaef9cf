//! The HTTP routes: `POST /rank`, `GET /health`, `GET /metrics`.

use super::binary::decode_binary;
use super::decode::{decode, DecodeError, RankJob};
use super::metrics::ErrorKind;
use super::pool::SubmitError;
use super::App;
use crate::serve::{Response as Ranked, ServeError};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

/// When the request's head was read: its budget counts from here.
#[derive(Debug, Clone, Copy)]
pub struct Arrival(pub Instant);

/// Middleware stamping [`Arrival`] before the body is read.
pub async fn stamp(mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(Arrival(Instant::now()));
    next.run(req).await
}

fn refuse(app: &App, status: StatusCode, kind: ErrorKind, msg: String) -> Response {
    app.metrics.error(kind);
    let mut r = (
        status,
        axum::Json(json!({ "error": msg, "kind": kind.name() })),
    )
        .into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        let secs = app.settings.retry_after_s.to_string();
        if let Ok(v) = HeaderValue::from_str(&secs) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

fn serve_kind(e: &ServeError) -> (StatusCode, ErrorKind) {
    let k = match e {
        ServeError::NoCandidates => ErrorKind::NoCandidates,
        ServeError::TooManyCandidates { .. } => ErrorKind::TooManyCandidates,
        ServeError::BadLength { .. } => ErrorKind::BadLength,
        ServeError::FeatureWidth { .. } => ErrorKind::FeatureWidth,
        ServeError::NonFinite { .. } => ErrorKind::NonFinite,
        ServeError::BadKnob(_) => ErrorKind::BadKnob,
        ServeError::Kernel(_) | ServeError::Model(_) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Internal)
        }
    };
    (StatusCode::UNPROCESSABLE_ENTITY, k)
}

/// `POST /rank`: decode, queue on the compute pool, answer with the list.
pub async fn rank(
    State(app): State<Arc<App>>,
    Extension(Arrival(arrival)): Extension<Arrival>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    app.metrics.request();
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let msg = format!("body above {} bytes", app.settings.max_body_bytes);
            return refuse(
                &app,
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorKind::TooLarge,
                msg,
            );
        }
        Err(e) => {
            return refuse(
                &app,
                StatusCode::BAD_REQUEST,
                ErrorKind::Malformed,
                e.body_text(),
            )
        }
    };
    let binary = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/octet-stream"));
    let decoded = if binary {
        decode_binary(&body, &app.model.cfg, &app.defaults)
    } else {
        decode(&body, &app.model.cfg, &app.defaults)
    };
    let job = match decoded {
        Ok(j) => j,
        Err(e @ DecodeError::Malformed(_)) => {
            return refuse(
                &app,
                StatusCode::BAD_REQUEST,
                ErrorKind::Malformed,
                e.to_string(),
            )
        }
        Err(e @ DecodeError::UnknownVariant(_)) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return refuse(&app, status, ErrorKind::UnknownVariant, e.to_string());
        }
        Err(DecodeError::Invalid(e)) => {
            let (status, kind) = serve_kind(&e);
            return refuse(&app, status, kind, e.to_string());
        }
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let model = Arc::clone(&app.model);
    let metrics = Arc::clone(&app.metrics);
    let submitted = app.pool.try_submit(move |scratch| {
        if tx.is_closed() {
            metrics.abandoned();
            return;
        }
        let _ = tx.send(run(&model, &job, arrival, scratch).map(|r| (r, job.variant)));
    });
    if let Err(e) = submitted {
        let msg = match e {
            SubmitError::Full => format!(
                "all {} workers busy and {} requests queued",
                app.pool.workers(),
                app.pool.capacity()
            ),
            SubmitError::Closed => "the server is stopping".to_string(),
        };
        return refuse(
            &app,
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Overloaded,
            msg,
        );
    }
    match reply(rx, &app).await {
        Some(Ok((r, variant))) => {
            let latency = arrival.elapsed();
            app.metrics
                .ranked(latency, r.candidates, r.budget_exhausted);
            axum::Json(json!({
                "list": r.list,
                "score": r.score,
                "baseline_list": r.baseline_list,
                "baseline_score": r.baseline_score,
                "winner": r.winner,
                "variant": variant.name(),
                "candidates": r.candidates,
                "budget_exhausted": r.budget_exhausted,
                "compute": r.compute,
                "latency_us": latency.as_micros() as u64,
                "serve_us": r.elapsed.as_micros() as u64,
            }))
            .into_response()
        }
        Some(Err(e)) => {
            let (status, kind) = serve_kind(&e);
            refuse(&app, status, kind, e.to_string())
        }
        None => refuse(
            &app,
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Internal,
            "the compute worker failed".to_string(),
        ),
    }
}

/// The worker's reply, `None` if it dropped the channel (a failed job).
///
/// A parked runtime thread takes tens of microseconds to wake on a virtual
/// machine. So while a core is spare (fewer jobs running or queued than
/// cores, i.e. at low load) and spinning is on, the route polls for the
/// reply between rounds of the runtime, which keeps serving its other
/// connections; otherwise, or once the load rises, it awaits as usual.
async fn reply<T>(mut rx: tokio::sync::oneshot::Receiver<T>, app: &App) -> Option<T> {
    use tokio::sync::oneshot::error::TryRecvError;
    if !app.settings.spin.is_zero() {
        while app.pool.busy() < app.cores {
            match rx.try_recv() {
                Ok(v) => return Some(v),
                Err(TryRecvError::Closed) => return None,
                Err(TryRecvError::Empty) => tokio::task::yield_now().await,
            }
        }
    }
    rx.await.ok()
}

/// Ranks one job on a compute worker, its budget counted from `arrival`
/// (time spent queueing is spent from the budget).
fn run(
    model: &crate::model::Model,
    job: &RankJob,
    arrival: Instant,
    scratch: &mut crate::serve::Scratch,
) -> Result<Ranked, ServeError> {
    let req = job.request()?;
    match arrival.checked_add(job.budget) {
        Some(deadline) => model.serve_until(&req, deadline, scratch, None),
        // A budget too large for the clock: no deadline, as in `Model::serve`.
        None => model.serve(&req, scratch, None),
    }
}

/// `GET /health`: the model's shapes and the pool's state.
pub async fn health(State(app): State<Arc<App>>) -> Response {
    let c = &app.model.cfg;
    axum::Json(json!({
        "status": "ok",
        "isa": app.model.backend.isa().name(),
        "d_x": c.d_x,
        "d_u": c.d_u,
        "max_len": c.max_len,
        "max_candidates": c.max_candidates,
        "variant": app.defaults.variant.name(),
        "budget_us": app.defaults.budget.as_micros() as u64,
        "workers": app.pool.workers(),
        "queue": app.pool.capacity(),
    }))
    .into_response()
}

/// `GET /metrics`: the Prometheus text exposition.
pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    let text = app.metrics.render(app.pool.queued());
    let ct = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    ([(header::CONTENT_TYPE, ct)], text).into_response()
}

/// Anything else: 404 with a JSON message.
pub async fn not_found() -> Response {
    let msg = "routes: POST /rank, GET /health, GET /metrics";
    (StatusCode::NOT_FOUND, axum::Json(json!({ "error": msg }))).into_response()
}
