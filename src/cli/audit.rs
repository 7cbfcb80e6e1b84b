//! `oauth-apps audit`: an organization's audit trail, one event a line.

use clap::Args;
use oauth_apps::store;

use super::{CliDatabase, printable};

#[derive(Args)]
pub struct AuditArgs {
    /// The organization whose events to print.
    #[arg(long)]
    org: String,
    /// Only events of this application.
    #[arg(long)]
    app: Option<String>,
    /// The most recent N events.
    #[arg(long, default_value_t = 100)]
    limit: i64,
    #[command(flatten)]
    pub(super) db: CliDatabase,
}

pub async fn run(args: &AuditArgs) -> anyhow::Result<()> {
    let AuditArgs {
        org,
        app,
        limit,
        db,
    } = args;
    anyhow::ensure!(*limit > 0, "--limit must be positive");
    let mut conn = db.connect().await?;
    let events = store::audit::list(&mut conn, org, app.as_deref(), *limit).await?;
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
