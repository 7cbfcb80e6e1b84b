//! The service's OpenTelemetry instruments. They come from the global meter,
//! which is a no-op until OTLP metrics export is configured.

use std::sync::OnceLock;

use opentelemetry::{
    KeyValue, global,
    metrics::{Counter, Histogram},
};

pub struct Metrics {
    pub rpc_calls: Counter<u64>,
    pub rpc_duration: Histogram<f64>,
    pub pool_wait: Histogram<f64>,
    pub argon2_duration: Histogram<f64>,
    pub argon2_wait: Histogram<f64>,
}

/// The instruments, created on first use.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let meter = global::meter("oauth-apps");
        Metrics {
            rpc_calls: meter
                .u64_counter("rpc.server.calls")
                .with_description("RPCs handled, by method and gRPC status")
                .build(),
            rpc_duration: meter
                .f64_histogram("rpc.server.duration")
                .with_unit("s")
                .with_description("RPC latency, by method and gRPC status")
                .build(),
            pool_wait: meter
                .f64_histogram("db.client.connection.wait_time")
                .with_unit("s")
                .with_description("Time spent waiting for a database connection")
                .build(),
            argon2_duration: meter
                .f64_histogram("argon2.duration")
                .with_unit("s")
                .with_description("Time of one argon2 hash or verification")
                .build(),
            argon2_wait: meter
                .f64_histogram("argon2.queue.wait_time")
                .with_unit("s")
                .with_description("Time waiting for an argon2 slot")
                .build(),
        }
    })
}

/// Gauges read from live state: `pool` gives the pool's (connections,
/// idle connections), `hash_queue` the argon2 calls running or waiting.
pub fn register_gauges(
    pool: impl Fn() -> (u32, u32) + Send + Sync + 'static,
    hash_queue: impl Fn() -> u64 + Send + Sync + 'static,
) {
    let meter = global::meter("oauth-apps");
    let _connections = meter
        .u64_observable_gauge("db.client.connection.count")
        .with_description("Database connections, by state (idle or used)")
        .with_callback(move |obs| {
            let (connections, idle) = pool();
            obs.observe(u64::from(idle), &[KeyValue::new("state", "idle")]);
            obs.observe(
                u64::from(connections.saturating_sub(idle)),
                &[KeyValue::new("state", "used")],
            );
        })
        .build();
    let _queue = meter
        .u64_observable_gauge("argon2.queue.size")
        .with_description("argon2 calls running or waiting for a slot")
        .with_callback(move |obs| obs.observe(hash_queue(), &[]))
        .build();
}
