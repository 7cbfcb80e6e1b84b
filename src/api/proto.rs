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

    /// Key material is shown by size only.
    fn keys(s: &str) -> String {
        if s.is_empty() {
            String::new()
        } else {
            format!("<{} bytes>", s.len())
        }
    }

    impl fmt::Debug for Application {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Application")
                .field("id", &self.id)
                .field("organization_id", &self.organization_id)
                .field("name", &self.name)
                .field("description", &self.description)
                .field("type", &self.r#type)
                .field("redirect_uris", &self.redirect_uris)
                .field("scopes", &self.scopes)
                .field("client_id", &self.client_id)
                .field("client_secret_hint", &self.client_secret_hint)
                .field("active", &self.active)
                .field("first_party", &self.first_party)
                .field("created_by", &self.created_by)
                .field("create_time", &self.create_time)
                .field("update_time", &self.update_time)
                .field("delete_time", &self.delete_time)
                .field("etag", &self.etag)
                .field("grant_types", &self.grant_types)
                .field(
                    "token_endpoint_auth_method",
                    &self.token_endpoint_auth_method,
                )
                .field("jwks", &keys(&self.jwks))
                .field("client_uri", &self.client_uri)
                .field("logo_uri", &self.logo_uri)
                .field("policy_uri", &self.policy_uri)
                .field("tos_uri", &self.tos_uri)
                .field("contacts", &self.contacts)
                .finish()
        }
    }

    impl fmt::Debug for CreateApplicationRequest {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("CreateApplicationRequest")
                .field("name", &self.name)
                .field("description", &self.description)
                .field("type", &self.r#type)
                .field("redirect_uris", &self.redirect_uris)
                .field("scopes", &self.scopes)
                .field("active", &self.active)
                .field("first_party", &self.first_party)
                .field("grant_types", &self.grant_types)
                .field(
                    "token_endpoint_auth_method",
                    &self.token_endpoint_auth_method,
                )
                .field("jwks", &keys(&self.jwks))
                .field("client_uri", &self.client_uri)
                .field("logo_uri", &self.logo_uri)
                .field("policy_uri", &self.policy_uri)
                .field("tos_uri", &self.tos_uri)
                .field("contacts", &self.contacts)
                .finish()
        }
    }

    impl fmt::Debug for VerifyClientAssertionRequest {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("VerifyClientAssertionRequest")
                .field("client_assertion_type", &self.client_assertion_type)
                .field("client_assertion", &secret(&self.client_assertion))
                .field("client_id", &self.client_id)
                .finish()
        }
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
        let key = r#"{"keys":[{"kty":"EC","d":"private-part"}]}"#;
        let printed = format!(
            "{:?} {:?} {:?}",
            CreateApplicationRequest {
                jwks: key.into(),
                ..Default::default()
            },
            Application {
                jwks: key.into(),
                ..Default::default()
            },
            VerifyClientAssertionRequest {
                client_assertion: "eyJ.assertion.sig".into(),
                ..Default::default()
            },
        );
        assert!(!printed.contains("private-part"), "{printed}");
        assert!(!printed.contains("eyJ.assertion"), "{printed}");
    }
}
