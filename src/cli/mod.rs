//! The `oauth-apps` command, binary only: the library has no command line.
//! `serve` (the default) and `dev` run the service; `members`, `audit` and
//! `token` are operators' tools; `health` is a container's probe; `watch`
//! follows a running server's changes. Settings come from
//! [`oauth_apps::config`]; what is here is each command's own arguments and
//! the process's set-up.

mod audit;
pub mod dev;
mod docs;
pub mod health;
mod members;
mod serve;
mod token;
mod watch;

use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use oauth_apps::{
    Config,
    config::{DatabaseArgs, DevDirArgs, LogArgs},
    store,
};

#[derive(Parser)]
#[command(
    name = "oauth-apps",
    version,
    about = "Register and manage OAuth 2.0 client applications over gRPC"
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the gRPC service (the default command).
    #[command(after_help = oauth_apps::config::SERVE_AFTER_HELP)]
    Serve(Box<Config>),
    /// Manage organization members and their roles.
    Members {
        #[command(subcommand)]
        command: members::MembersCommand,
    },
    /// Print a bearer token signed with OAUTH_APPS_JWT_SECRET (development, scripts).
    Token(Box<token::TokenArgs>),
    /// Run against a private PostgreSQL cluster in a project folder (created on
    /// first use, reused after), with a demo organization and a ready token.
    Dev(Box<dev::DevArgs>),
    /// Ask a running server's gRPC health service; exit 0 only when it is
    /// SERVING (a container HEALTHCHECK, scripts).
    Health(health::HealthArgs),
    /// Print an organization's audit trail, oldest first.
    Audit(audit::AuditArgs),
    /// Follow a running server's changes to applications (WatchApplications
    /// over gRPC): one line of JSON an event, until Ctrl-C.
    Watch(Box<watch::WatchArgs>),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsArgs),
    /// Print the manual page (roff: `oauth-apps man | man -l -`), or write
    /// every command's page into a folder.
    Man(docs::ManArgs),
}

impl Cli {
    /// The command line (and the environment), or the process exits with
    /// clap's message.
    pub fn parse_args() -> Self {
        let matches = Self::command()
            .try_get_matches()
            .unwrap_or_else(|e| exit_naming_the_variable(e));
        let mut cli = Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        let given = database_url_given(&matches);
        match &mut cli.command {
            Some(Command::Members { command }) => command.database_mut().given = given,
            Some(Command::Audit(args)) => args.db.given = given,
            _ => {}
        }
        cli
    }

    /// `health`, which runs without telemetry.
    pub fn health(&self) -> Option<&health::HealthArgs> {
        match &self.command {
            Some(Command::Health(args)) => Some(args),
            _ => None,
        }
    }

    /// The command to run: `oauth-apps` alone serves, with settings from the
    /// environment.
    pub fn command_or_serve(self) -> Command {
        self.command.unwrap_or_else(|| {
            let serve = DefaultServe::try_parse_from(["oauth-apps"])
                .unwrap_or_else(|e| exit_naming_the_variable(e));
            Command::Serve(Box::new(serve.config))
        })
    }
}

/// Sets each secret given as a file (`DATABASE_URL_FILE`,
/// `OAUTH_APPS_JWT_SECRET_FILE`) as its variable, for every command to read
/// as if it had been set. Called first thing in `main`, before any thread.
pub fn secrets_from_files() -> Result<(), oauth_apps::config::Misconfigured> {
    for (name, value) in oauth_apps::config::secrets_from_files(|name| std::env::var_os(name))? {
        // SAFETY: no other thread exists yet (the runtime starts later), so
        // nothing reads the environment while it changes.
        unsafe { std::env::set_var(name, value) };
    }
    Ok(())
}

/// `oauth-apps` alone: serve, with settings from the environment.
#[derive(Parser)]
#[command(name = "oauth-apps")]
struct DefaultServe {
    #[command(flatten)]
    config: Config,
}

/// Exits with clap's error, naming the environment variable rather than the
/// flag when a bad value came from the environment: `OAUTH_APPS_LISTEN=x`
/// is about OAUTH_APPS_LISTEN, not about a `--listen` nobody typed.
fn exit_naming_the_variable(e: clap::Error) -> ! {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let kind = e.kind();
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.clone(),
        _ => e.exit(),
    };
    let flag = arg.split_whitespace().next().unwrap_or_default().to_owned();
    let typed = std::env::args().any(|a| a == flag || a.starts_with(&format!("{flag}=")));
    let variable = env_of(&Cli::command(), flag.trim_start_matches("--"));
    match variable {
        Some(var)
            if !typed
                && matches!(kind, ErrorKind::InvalidValue | ErrorKind::ValueValidation)
                && std::env::var_os(&var).is_some() =>
        {
            let said = e.to_string();
            let said = said.replace(
                &format!("'{arg}'"),
                &format!("the environment variable {var} (the setting {flag})"),
            );
            eprint!("{said}");
            std::process::exit(e.exit_code());
        }
        _ => e.exit(),
    }
}

/// The environment variable of the argument with this long name, in any
/// command.
fn env_of(command: &clap::Command, long: &str) -> Option<String> {
    let here = command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|v| v.to_string_lossy().into_owned());
    here.or_else(|| command.get_subcommands().find_map(|c| env_of(c, long)))
}

/// Whether the innermost command's `--database-url` was given (the flag or
/// DATABASE_URL), rather than left at its default.
fn database_url_given(matches: &ArgMatches) -> bool {
    let mut matches = matches;
    while let Some((_, sub)) = matches.subcommand() {
        matches = sub;
    }
    matches
        .try_get_raw("database_url")
        .is_ok_and(|v| v.is_some())
        && matches
            .value_source("database_url")
            .is_some_and(|s| s != clap::parser::ValueSource::DefaultValue)
}

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(config) => serve::run(*config).await,
        Command::Health(args) => health::run(&args).await,
        Command::Dev(args) => dev::run(*args).await,
        Command::Members { command } => members::run(command).await,
        Command::Audit(args) => audit::run(&args).await,
        Command::Watch(args) => watch::run(*args).await,
        Command::Token(args) => token::run(*args),
        Command::Completions(args) => docs::completions(&args),
        Command::Man(args) => docs::man(&args),
    }
}

/// The database of `members` and `audit`.
#[derive(clap::Args)]
pub struct CliDatabase {
    #[command(flatten)]
    db: DatabaseArgs,
    #[command(flatten)]
    dev: DevDirArgs,
    /// Whether the URL was given rather than defaulted (set after parsing).
    #[arg(skip)]
    given: bool,
}

impl CliDatabase {
    /// Connects: to the URL when given, else to the cluster of `oauth-apps
    /// dev` when OAUTH_APPS_DEV_DIR names its folder, else to the default
    /// URL; the database is created and migrated when needed.
    async fn connect(&self) -> anyhow::Result<diesel_async::AsyncPgConnection> {
        let (url, dev_dir) = match self.dev.dir() {
            Some(dir) if !self.given => (dev::database_url(dir)?, Some(dir)),
            _ => (self.db.database_url.clone(), None),
        };
        let connected = async {
            store::ensure_database(&url).await?;
            store::run_migrations(&url).await?;
            Ok(store::establish(&url).await?)
        }
        .await;
        match (connected, dev_dir) {
            (Err(e), Some(dir)) if unreachable(&e) => anyhow::bail!(
                "the dev server is not running; start `oauth-apps dev` (its folder: {})",
                dir.display()
            ),
            (connected, _) => connected,
        }
    }
}

/// Whether nothing answered (rather than a refusal by a running server).
fn unreachable(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<store::ConnectError>())
        .any(|c| c.transient)
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

/// argon2 allocates 19 MiB for every hash. glibc's dynamic mmap threshold
/// soon serves blocks that size from per-thread arenas and keeps them, so
/// every blocking thread that ever hashed would hold 19 MiB or more. A fixed
/// threshold hands them back to the OS, and an arena count tied to the cores
/// keeps the many blocking threads from growing arenas of their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune_allocator() {
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
pub fn tune_allocator() {}

/// Success; or the error's chain on stderr and a failure: 78 (EX_CONFIG
/// of sysexits.h) when a setting must change before a retry can succeed,
/// else 1.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if is_misconfiguration(&e) {
                ExitCode::from(oauth_apps::config::EXIT_MISCONFIGURED)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Whether the error is one that no retry mends: a setting refused, a
/// file that cannot be read, a database that refused us for good.
fn is_misconfiguration(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.is::<oauth_apps::config::Misconfigured>()
            || c.downcast_ref::<store::ConnectError>()
                .is_some_and(|c| !c.transient)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_given_database_url_wins_over_the_dev_folder() {
        let given = |args: &[&str]| {
            let matches = Cli::command().try_get_matches_from(args).unwrap();
            database_url_given(&matches)
        };
        let url = ["--database-url", "postgres://elsewhere/db"];
        for command in [
            &["oauth-apps", "members", "list", "--org", "o"][..],
            &["oauth-apps", "audit", "--org", "o"],
        ] {
            assert!(given(&[command, &url].concat()), "{command:?}");
            // Without the flag, only DATABASE_URL gives one.
            assert_eq!(
                given(command),
                std::env::var_os("DATABASE_URL").is_some(),
                "{command:?}"
            );
        }
        assert!(!given(&["oauth-apps", "health"]));
    }
}
