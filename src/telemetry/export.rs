//! The OTLP exporters, wrapped so that a collector that cannot be reached
//! is said once, at WARN, then at most once a minute while it lasts, and
//! its return at INFO. The SDK itself would say nothing (its internal logs
//! are off) or say it on every batch.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use opentelemetry_sdk::{
    error::OTelSdkResult,
    metrics::{Temporality, data::ResourceMetrics, exporter::PushMetricExporter},
    trace::{SpanData, SpanExporter},
};

/// How often a failure that lasts is said again.
const REPEAT_EVERY: Duration = Duration::from_secs(60);

/// What one signal's exports have been doing lately.
#[derive(Debug)]
struct Failures {
    signal: &'static str,
    endpoint: String,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// When the current run of failures was last said; `None`: exports work.
    warned: Option<Instant>,
    /// Failures since then.
    unsaid: u64,
}

impl Failures {
    fn new(signal: &'static str, endpoint: String) -> Self {
        Self {
            signal,
            endpoint,
            state: Mutex::default(),
        }
    }

    fn record(&self, result: &OTelSdkResult) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (signal, endpoint) = (self.signal, &self.endpoint);
        match (result, state.warned) {
            (Ok(()), None) => {}
            (Ok(()), Some(_)) => {
                *state = State::default();
                tracing::info!("OTLP export of {signal} to {endpoint} works again");
            }
            (Err(e), None) => {
                *state = State {
                    warned: Some(Instant::now()),
                    unsaid: 0,
                };
                tracing::warn!(
                    error = %e,
                    "OTLP export of {signal} to {endpoint} failed: its {signal} are dropped \
                     until the collector answers (calls are not affected); said again at \
                     most once a minute"
                );
            }
            (Err(e), Some(at)) if at.elapsed() >= REPEAT_EVERY => {
                let failures = state.unsaid + 1;
                *state = State {
                    warned: Some(Instant::now()),
                    unsaid: 0,
                };
                tracing::warn!(error = %e, failures, "OTLP export of {signal} to {endpoint} still fails");
            }
            (Err(_), Some(_)) => state.unsaid += 1,
        }
    }
}

/// A span exporter whose failures are said, sparingly.
#[derive(Debug)]
pub struct Spans<E> {
    inner: E,
    failures: Failures,
}

impl<E> Spans<E> {
    pub fn new(inner: E, endpoint: String) -> Self {
        Self {
            inner,
            failures: Failures::new("traces", endpoint),
        }
    }
}

impl<E: SpanExporter> SpanExporter for Spans<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        self.failures.record(&result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

/// A metric exporter whose failures are said, sparingly.
pub struct Metrics<E> {
    inner: E,
    failures: Failures,
}

impl<E> Metrics<E> {
    pub fn new(inner: E, endpoint: String) -> Self {
        Self {
            inner,
            failures: Failures::new("metrics", endpoint),
        }
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Metrics<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        self.failures.record(&result);
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}
