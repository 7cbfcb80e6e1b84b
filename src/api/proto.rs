//! Code generated from `proto/oauthapps/v1/oauth_applications.proto`.
//!
//! The service is named `OAuthApplications`, which prost turns into modules
//! named `o_auth_applications_*`; the aliases below hide that.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("oauthapps.v1");
}

pub use v1::o_auth_applications_client::OAuthApplicationsClient;
pub use v1::o_auth_applications_server::{OAuthApplications, OAuthApplicationsServer};

/// The encoded descriptor set of the service and its imports, for reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("oauthapps_descriptor");

// Messages that carry a client secret get a `Debug` that redacts it (their
// derived `Debug` is switched off in build.rs, which lists them).
mod redacted_debug {
    use std::fmt;

    use super::v1::*;

    const REDACTED: &str = "<redacted>";

    fn secret(s: &str) -> &'static str {
        if s.is_empty() { "" } else { REDACTED }
    }

    impl fmt::Debug for CreateApplicationResponse {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("CreateApplicationResponse")
                .field("application", &self.application)
                .field("client_secret", &secret(&self.client_secret))
                .finish()
        }
    }

    impl fmt::Debug for RotateClientSecretResponse {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("RotateClientSecretResponse")
                .field("application", &self.application)
                .field("client_secret", &secret(&self.client_secret))
                .field(
                    "previous_secret_expire_time",
                    &self.previous_secret_expire_time,
                )
                .finish()
        }
    }

    impl fmt::Debug for VerifyClientCredentialsRequest {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("VerifyClientCredentialsRequest")
                .field("client_id", &self.client_id)
                .field("client_secret", &secret(&self.client_secret))
                .finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::v1::*;

    #[test]
    fn secret_bearing_messages_redact_their_secret() {
        let s = "oas_topsecretvalue";
        let printed = format!(
            "{:?} {:?} {:?}",
            CreateApplicationResponse {
                application: None,
                client_secret: s.into()
            },
            RotateClientSecretResponse {
                application: None,
                client_secret: s.into(),
                previous_secret_expire_time: None
            },
            VerifyClientCredentialsRequest {
                client_id: "c".into(),
                client_secret: s.into()
            },
        );
        assert!(!printed.contains(s), "{printed}");
        assert!(printed.contains("<redacted>"));
    }
}
