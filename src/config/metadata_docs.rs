//! The settings of Client ID Metadata Documents (`metadata_docs`).

use std::time::Duration;

use clap::Args;

use crate::metadata_docs::{DocumentSettings, ssrf::PrivateHosts};

/// Client ID Metadata Documents: `https` client_ids resolved by fetching
/// the document they name.
#[derive(Args, Clone, Debug)]
pub struct MetadataDocumentArgs {
    /// LookupClient, MatchRedirectUri and VerifyClientAssertion resolve a
    /// client_id that is an https URL with a path by fetching its Client ID
    /// Metadata Document (see the README for the rules and the SSRF defence).
    #[arg(long, env = "OAUTH_APPS_METADATA_DOCUMENTS", default_value_t = false, action = clap::ArgAction::Set)]
    pub metadata_documents: bool,

    /// Bound on one document fetch: connection, TLS, request and body (at
    /// most 60s).
    #[arg(long, env = "OAUTH_APPS_METADATA_DOCUMENT_TIMEOUT", value_parser = parse_timeout, default_value = "5s")]
    pub metadata_document_timeout: Duration,

    /// Shortest time a document is cached (also for `no-store`, `no-cache`,
    /// no `max-age`, and invalid documents); at least 1s.
    #[arg(long, env = "OAUTH_APPS_METADATA_DOCUMENT_MIN_TTL", value_parser = parse_ttl, default_value = "60s")]
    pub metadata_document_min_ttl: Duration,

    /// Longest time a document is cached, whatever its `max-age`; also how
    /// long the last good copy answers while its host is unreachable. Not
    /// below the min TTL.
    #[arg(long, env = "OAUTH_APPS_METADATA_DOCUMENT_MAX_TTL", value_parser = parse_ttl, default_value = "24h")]
    pub metadata_document_max_ttl: Duration,

    /// Hosts (names or IP literals, space or comma separated) whose
    /// documents may be fetched from loopback, private, link-local or other
    /// internal addresses. Default: none.
    #[arg(long, env = "OAUTH_APPS_METADATA_DOCUMENT_PRIVATE_HOSTS", value_parser = PrivateHosts::parse, default_value = "")]
    pub metadata_document_private_hosts: PrivateHosts,

    /// PEM CA certificate(s) trusted for document fetches besides the
    /// public web roots.
    #[arg(long, env = "OAUTH_APPS_METADATA_DOCUMENT_CA_FILE")]
    pub metadata_document_ca_file: Option<std::path::PathBuf>,
}

impl MetadataDocumentArgs {
    /// The resolver's settings, when documents are on.
    pub fn settings(&self) -> Option<DocumentSettings> {
        self.metadata_documents.then(|| DocumentSettings {
            timeout: self.metadata_document_timeout,
            min_ttl: self.metadata_document_min_ttl,
            max_ttl: self.metadata_document_max_ttl,
            private_hosts: self.metadata_document_private_hosts.clone(),
        })
    }
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() || d > Duration::from_secs(60) {
        return Err("must be more than 0 and at most 60s".into());
    }
    Ok(d)
}

fn parse_ttl(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d < Duration::from_secs(1) {
        return Err("must be at least 1s".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: MetadataDocumentArgs,
    }

    #[test]
    fn defaults_and_bounds() {
        let c = Cli::try_parse_from(["x"]).unwrap().args;
        assert!(!c.metadata_documents && c.settings().is_none());
        assert_eq!(c.metadata_document_timeout, Duration::from_secs(5));
        assert_eq!(c.metadata_document_min_ttl, Duration::from_secs(60));
        assert_eq!(c.metadata_document_max_ttl, Duration::from_secs(86_400));
        assert!(c.metadata_document_private_hosts.hosts().is_empty());
        let on = Cli::try_parse_from([
            "x",
            "--metadata-documents",
            "true",
            "--metadata-document-private-hosts",
            "docs.internal, localhost",
        ])
        .unwrap()
        .args;
        let s = on.settings().unwrap();
        assert_eq!(s.private_hosts.hosts(), ["docs.internal", "localhost"]);
        for bad in [
            ["--metadata-document-timeout", "0s"],
            ["--metadata-document-timeout", "2m"],
            ["--metadata-document-min-ttl", "500ms"],
            ["--metadata-document-private-hosts", "a/b"],
        ] {
            assert!(
                Cli::try_parse_from(["x", bad[0], bad[1]]).is_err(),
                "{bad:?}"
            );
        }
    }
}
