//! The `oauth-apps` command: parse the command line, start telemetry, hand
//! over to [`cli`].

mod cli;

use std::process::ExitCode;

use oauth_apps::telemetry;

fn main() -> ExitCode {
    cli::tune_allocator();
    // Every TLS configuration of ours names its provider (ring); installing
    // it as the process default too keeps any library that asks for the
    // default from panicking. An error only means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Err(e) = cli::secrets_from_files() {
        eprintln!("error: {e}");
        return ExitCode::from(oauth_apps::config::EXIT_MISCONFIGURED);
    }
    let cli = cli::Cli::parse_args();
    if let Some(args) = cli.health() {
        // A probe runs every few seconds: no telemetry set-up, no exporter,
        // one thread.
        return cli::health::run_blocking(args);
    }
    let log_format = match cli.log.format() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command = cli.command_or_serve();
    cli::exit_code(runtime.block_on(async {
        // Exporters need the runtime; the guard flushes them on the way out.
        let mut telemetry = telemetry::init(log_format)?;
        let result = cli::run(command).await;
        telemetry.shutdown();
        result
    }))
}
