//! `oauth-apps health`: asks a running server's `grpc.health.v1.Health/Check`
//! and succeeds only when the answer is SERVING, for a container's
//! HEALTHCHECK and for scripts on hosts without grpcurl. Any other answer,
//! no answer, or no answer in time is a failure with a one-line reason.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use anyhow::Context as _;
use clap::Args;
use oauth_apps::config::ServeAddressArgs;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// The running server a command speaks to over gRPC: its address and TLS.
#[derive(Args)]
pub struct ServerArgs {
    /// Server to ask, HOST:PORT (http://HOST:PORT too; https:// with --ca).
    /// Default: the address `serve` listens on (OAUTH_APPS_LISTEN), asked on
    /// loopback when it is 0.0.0.0 or [::].
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<String>,
    #[command(flatten)]
    serve: ServeAddressArgs,
    /// Speak TLS, trusting this PEM CA (for a server with OAUTH_APPS_TLS_CERT).
    #[arg(long, value_name = "PEM")]
    ca: Option<PathBuf>,
    /// Name the server's certificate must carry; default: the host of --addr.
    #[arg(long, requires = "ca")]
    tls_domain: Option<String>,
    /// Client certificate (PEM) for a server that requires one (mutual TLS).
    #[arg(long, value_name = "PEM", requires_all = ["ca", "key"])]
    cert: Option<PathBuf>,
    /// Key of --cert (PEM).
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<PathBuf>,
}

#[derive(Args)]
pub struct HealthArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Service whose status to ask; empty: the server as a whole.
    #[arg(long, default_value = "")]
    service: String,
    /// Longest wait for the answer, connecting included.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
    timeout: Duration,
}

impl ServerArgs {
    /// HOST:PORT to ask: --addr, or where `serve` listens, on loopback when
    /// it listens on every interface (nothing answers at 0.0.0.0).
    /// A URL's `http://` (plaintext) or, with --ca, `https://` is accepted
    /// too, as buf curl and tonic users write addresses.
    pub fn target(&self) -> anyhow::Result<String> {
        if let Some(addr) = &self.addr {
            let tls = self.ca.is_some();
            let bare = match addr.split_once("://") {
                None => addr.as_str(),
                Some(("http", rest)) if !tls => rest,
                Some(("https", rest)) if tls => rest,
                Some(("https", _)) => anyhow::bail!(
                    "--addr {addr:?}: a TLS server needs --ca (the CA that signed its certificate)"
                ),
                Some(_) => anyhow::bail!(
                    "--addr {addr:?}: give HOST:PORT{}",
                    if tls {
                        " or https://HOST:PORT"
                    } else {
                        " or http://HOST:PORT"
                    }
                ),
            };
            return Ok(bare.trim_end_matches('/').to_owned());
        }
        let listen = self.serve.listen;
        let ip = match listen.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        Ok(SocketAddr::new(ip, listen.port()).to_string())
    }

    /// The channel's endpoint at `target`, with TLS when --ca is given. No
    /// timeouts of tonic's own: the caller decides.
    pub fn endpoint(&self, target: &str) -> anyhow::Result<Endpoint> {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        let mut endpoint = Channel::from_shared(format!("{scheme}://{target}"))
            .with_context(|| format!("{target:?} is not HOST:PORT"))?;
        if let Some(ca) = &self.ca {
            let mut tls =
                ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read("--ca", ca)?));
            if let Some(domain) = &self.tls_domain {
                tls = tls.domain_name(domain);
            }
            if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
                tls = tls.identity(Identity::from_pem(
                    read("--cert", cert)?,
                    read("--key", key)?,
                ));
            }
            endpoint = endpoint.tls_config(tls)?;
        }
        Ok(endpoint)
    }

    /// The likeliest reason a call to a TLS server fails.
    pub fn hint(&self) -> &'static str {
        if self.ca.is_none() && self.serve.tls_cert.is_some() {
            " (OAUTH_APPS_TLS_CERT is set: a TLS server needs --ca)"
        } else {
            ""
        }
    }
}

/// Runs the check on a runtime of one thread: success only when SERVING.
pub fn run_blocking(args: &HealthArgs) -> std::process::ExitCode {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(run(args)));
    super::exit_code(result)
}

/// Prints the status; an error unless it is SERVING.
pub async fn run(args: &HealthArgs) -> anyhow::Result<()> {
    let server = &args.server;
    let target = server.target()?;
    let asked = tokio::time::timeout(args.timeout, check(args, &target)).await;
    let hint = server.hint();
    let status = match asked {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => match explain(server, &format!("{e:#}")) {
            Some(why) => anyhow::bail!("health check of {target} failed: {why}{hint}"),
            None => return Err(e.context(format!("health check of {target} failed{hint}"))),
        },
        Err(_) => anyhow::bail!(
            "health check of {target}: no answer within {}{hint}",
            humantime::format_duration(args.timeout)
        ),
    };
    println!("{}", status.as_str_name());
    anyhow::ensure!(
        status == ServingStatus::Serving,
        "{target} is {}",
        status.as_str_name()
    );
    Ok(())
}

async fn check(args: &HealthArgs, target: &str) -> anyhow::Result<ServingStatus> {
    let channel = args.server.endpoint(target)?.connect().await?;
    let request = HealthCheckRequest {
        service: args.service.clone(),
    };
    let response = HealthClient::new(channel)
        .check(request)
        .await
        .map_err(|s| anyhow::anyhow!(said(&s)))?;
    Ok(response.into_inner().status())
}

/// A status with its source's chain: the transport's reason (a TLS alert,
/// an HTTP/2 error) that [`explain`] reads.
pub fn said(s: &tonic::Status) -> String {
    let mut said = format!("{:?}: {}", s.code(), s.message());
    let mut source = std::error::Error::source(s);
    while let Some(cause) = source {
        said.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    said
}

/// A failed check in words, for the failures a person meets first: a TLS
/// server asked in plaintext, a CA that did not sign the server's
/// certificate, a client certificate missing. `None`: the error says it.
pub fn explain(args: &ServerArgs, said: &str) -> Option<String> {
    let has = |s: &str| said.contains(s);
    let ca = args.ca.as_deref().map(|p| p.display().to_string());
    Some(match &ca {
        None if [
            "h2 protocol error",
            "frame with invalid size",
            "broken pipe",
            "reset",
        ]
        .iter()
        .any(|s| has(s)) =>
        {
            "the server did not answer in plaintext gRPC: it likely speaks TLS; give --ca with \
             the PEM of the CA that signed its certificate (and --cert/--key when it requires \
             client certificates)"
                .to_owned()
        }
        Some(ca) if has("UnknownIssuer") => format!(
            "the server's certificate is not signed by --ca {ca}: give the CA that signed it"
        ),
        Some(_) if has("CaUsedAsEndEntity") => "the server's certificate is a CA certificate \
             (basicConstraints CA:TRUE, as `openssl req -x509` makes by default) used as a \
             server's own, which this client (webpki) refuses: issue the server a leaf \
             certificate from a CA, or add `-addext basicConstraints=critical,CA:FALSE` to \
             `openssl req -x509`"
            .to_owned(),
        Some(_) if has("NotValidForName") => "the server's certificate does not name the host \
             of --addr: give --tls-domain with a name it carries"
            .to_owned(),
        Some(_)
            if args.cert.is_none() && (has("CertificateRequired") || has("transport error")) =>
        {
            "the server requires a client certificate (mutual TLS): give --cert and --key, \
             signed by a CA in its OAUTH_APPS_TLS_CLIENT_CA"
                .to_owned()
        }
        Some(_) if has("transport error") || has("connection closed") => {
            "the server closed the connection after the TLS handshake: it likely refused the \
             client certificate of --cert, which must be signed by a CA in its \
             OAUTH_APPS_TLS_CLIENT_CA"
                .to_owned()
        }
        _ if has("Connection refused") => "nothing listens there (connection refused)".to_owned(),
        _ => return None,
    })
}

fn read(setting: &str, path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    Ok(oauth_apps::config::read_setting_file(setting, path)?)
}
