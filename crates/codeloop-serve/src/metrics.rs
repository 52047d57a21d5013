//! `GET /metrics`: the server's counters in Prometheus's text exposition format (version 0.0.4):
//! executions admitted and not yet answered, executions by endpoint and verdict, requests
//! refused by reason, and a histogram of execution latency (admission to answer) per endpoint.
//! The format is a few lines of text, so it is written here rather than through a metrics crate.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State as Shared;
use axum::http::header;
use axum::response::IntoResponse;

use crate::State;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Counters {
    /// (endpoint, verdict) -> executions.
    executions: BTreeMap<(&'static str, String), u64>,
    /// reason -> requests refused.
    refused: BTreeMap<&'static str, u64>,
    latency: BTreeMap<&'static str, Histogram>,
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
}

impl Metrics {
    /// One execution of `endpoint` answered with `verdict` after `elapsed`.
    pub(crate) fn executed(&self, endpoint: &'static str, verdict: &str, elapsed: Duration) {
        let mut c = self.counters.lock().expect("metrics lock");
        *c.executions
            .entry((endpoint, verdict.to_owned()))
            .or_default() += 1;
        let h = c.latency.entry(endpoint).or_default();
        let s = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if s <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += s;
    }

    /// One request refused for `reason`.
    pub(crate) fn refused(&self, reason: &'static str) {
        *self
            .counters
            .lock()
            .expect("metrics lock")
            .refused
            .entry(reason)
            .or_default() += 1;
    }

    /// The exposition text, with `in_flight` executions admitted and not yet answered.
    #[must_use]
    pub fn render(&self, in_flight: usize) -> String {
        let c = self.counters.lock().expect("metrics lock");
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP codeloop_queue_depth Executions admitted and not yet answered (running or waiting for a sandbox slot).\n# TYPE codeloop_queue_depth gauge\ncodeloop_queue_depth {in_flight}"
        );
        out.push_str("# HELP codeloop_executions_total Executions answered, by endpoint and verdict.\n# TYPE codeloop_executions_total counter\n");
        for ((endpoint, verdict), n) in &c.executions {
            let _ = writeln!(
                out,
                "codeloop_executions_total{{endpoint=\"{endpoint}\",verdict=\"{verdict}\"}} {n}"
            );
        }
        out.push_str("# HELP codeloop_requests_refused_total Requests refused, by reason.\n# TYPE codeloop_requests_refused_total counter\n");
        for (reason, n) in &c.refused {
            let _ = writeln!(
                out,
                "codeloop_requests_refused_total{{reason=\"{reason}\"}} {n}"
            );
        }
        out.push_str("# HELP codeloop_execution_seconds Time from admission to answer.\n# TYPE codeloop_execution_seconds histogram\n");
        for (endpoint, h) in &c.latency {
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "codeloop_execution_seconds_bucket{{endpoint=\"{endpoint}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "codeloop_execution_seconds_bucket{{endpoint=\"{endpoint}\",le=\"+Inf\"}} {}\ncodeloop_execution_seconds_sum{{endpoint=\"{endpoint}\"}} {}\ncodeloop_execution_seconds_count{{endpoint=\"{endpoint}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        out
    }
}

pub(crate) async fn handler(Shared(state): Shared<Arc<State>>) -> impl IntoResponse {
    let in_flight = state.config.queue.max(1) - state.admission.available_permits();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(in_flight),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_labels_sorted() {
        let m = Metrics::default();
        m.executed("run_code", "Success", Duration::from_millis(30));
        m.executed("run_code", "Failed", Duration::from_secs(2));
        m.refused("busy");
        let text = m.render(3);
        assert!(text.contains("codeloop_queue_depth 3\n"));
        assert!(
            text.contains(
                "codeloop_executions_total{endpoint=\"run_code\",verdict=\"Success\"} 1\n"
            )
        );
        assert!(text.contains("codeloop_requests_refused_total{reason=\"busy\"} 1\n"));
        assert!(
            text.contains(
                "codeloop_execution_seconds_bucket{endpoint=\"run_code\",le=\"0.025\"} 0\n"
            )
        );
        assert!(
            text.contains(
                "codeloop_execution_seconds_bucket{endpoint=\"run_code\",le=\"0.05\"} 1\n"
            )
        );
        assert!(
            text.contains(
                "codeloop_execution_seconds_bucket{endpoint=\"run_code\",le=\"2.5\"} 2\n"
            )
        );
        assert!(text.contains("codeloop_execution_seconds_count{endpoint=\"run_code\"} 2\n"));
    }
}
