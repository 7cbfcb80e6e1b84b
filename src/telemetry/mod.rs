//! Logs, traces and metrics.
//!
//! Policy: telemetry never carries a secret. Client secrets, bearer tokens,
//! signing keys and hashes are never recorded as span or log fields (their
//! types redact `Debug`), and whatever `RUST_LOG` says, every other crate is
//! capped at `info`: a dependency's debug output is not ours to vet (the
//! PostgreSQL driver prints statement parameters, hashes and keys among them,
//! as byte lists; the HTTP/2 crates print request metadata, tokens among
//! them).
//!
//! OpenTelemetry follows the standard `OTEL_*` variables: with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
//! `..._METRICS_ENDPOINT`) set, spans and metrics are exported over OTLP/gRPC
//! in the background (batched; a collector that is down only costs dropped
//! telemetry, never a slower call); unset, nothing is exported.
//! `OTEL_SDK_DISABLED=true` turns export off; `OTEL_SERVICE_NAME` and
//! `OTEL_RESOURCE_ATTRIBUTES` name the service (default `oauth-apps`).

mod export;
pub mod metrics;
pub mod rpc;

use std::io::IsTerminal as _;

use anyhow::Context as _;
use opentelemetry::{global, trace::TracerProvider as _};
use opentelemetry_otlp::WithTonicConfig as _;
use opentelemetry_sdk::{
    Resource, metrics::SdkMeterProvider, propagation::TraceContextPropagator,
    trace::SdkTracerProvider,
};
use tracing_subscriber::{
    EnvFilter, Layer, filter::FilterFn, fmt, layer::SubscriberExt as _,
    util::SubscriberInitExt as _,
};

pub use rpc::RpcTelemetryLayer;
use tonic::transport::{Certificate, ClientTlsConfig};

use crate::exit::{Misconfigured, read_setting_file};

/// Log line format (the setting `OAUTH_APPS_LOG_FORMAT`: `text` or `json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Flushes and stops exporters when dropped.
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
}

impl Telemetry {
    pub fn shutdown(&mut self) {
        if let Some(p) = self.tracer_provider.take() {
            let _ = p.shutdown();
        }
        if let Some(p) = self.meter_provider.take() {
            let _ = p.shutdown();
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// Whether the `OTEL_*` environment asks for OTLP export of `signal`
/// (`TRACES` or `METRICS`).
fn export_wanted(signal: &str) -> bool {
    if std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
        return false;
    }
    let exporter = std::env::var(format!("OTEL_{signal}_EXPORTER")).unwrap_or_default();
    if exporter.eq_ignore_ascii_case("none") {
        return false;
    }
    env_set("OTEL_EXPORTER_OTLP_ENDPOINT")
        || env_set(&format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"))
}

/// The OTLP endpoint of `signal`: its own variable, else the common one.
fn endpoint(signal: &str) -> String {
    std::env::var(format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"))
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok())
        .unwrap_or_default()
}

/// The endpoint without credentials, for a log line.
fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Where telemetry goes, for the start-up line: `off`, or the OTLP
/// endpoint of traces and of metrics.
/// An error and its causes, on one line: a library's own message ("client
/// error (Connect)", "error connecting to server") says little without the
/// TLS, IO or server cause under it.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

pub fn export_summary() -> String {
    let traces = export_wanted("TRACES").then(|| shown(&endpoint("TRACES")));
    let metrics = export_wanted("METRICS").then(|| shown(&endpoint("METRICS")));
    match (traces, metrics) {
        (None, None) => "off".to_owned(),
        (Some(t), Some(m)) if t == m => format!("OTLP to {t}"),
        (t, m) => format!(
            "traces to {}, metrics to {}",
            t.as_deref().unwrap_or("off"),
            m.as_deref().unwrap_or("off")
        ),
    }
}

/// What this build can export for `signal`, checked before anything starts:
/// OTLP over gRPC to an `http://` or `https://` endpoint.
fn check_export_settings(signal: &str) -> Result<(), Misconfigured> {
    for var in [
        format!("OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"),
        "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
    ] {
        match std::env::var(&var) {
            Ok(p) if !p.trim().is_empty() && p.trim() != "grpc" => {
                return Err(Misconfigured(format!(
                    "{var}={p}: this build exports OTLP over gRPC only (a collector's port \
                     4317, not the HTTP port 4318); unset {var} or set it to grpc"
                )));
            }
            _ => {}
        }
    }
    let url = endpoint(signal);
    let scheme = url.split_once("://").map(|(s, _)| s);
    if !matches!(scheme, Some("http" | "https")) {
        return Err(Misconfigured(format!(
            "the OTLP endpoint {:?} (OTEL_EXPORTER_OTLP_ENDPOINT or \
             OTEL_EXPORTER_OTLP_{signal}_ENDPOINT) needs a scheme: http://HOST:4317, or \
             https://HOST:4317 for a collector behind TLS",
            shown(&url)
        )));
    }
    Ok(())
}

/// For an `https://` endpoint: the public web roots, and the PEM of
/// `OTEL_EXPORTER_OTLP_CERTIFICATE` (or its per-signal variable) when set.
fn tls_config(signal: &str) -> Result<Option<ClientTlsConfig>, Misconfigured> {
    if !endpoint(signal).starts_with("https://") {
        return Ok(None);
    }
    let mut tls = ClientTlsConfig::new().with_webpki_roots();
    for var in [
        format!("OTEL_EXPORTER_OTLP_{signal}_CERTIFICATE"),
        "OTEL_EXPORTER_OTLP_CERTIFICATE".to_owned(),
    ] {
        if let Some(path) = std::env::var_os(&var).filter(|p| !p.is_empty()) {
            let pem = read_setting_file(&var, std::path::Path::new(&path))?;
            tls = tls.ca_certificate(Certificate::from_pem(pem));
            break;
        }
    }
    Ok(Some(tls))
}

/// The log filter: `RUST_LOG` (default `info`).
fn log_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Our own code may log at any level; every dependency at most `info`.
pub fn dependencies_capped() -> FilterFn {
    FilterFn::new(|meta| is_ours(meta.target()) || *meta.level() <= tracing::Level::INFO)
}

fn is_ours(target: &str) -> bool {
    target == "oauth_apps" || target.starts_with("oauth_apps::")
}

/// Installs logging, and OTLP export when configured. Must run inside the
/// Tokio runtime (the gRPC exporter needs it).
pub fn init(format: LogFormat) -> anyhow::Result<Telemetry> {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = Resource::builder()
        .with_service_name(service_name())
        .build();
    let tracer_provider = tracer_provider(&resource)?;
    let meter_provider = meter_provider(resource)?;
    tracing_subscriber::registry()
        .with(log_filter())
        .with(dependencies_capped())
        .with(log_layer(format))
        .with(tracer_provider.as_ref().map(span_layer))
        .try_init()
        .context("installing the log subscriber")?;
    Ok(Telemetry {
        tracer_provider,
        meter_provider,
    })
}

/// Spans exported over OTLP in batches, when the environment asks for it.
fn tracer_provider(resource: &Resource) -> anyhow::Result<Option<SdkTracerProvider>> {
    if !export_wanted("TRACES") {
        return Ok(None);
    }
    check_export_settings("TRACES")?;
    let mut builder = opentelemetry_otlp::SpanExporter::builder().with_tonic();
    if let Some(tls) = tls_config("TRACES")? {
        builder = builder.with_tls_config(tls);
    }
    let exporter = builder.build().context("building the OTLP span exporter")?;
    let exporter = export::Spans::new(exporter, shown(&endpoint("TRACES")));
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.clone())
            .build(),
    ))
}

/// Metrics exported over OTLP periodically, when the environment asks for
/// it; installed as the global meter provider.
fn meter_provider(resource: Resource) -> anyhow::Result<Option<SdkMeterProvider>> {
    if !export_wanted("METRICS") {
        return Ok(None);
    }
    check_export_settings("METRICS")?;
    let mut builder = opentelemetry_otlp::MetricExporter::builder().with_tonic();
    if let Some(tls) = tls_config("METRICS")? {
        builder = builder.with_tls_config(tls);
    }
    let exporter = builder
        .build()
        .context("building the OTLP metric exporter")?;
    let exporter = export::Metrics::new(exporter, shown(&endpoint("METRICS")));
    let provider = SdkMeterProvider::builder()
        .with_periodic_exporter(exporter)
        .with_resource(resource)
        .build();
    global::set_meter_provider(provider.clone());
    Ok(Some(provider))
}

/// The layer that turns tracing spans into exported OpenTelemetry spans.
fn span_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    // Spans carry what the service names in them, and nothing the layer
    // would add to each by default (source location, thread, busy and idle
    // times: costs on every call, of little use for one span per RPC). The
    // per-call log line stays out of the span: it repeats the span's fields.
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("oauth-apps"))
        .with_error_records_to_exceptions(false)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        .with_filter(FilterFn::new(|meta| {
            !(meta.is_event() && meta.target() == rpc::LOG_TARGET)
        }))
}

/// Log lines on stderr, in `format`.
fn log_layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    match format {
        // Colours only for a person at a terminal: in a file or a log
        // collector, escape codes are noise around every field.
        LogFormat::Text => fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    }
}

fn service_name() -> String {
    std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "oauth-apps".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_own_targets_escape_the_cap() {
        for (target, ours) in [
            ("oauth_apps", true),
            ("oauth_apps::store::applications", true),
            ("oauth_apps_evil", false),
            ("tokio_postgres::query", false),
            ("h2::codec", false),
            ("diesel_async", false),
        ] {
            assert_eq!(is_ours(target), ours, "{target}");
        }
    }
}
