//! `oauth-apps members`: who belongs to an organization, with which role.

use clap::Subcommand;
use oauth_apps::{domain::Role, store};

use super::{CliDatabase, printable};

#[derive(Subcommand)]
pub enum MembersCommand {
    /// Add a member or change their role.
    Set {
        /// The organization's id (what callers send as x-organization-id).
        #[arg(long)]
        org: String,
        /// The user's id: the `sub` of their tokens.
        #[arg(long)]
        user: String,
        /// The role to give.
        #[arg(long, value_parser = role_parser(), ignore_case = true)]
        role: Role,
        #[command(flatten)]
        db: CliDatabase,
    },
    /// Remove a member.
    Remove {
        /// The organization's id.
        #[arg(long)]
        org: String,
        /// The user's id (the `sub` of their tokens).
        #[arg(long)]
        user: String,
        #[command(flatten)]
        db: CliDatabase,
    },
    /// List an organization's members.
    List {
        /// The organization's id.
        #[arg(long)]
        org: String,
        #[command(flatten)]
        db: CliDatabase,
    },
}

impl MembersCommand {
    pub(super) fn database_mut(&mut self) -> &mut CliDatabase {
        match self {
            Self::Set { db, .. } | Self::Remove { db, .. } | Self::List { db, .. } => db,
        }
    }
}

/// owner, admin or member (any case), listed in `--help`, completions and
/// the manual page.
fn role_parser() -> impl clap::builder::TypedValueParser<Value = Role> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser as _};
    PossibleValuesParser::new([
        PossibleValue::new("owner").help("manages apps, grants admin scopes, first-party apps"),
        PossibleValue::new("admin").help("manages apps that hold no privileged grant"),
        PossibleValue::new("member").help("reads apps"),
    ])
    .map(|s| Role::parse(&s).expect("one of the possible values"))
}

pub async fn run(mut command: MembersCommand) -> anyhow::Result<()> {
    let mut conn = command.database_mut().connect().await?;
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
