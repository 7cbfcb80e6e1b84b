//! The server's TLS files, read and checked at start-up: each file that
//! cannot be read, holds no PEM of the right kind, or does not go with the
//! others fails with a sentence that names its setting, before the server
//! listens (tonic would only find out at the first handshake, or say
//! `transport error`).

use std::{path::Path, sync::Arc};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};

use crate::config::{Config, Misconfigured, read_setting_file};

/// PEM contents for TLS, read once at start-up. `Debug` prints no key.
#[derive(Clone)]
pub struct TlsMaterial {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
    pub client_ca: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("mutual", &self.client_ca.is_some())
            .finish_non_exhaustive()
    }
}

const CERT: &str = "OAUTH_APPS_TLS_CERT";
const KEY: &str = "OAUTH_APPS_TLS_KEY";
const CLIENT_CA: &str = "OAUTH_APPS_TLS_CLIENT_CA";

/// The TLS material `config` names, when TLS is on, each file checked.
pub fn read_tls(config: &Config) -> Result<Option<TlsMaterial>, Misconfigured> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            let material = TlsMaterial {
                cert: read_setting_file(CERT, cert)?,
                key: read_setting_file(KEY, key)?,
                client_ca: config
                    .tls_client_ca
                    .as_deref()
                    .map(|ca| read_setting_file(CLIENT_CA, ca))
                    .transpose()?,
            };
            check(&material, cert, key, config.tls_client_ca.as_deref())?;
            Ok(Some(material))
        }
        (None, None) if config.tls_client_ca.is_some() => {
            Err(Misconfigured(format!("{CLIENT_CA} needs {CERT} and {KEY}")))
        }
        (None, None) => Ok(None),
        _ => Err(Misconfigured(format!("{CERT} and {KEY} go together"))),
    }
}

/// The certificates parse, the key parses and belongs to the first
/// certificate, and the client CA file holds at least one certificate.
fn check(
    tls: &TlsMaterial,
    cert_path: &Path,
    key_path: &Path,
    ca_path: Option<&Path>,
) -> Result<(), Misconfigured> {
    let bad = |what: String| Err(Misconfigured(what));
    let certs = certificates(&tls.cert, CERT, cert_path)?;
    let key = match PrivateKeyDer::from_pem_slice(&tls.key) {
        Ok(key) => key,
        Err(e) => {
            return bad(format!(
                "{KEY} {} holds no usable PEM private key ({e})",
                key_path.display()
            ));
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let matched = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Misconfigured(format!("TLS set-up: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key);
    match matched {
        Ok(_) => {}
        Err(rustls::Error::InconsistentKeys(_)) => {
            return bad(format!(
                "{KEY} {} is not the key of the certificate in {CERT} {}: give the key the \
                 certificate was issued for",
                key_path.display(),
                cert_path.display()
            ));
        }
        Err(e) => {
            return bad(format!(
                "{CERT} {} and {KEY} {} cannot serve TLS: {e}",
                cert_path.display(),
                key_path.display()
            ));
        }
    }
    if let (Some(ca), Some(path)) = (&tls.client_ca, ca_path) {
        certificates(ca, CLIENT_CA, path)?;
    }
    Ok(())
}

/// The PEM certificates of a file, at least one.
fn certificates(
    pem: &[u8],
    setting: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, Misconfigured> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            Misconfigured(format!(
                "{setting} {} is not valid PEM ({e})",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Misconfigured(format!(
            "{setting} {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(certs)
}
