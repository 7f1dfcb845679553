//! Prometheus metrics of a node, served at `GET /metrics` (OpenMetrics text):
//! `atelier_jobs_total{tool,outcome}`, `atelier_jobs_refused_total{reason}`,
//! `atelier_jobs_running`, and histograms `atelier_job_queue_seconds{tool}` (waiting for a
//! slot) and `atelier_job_run_seconds{tool}` (accepted to finished).

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub tool: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolLabel {
    pub tool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

fn seconds_histogram() -> Histogram {
    // 10 ms … ~328 s
    Histogram::new(exponential_buckets(0.01, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    pub jobs: Family<JobLabels, Counter>,
    pub refused: Family<ReasonLabel, Counter>,
    pub running: Gauge,
    pub queue_seconds: Family<ToolLabel, Histogram, fn() -> Histogram>,
    pub run_seconds: Family<ToolLabel, Histogram, fn() -> Histogram>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("atelier");
        let jobs = Family::<JobLabels, Counter>::default();
        let refused = Family::<ReasonLabel, Counter>::default();
        let running = Gauge::default();
        let queue_seconds = Family::<ToolLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            seconds_histogram,
        );
        let run_seconds = Family::<ToolLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            seconds_histogram,
        );
        registry.register("jobs", "Jobs finished, by tool and outcome", jobs.clone());
        registry.register(
            "jobs_refused",
            "Job requests refused, by reason",
            refused.clone(),
        );
        registry.register(
            "jobs_running",
            "Jobs accepted and not finished",
            running.clone(),
        );
        registry.register(
            "job_queue_seconds",
            "Time a job waited for a free slot",
            queue_seconds.clone(),
        );
        registry.register(
            "job_run_seconds",
            "Time from acceptance to the final event",
            run_seconds.clone(),
        );
        Metrics {
            registry,
            jobs,
            refused,
            running,
            queue_seconds,
            run_seconds,
        }
    }

    pub fn finished(&self, tool: &str, outcome: &str) {
        self.jobs
            .get_or_create(&JobLabels {
                tool: tool.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    pub fn refuse(&self, reason: &str) {
        self.refused
            .get_or_create(&ReasonLabel {
                reason: reason.into(),
            })
            .inc();
    }

    pub fn observe(
        &self,
        family: &Family<ToolLabel, Histogram, fn() -> Histogram>,
        tool: &str,
        secs: f64,
    ) {
        family
            .get_or_create(&ToolLabel { tool: tool.into() })
            .observe(secs);
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::new();
        m.finished("background-remove", "completed");
        m.finished("background-remove", "completed");
        m.finished("upscale", "failed");
        m.refuse("bad_signature");
        m.observe(&m.run_seconds, "upscale", 1.5);
        let text = m.render();
        assert!(
            text.contains("atelier_jobs_total{tool=\"background-remove\",outcome=\"completed\"} 2"),
            "{text}"
        );
        assert!(text.contains("atelier_jobs_refused_total{reason=\"bad_signature\"} 1"));
        assert!(text.contains("atelier_job_run_seconds_count{tool=\"upscale\"} 1"));
        assert!(text.contains("atelier_jobs_running 0"));
        assert!(text.ends_with("# EOF\n"));
    }
}
