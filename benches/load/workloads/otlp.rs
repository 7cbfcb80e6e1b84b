//! OTLP export to a live in-process collector, measured against a fresh
//! server without export, alternately (A B B A), and with head sampling.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Ctx, Out, get_seeded};
use crate::{
    drive::{Stats, channels, clients, drive},
    server::{Server, start_server},
};

/// The OTLP workloads (see the module's doc).
pub async fn otlp(ctx: &Ctx<'_>, out: &mut Out) {
    let (collector, endpoint) = collector::start().await;
    let exporting_env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_SERVICE_NAME", "oauth-apps-bench"),
    ];
    let (exporting, _) = start_server(ctx.opts, ctx.database_url, &exporting_env).await;
    let (without, with) = abba(ctx, &exporting).await;
    let spans = AtomicU64::load(&collector.spans, Ordering::Relaxed);
    eprintln!("  the collector received {spans} spans");
    drop(exporting);
    let sampled = sampled(ctx, &endpoint).await;
    let rps = |s: &[Stats]| s.iter().map(|s| s.rps).sum::<f64>() / s.len() as f64;
    let cpu = |s: &[Stats]| {
        s.iter()
            .map(|s| s.server_cpu_us)
            .sum::<Option<f64>>()
            .map(|t| t / s.len() as f64)
    };
    out.target(
        "Get with OTLP export of 10% of traces ÷ without",
        sampled.rps / rps(&without),
        "(not a target: for comparison)",
    );
    out.target(
        "Get with OTLP export ÷ without (A B B A, means)",
        rps(&with) / rps(&without),
        "≥ 0.9",
    );
    if let (Some(w), Some(wo)) = (cpu(&with), cpu(&without)) {
        out.target(
            "the server's CPU per Get: without export ÷ with",
            wo / w,
            "(the export's own cost, without the collector's)",
        );
    }
    out.report.push_str(&format!(
        "\nThe live collector received {spans} spans during the OTLP workload.\n"
    ));
    out.more.extend(without);
    out.more.extend(with);
    out.more.push(sampled);
}

/// `--connections` connections to a server, and its Gets of seeded apps.
macro_rules! get_on {
    ($ctx:expr, $url:expr) => {{
        let a = clients(&channels($url, $ctx.opts.connections).await);
        let (t, apps) = ($ctx.callers.owner.clone(), $ctx.apps);
        move |w: usize, i: u64| get_seeded(&a, &t, apps, w, i)
    }};
}

/// A fresh server without export, like the exporting one, and the two
/// measured in the order A B B A, so that a drift of the machine's speed
/// during the four workloads weighs on both alike: (without, with).
async fn abba(ctx: &Ctx<'_>, exporting: &Server) -> (Vec<Stats>, Vec<Stats>) {
    let c = ctx.opts.concurrency;
    let (plain, _) = start_server(ctx.opts, ctx.database_url, &[]).await;
    let on_plain = get_on!(ctx, &plain.url);
    let on_exporting = get_on!(ctx, &exporting.url);
    let mut without = Vec::new();
    let mut with = Vec::new();
    for round in ["A", "B", "B", "A"] {
        let stats = if round == "A" {
            let name = format!("GetApplication (no export, {} of 2)", without.len() + 1);
            drive(&name, ctx.opts, c, Some(plain.pid()), on_plain.clone()).await
        } else {
            let name = format!(
                "GetApplication (OTLP export, live collector, {} of 2)",
                with.len() + 1
            );
            drive(
                &name,
                ctx.opts,
                c,
                Some(exporting.pid()),
                on_exporting.clone(),
            )
            .await
        };
        if round == "A" {
            without.push(stats);
        } else {
            with.push(stats);
        }
    }
    drop(plain);
    (without, with)
}

/// The same with head sampling, as a busy deployment would run it.
async fn sampled(ctx: &Ctx<'_>, endpoint: &str) -> Stats {
    let (sampling, _) = start_server(
        ctx.opts,
        ctx.database_url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_SERVICE_NAME", "oauth-apps-bench"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
        ],
    )
    .await;
    let sampled = drive(
        "GetApplication (OTLP export, 10% of traces sampled)",
        ctx.opts,
        ctx.opts.concurrency,
        Some(sampling.pid()),
        get_on!(ctx, &sampling.url),
    )
    .await;
    drop(sampling);
    sampled
}

/// A minimal OTLP collector: accepts traces and metrics, counts spans.
mod collector {
    use std::sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    };

    use opentelemetry_proto::tonic::collector::{
        metrics::v1::{
            ExportMetricsServiceRequest, ExportMetricsServiceResponse,
            metrics_service_server::{MetricsService, MetricsServiceServer},
        },
        trace::v1::{
            ExportTraceServiceRequest, ExportTraceServiceResponse,
            trace_service_server::{TraceService, TraceServiceServer},
        },
    };
    use tonic::{Request, Response, Status};

    #[derive(Clone, Default)]
    pub struct Collector {
        pub spans: Arc<AtomicU64>,
    }

    #[tonic::async_trait]
    impl TraceService for Collector {
        async fn export(
            &self,
            req: Request<ExportTraceServiceRequest>,
        ) -> Result<Response<ExportTraceServiceResponse>, Status> {
            let n: usize = req
                .into_inner()
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum();
            self.spans.fetch_add(n as u64, Ordering::Relaxed);
            Ok(Response::new(ExportTraceServiceResponse::default()))
        }
    }

    #[tonic::async_trait]
    impl MetricsService for Collector {
        async fn export(
            &self,
            _req: Request<ExportMetricsServiceRequest>,
        ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
            Ok(Response::new(ExportMetricsServiceResponse::default()))
        }
    }

    /// Starts one on a free port; returns its endpoint.
    pub async fn start() -> (Collector, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let c = Collector::default();
        let (t, m) = (c.clone(), c.clone());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(t))
                .add_service(MetricsServiceServer::new(m))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
        });
        (c, format!("http://{addr}"))
    }
}
