//! Counters for `GET /metrics`, in the Prometheus text format (0.0.4).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Why a request was not ranked: the `kind` label of `last_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: not JSON, wrong types, missing or unknown fields.
    Malformed,
    /// 413: the body is above the size limit.
    TooLarge,
    /// 422: N = 0.
    NoCandidates,
    /// 422: N above the model's limit.
    TooManyCandidates,
    /// 422: L out of range.
    BadLength,
    /// 422: a feature width differs from the model's.
    FeatureWidth,
    /// 422: a NaN or infinite feature (a number beyond f32's range).
    NonFinite,
    /// 422: a variant knob out of range.
    BadKnob,
    /// 422: a variant name that does not parse.
    UnknownVariant,
    /// 503: the queue is full or the server is stopping.
    Overloaded,
    /// 500: a kernel refusal or a failed worker.
    Internal,
}

impl ErrorKind {
    const ALL: [ErrorKind; 11] = [
        ErrorKind::Malformed,
        ErrorKind::TooLarge,
        ErrorKind::NoCandidates,
        ErrorKind::TooManyCandidates,
        ErrorKind::BadLength,
        ErrorKind::FeatureWidth,
        ErrorKind::NonFinite,
        ErrorKind::BadKnob,
        ErrorKind::UnknownVariant,
        ErrorKind::Overloaded,
        ErrorKind::Internal,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::NoCandidates => "no_candidates",
            ErrorKind::TooManyCandidates => "too_many_candidates",
            ErrorKind::BadLength => "bad_length",
            ErrorKind::FeatureWidth => "feature_width",
            ErrorKind::NonFinite => "non_finite",
            ErrorKind::BadKnob => "bad_knob",
            ErrorKind::UnknownVariant => "unknown_variant",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Internal => "internal",
        }
    }
}

/// Upper bounds of the latency histogram's buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// The server's counters; every update is one relaxed atomic add.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: AtomicU64,
    ranked: AtomicU64,
    errors: [AtomicU64; ErrorKind::ALL.len()],
    candidates: AtomicU64,
    exhausted: AtomicU64,
    abandoned: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_us_sum: AtomicU64,
}

fn add(c: &AtomicU64, v: u64) {
    c.fetch_add(v, Ordering::Relaxed);
}

impl Metrics {
    /// A `POST /rank` arrived.
    pub fn request(&self) {
        add(&self.requests, 1);
    }
    /// A request was refused.
    pub fn error(&self, kind: ErrorKind) {
        add(&self.errors[kind as usize], 1);
    }
    /// A request was ranked: its latency from arrival, candidates scored,
    /// and whether the budget ran out.
    pub fn ranked(&self, latency: Duration, candidates: usize, exhausted: bool) {
        add(&self.ranked, 1);
        add(&self.candidates, candidates as u64);
        add(&self.exhausted, u64::from(exhausted));
        let s = latency.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|&b| s <= b) {
            add(&self.buckets[i], 1);
        }
        add(
            &self.latency_us_sum,
            latency.as_micros().min(u64::MAX as u128) as u64,
        );
    }
    /// A queued request whose client had gone before a worker reached it.
    pub fn abandoned(&self) {
        add(&self.abandoned, 1);
    }
    /// The count of one error kind.
    pub fn errors(&self, kind: ErrorKind) -> u64 {
        self.errors[kind as usize].load(Ordering::Relaxed)
    }

    /// The text exposition, with the current queue depth.
    pub fn render(&self, queued: usize) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut s = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = write!(
                s,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"
            );
        };
        counter(
            "last_requests_total",
            "POST /rank requests received.",
            get(&self.requests),
        );
        counter(
            "last_ranked_total",
            "Requests answered with a ranked list.",
            get(&self.ranked),
        );
        counter(
            "last_candidates_evaluated_total",
            "Candidate lists scored by the evaluator, baselines included.",
            get(&self.candidates),
        );
        counter(
            "last_budget_exhausted_total",
            "Ranked requests whose budget ran out before the variant finished.",
            get(&self.exhausted),
        );
        counter(
            "last_abandoned_total",
            "Queued requests skipped because the client had disconnected.",
            get(&self.abandoned),
        );
        s.push_str("# HELP last_errors_total Requests refused, by kind.\n# TYPE last_errors_total counter\n");
        for k in ErrorKind::ALL {
            let _ = writeln!(
                s,
                "last_errors_total{{kind=\"{}\"}} {}",
                k.name(),
                self.errors(k)
            );
        }
        s.push_str(
            "# HELP last_queue_depth Requests waiting for a compute worker.\n# TYPE last_queue_depth gauge\n",
        );
        let _ = writeln!(s, "last_queue_depth {queued}");
        let name = "last_request_duration_seconds";
        let _ = write!(
            s,
            "# HELP {name} Ranked requests' latency from arrival to answer.\n# TYPE {name} histogram\n"
        );
        let mut cumulative = 0;
        for (b, c) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            cumulative += get(c);
            let _ = writeln!(s, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let ranked = get(&self.ranked);
        let _ = writeln!(s, "{name}_bucket{{le=\"+Inf\"}} {ranked}");
        let sum = get(&self.latency_us_sum) as f64 / 1e6;
        let _ = write!(s, "{name}_sum {sum}\n{name}_count {ranked}\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_counts_and_accumulates_buckets() {
        let m = Metrics::default();
        m.request();
        m.request();
        m.ranked(Duration::from_micros(300), 16, false);
        m.error(ErrorKind::BadLength);
        let t = m.render(3);
        assert!(t.contains("last_requests_total 2\n"));
        assert!(t.contains("last_candidates_evaluated_total 16\n"));
        assert!(t.contains("last_errors_total{kind=\"bad_length\"} 1\n"));
        assert!(t.contains("last_errors_total{kind=\"malformed\"} 0\n"));
        assert!(t.contains("last_queue_depth 3\n"));
        assert!(t.contains("last_request_duration_seconds_bucket{le=\"0.00025\"} 0\n"));
        assert!(t.contains("last_request_duration_seconds_bucket{le=\"0.0005\"} 1\n"));
        assert!(t.contains("last_request_duration_seconds_bucket{le=\"+Inf\"} 1\n"));
        assert!(t.contains("last_request_duration_seconds_count 1\n"));
    }
}
