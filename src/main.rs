//! The `oauth-apps` command: serve (the default), manage members, mint
//! tokens, check a running server's health.

mod dev;
mod health;

use std::{process::ExitCode, time::Duration};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use oauth_apps::{
    AppState, Config,
    auth::TokenIssuer,
    config::{DatabaseArgs, JwtArgs},
    domain::Role,
    store, telemetry,
};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(
    name = "oauth-apps",
    version,
    about = "Register and manage OAuth 2.0 client applications over gRPC"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gRPC service (the default command).
    Serve(Box<Config>),
    /// Manage organization members and their roles.
    Members {
        #[command(subcommand)]
        command: MembersCommand,
    },
    /// Print a bearer token signed with OAUTH_APPS_JWT_SECRET (development, scripts).
    Token(Box<TokenArgs>),
    /// Run against a private PostgreSQL cluster in a project folder (created on
    /// first use, reused after), with a demo organization and a ready token.
    Dev(Box<DevArgs>),
    /// Ask a running server's gRPC health service; exit 0 only when it is
    /// SERVING (a container HEALTHCHECK, scripts).
    Health(health::HealthArgs),
    /// Print an organization's audit trail, oldest first.
    Audit {
        #[arg(long)]
        org: String,
        /// Only events of this application.
        #[arg(long)]
        app: Option<String>,
        /// The most recent N events.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Subcommand)]
enum MembersCommand {
    /// Add a member or change their role.
    Set {
        #[arg(long)]
        org: String,
        #[arg(long)]
        user: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Remove a member.
    Remove {
        #[arg(long)]
        org: String,
        #[arg(long)]
        user: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// List an organization's members.
    List {
        #[arg(long)]
        org: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Args)]
struct DevArgs {
    /// Folder of the private cluster, its port and the dev token secret.
    #[arg(long, default_value = ".oauth-apps-dev")]
    dir: std::path::PathBuf,
    #[command(flatten)]
    config: Config,
}

#[derive(Args)]
struct TokenArgs {
    /// The token's subject (the user id).
    #[arg(long)]
    sub: String,
    /// Space-separated scopes, such as "oauthapps:verify".
    #[arg(long)]
    scope: Option<String>,
    /// Lifetime, such as 15m, 1h or 7d.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    ttl: Duration,
    #[command(flatten)]
    jwt: JwtArgs,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "expected owner, admin or member".to_owned())
}

/// argon2 allocates 19 MiB for every hash. glibc's dynamic mmap threshold
/// soon serves blocks that size from per-thread arenas and keeps them, so
/// every blocking thread that ever hashed would hold 19 MiB or more. A fixed
/// threshold hands them back to the OS, and an arena count tied to the cores
/// keeps the many blocking threads from growing arenas of their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // Two arenas per core: enough to keep malloc uncontended, few enough that
    // the many blocking threads do not each grow one.
    let arenas = std::thread::available_parallelism().map_or(2, |n| 2 * n.get()) as libc::c_int;
    // SAFETY: mallopt only changes allocator parameters; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
    // Every TLS configuration of ours names its provider (ring); installing
    // it as the process default too keeps any library that asks for the
    // default from panicking. An error only means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    if let Some(Command::Health(args)) = &cli.command {
        // A probe runs every few seconds: no telemetry set-up, no exporter,
        // one thread.
        return health_check(args);
    }
    let log_format = match telemetry::LogFormat::from_env() {
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
    let command = cli.command.unwrap_or_else(|| {
        // `oauth-apps` alone serves, with settings from the environment.
        match Cli::parse_from(["oauth-apps", "serve"]).command {
            Some(c) => c,
            None => unreachable!("serve was given"),
        }
    });
    let result = runtime.block_on(async {
        // Exporters need the runtime; the guard flushes them on the way out.
        let mut telemetry = telemetry::init(log_format)?;
        let result = run(command).await;
        telemetry.shutdown();
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn health_check(args: &health::HealthArgs) -> ExitCode {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(health::run(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(config) => serve(*config).await,
        Command::Health(args) => health::run(&args).await,
        Command::Dev(args) => dev(*args).await,
        Command::Members { command } => members(command).await,
        Command::Audit {
            org,
            app,
            limit,
            db,
        } => audit(&org, app.as_deref(), limit, &db).await,
        Command::Token(mut args) => {
            if let Some(dir) = dev::env_dir()
                && args.jwt.jwt_secret.as_deref().is_none_or(str::is_empty)
            {
                args.jwt.jwt_secret = Some(dev::jwt_secret(&dir)?);
            }
            let jwt = &args.jwt;
            let issuer = TokenIssuer::hs256(
                jwt.secret()?,
                jwt.jwt_issuer.as_deref(),
                jwt.jwt_audience.as_deref(),
            );
            println!(
                "{}",
                issuer.mint(&args.sub, args.scope.as_deref(), args.ttl)
            );
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let state = AppState::prepare(&config).await?;
    let listener = bind(&config).await?;
    run_until_signalled(listener, state, config.shutdown_grace).await
}

async fn bind(config: &Config) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "oauth-apps listening");
    Ok(listener)
}

async fn dev(args: DevArgs) -> anyhow::Result<()> {
    let DevArgs { dir, mut config } = args;
    let dir_shown = std::path::absolute(&dir).unwrap_or_else(|_| dir.clone());
    let env = tokio::task::spawn_blocking(move || dev::prepare(&dir)).await??;
    config.database.database_url = env.cluster.url(dev::DEV_DATABASE);
    if config.jwt.jwt_secret.as_deref().is_none_or(str::is_empty) {
        config.jwt.jwt_secret = Some(env.jwt_secret.clone());
    }
    let result = async {
        let state = AppState::prepare(&config).await?;
        dev::seed(&state).await?;
        let listener = bind(&config).await?;
        let jwt = &config.jwt;
        let token = TokenIssuer::hs256(
            jwt.secret()?,
            jwt.jwt_issuer.as_deref(),
            jwt.jwt_audience.as_deref(),
        )
        .mint(dev::DEMO_OWNER, None, Duration::from_secs(24 * 3600));
        println!(
            "{}",
            dev::banner(listener.local_addr()?, &token, &env.cluster, &dir_shown)
        );
        run_until_signalled(listener, state, config.shutdown_grace).await
    }
    .await;
    // The data stays on disk; a server we started does not outlive us.
    if env.started_here {
        let cluster = env.cluster.clone();
        tokio::task::spawn_blocking(move || cluster.stop()).await??;
    }
    result
}

async fn run_until_signalled(
    listener: TcpListener,
    state: AppState,
    grace: Duration,
) -> anyhow::Result<()> {
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown_signal().await;
        tracing::info!("shutting down: no new calls; finishing in-flight ones");
        let _ = signalled_tx.send(());
    };
    let server = tokio::spawn(oauth_apps::serve(listener, state, shutdown));
    let drained = async {
        // After the signal, in-flight calls get `grace` to finish.
        if signalled_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result.context("server task failed")??,
        () = drained => tracing::warn!(?grace, "in-flight calls did not finish within the grace period"),
    }
    tracing::info!("stopped");
    Ok(())
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
        () = ctrl_c => {}
        () = term => {}
    }
}

/// The database of `members` and `audit`: `DATABASE_URL` when set, else the
/// cluster of `oauth-apps dev` when `OAUTH_APPS_DEV_DIR` names its folder.
async fn connect(db: &DatabaseArgs) -> anyhow::Result<diesel_async::AsyncPgConnection> {
    use diesel_async::AsyncConnection as _;
    let url = match dev::env_dir() {
        Some(dir) if std::env::var_os("DATABASE_URL").is_none() => dev::database_url(&dir)?,
        _ => db.database_url.clone(),
    };
    store::ensure_database(&url).await?;
    store::run_migrations(&url).await?;
    diesel_async::AsyncPgConnection::establish(&url)
        .await
        .context("connecting to the database")
}

async fn audit(org: &str, app: Option<&str>, limit: i64, db: &DatabaseArgs) -> anyhow::Result<()> {
    anyhow::ensure!(limit > 0, "--limit must be positive");
    let mut conn = connect(db).await?;
    let events = store::audit::list(&mut conn, org, app, limit).await?;
    if events.is_empty() {
        eprintln!("no audit events for {org}");
    }
    for e in events {
        let mut line = format!(
            "{}\t{}\t{}\t{}",
            e.create_time
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            printable(&e.actor),
            printable(&e.action),
            printable(&e.application_id)
        );
        if !e.changed_fields.is_empty() {
            line.push_str(&format!(
                "\tfields={}",
                printable(&e.changed_fields.join(","))
            ));
        }
        if !e.details.is_empty() {
            line.push_str(&format!("\t{}", printable(&e.details)));
        }
        println!("{line}");
    }
    Ok(())
}

/// A value as one field of one line: control characters (a newline, a tab,
/// an escape sequence) are written as escapes, so a stored id cannot forge
/// lines or columns, or drive the terminal.
fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return s.into();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

async fn members(command: MembersCommand) -> anyhow::Result<()> {
    let db = match &command {
        MembersCommand::Set { db, .. }
        | MembersCommand::Remove { db, .. }
        | MembersCommand::List { db, .. } => db,
    };
    let mut conn = connect(db).await?;
    match command {
        MembersCommand::Set {
            org, user, role, ..
        } => {
            anyhow::ensure!(
                !org.trim().is_empty() && !user.trim().is_empty(),
                "--org and --user must not be empty"
            );
            anyhow::ensure!(
                !org.chars().chain(user.chars()).any(char::is_control),
                "--org and --user must not contain control characters (newlines, tabs...)"
            );
            store::memberships::set(&mut conn, &org, &user, role).await?;
            println!("{user} is now {} of {org}", role.as_db().to_uppercase());
        }
        MembersCommand::Remove { org, user, .. } => {
            if store::memberships::remove(&mut conn, &org, &user).await? {
                println!("{user} removed from {org}");
            } else {
                anyhow::bail!("{user} is not a member of {org}");
            }
        }
        MembersCommand::List { org, .. } => {
            let members = store::memberships::list(&mut conn, &org).await?;
            if members.is_empty() {
                eprintln!("{org} has no members");
            }
            for m in members {
                println!("{}\t{}", printable(&m.user_id), m.role.to_uppercase());
            }
        }
    }
    Ok(())
}
