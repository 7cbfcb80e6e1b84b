//! Code generated from `proto/oauthapps/v1/oauth_applications.proto`.
//!
//! The service is named `OAuthApplications`, which prost turns into modules
//! named `o_auth_applications_*`; the aliases below hide that.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("oauthapps.v1");
    include!(concat!(env!("OUT_DIR"), "/oauthapps.v1.serde.rs"));
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
                .field("dynamically_registered", &self.dynamically_registered)
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

    impl fmt::Debug for CreateRegistrationTokenResponse {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("CreateRegistrationTokenResponse")
                .field("registration_token", &secret(&self.registration_token))
                .field("token", &self.token)
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
    use std::collections::BTreeSet;

    use prost::Message as _;

    use super::{FILE_DESCRIPTOR_SET, v1::*};

    /// The fields whose `Debug` must not show their value: a client secret,
    /// a client assertion, or key material (a `jwks` as a caller sent it may
    /// hold private keys).
    const REDACTED: &[(&str, &str)] = &[
        ("Application", "jwks"),
        ("CreateApplicationRequest", "jwks"),
        ("CreateApplicationResponse", "client_secret"),
        ("CreateRegistrationTokenResponse", "registration_token"),
        ("RotateClientSecretResponse", "client_secret"),
        ("VerifyClientAssertionRequest", "client_assertion"),
        ("VerifyClientCredentialsRequest", "client_secret"),
    ];

    /// Fields whose names look secret but that are not, and why.
    const NOT_SECRET: &[(&str, &str, &str)] = &[
        (
            "ListRegistrationTokensRequest",
            "page_token",
            "a signed position, not a credential",
        ),
        (
            "ListRegistrationTokensResponse",
            "next_page_token",
            "a signed position",
        ),
        (
            "Application",
            "client_secret_hint",
            "the last 4 characters, shown by design",
        ),
        (
            "ListApplicationsRequest",
            "page_token",
            "a signed position, not a credential",
        ),
        (
            "ListApplicationsResponse",
            "next_page_token",
            "a signed position",
        ),
        (
            "VerifyClientAssertionRequest",
            "client_assertion_type",
            "a fixed URN",
        ),
        (
            "WatchApplicationsRequest",
            "resume_token",
            "a signed feed position, not a credential",
        ),
        (
            "WatchApplicationsResponse",
            "resume_token",
            "a signed feed position",
        ),
    ];

    /// Words that make a field's name look like it holds something secret.
    const SECRET_WORDS: &[&str] = &[
        "secret",
        "token",
        "assertion",
        "jwk",
        "key",
        "password",
        "credential",
        "private",
    ];

    const PLANTED: &str = "PLANTED-SECRET-VALUE";

    /// Each redacted field holding `PLANTED`, printed with `Debug`.
    fn printed() -> Vec<((&'static str, &'static str), String)> {
        let s = || PLANTED.to_owned();
        vec![
            (
                ("CreateRegistrationTokenResponse", "registration_token"),
                format!(
                    "{:?}",
                    CreateRegistrationTokenResponse {
                        registration_token: s(),
                        ..Default::default()
                    }
                ),
            ),
            (
                ("Application", "jwks"),
                format!(
                    "{:?}",
                    Application {
                        jwks: s(),
                        ..Default::default()
                    }
                ),
            ),
            (
                ("CreateApplicationRequest", "jwks"),
                format!(
                    "{:?}",
                    CreateApplicationRequest {
                        jwks: s(),
                        ..Default::default()
                    }
                ),
            ),
            (
                ("CreateApplicationResponse", "client_secret"),
                format!(
                    "{:?}",
                    CreateApplicationResponse {
                        client_secret: s(),
                        ..Default::default()
                    }
                ),
            ),
            (
                ("RotateClientSecretResponse", "client_secret"),
                format!(
                    "{:?}",
                    RotateClientSecretResponse {
                        client_secret: s(),
                        ..Default::default()
                    }
                ),
            ),
            (
                ("VerifyClientAssertionRequest", "client_assertion"),
                format!(
                    "{:?}",
                    VerifyClientAssertionRequest {
                        client_assertion: s(),
                        ..Default::default()
                    }
                ),
            ),
            (
                ("VerifyClientCredentialsRequest", "client_secret"),
                format!(
                    "{:?}",
                    VerifyClientCredentialsRequest {
                        client_secret: s(),
                        ..Default::default()
                    }
                ),
            ),
        ]
    }

    #[test]
    fn secret_bearing_messages_redact_their_secret() {
        let printed = printed();
        for (field, shown) in &printed {
            assert!(
                !shown.contains(PLANTED),
                "{field:?} shows its value: {shown}"
            );
        }
        let covered: BTreeSet<_> = printed.iter().map(|(f, _)| *f).collect();
        let redacted: BTreeSet<_> = REDACTED.iter().copied().collect();
        assert_eq!(covered, redacted, "every redacted field is tried above");
    }

    /// A new field whose name looks secret fails here until it is redacted
    /// (build.rs's SECRET_BEARING, a hand-written `Debug` in this file, and
    /// the tables above) or listed as not secret, with the reason.
    #[test]
    fn every_field_that_looks_secret_is_redacted_or_explained() {
        let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
        let ours = set.file.iter().filter(|f| f.package() == "oauthapps.v1");
        let mut looks_secret = BTreeSet::new();
        for message in ours.flat_map(|f| &f.message_type) {
            for field in &message.field {
                use prost_types::field_descriptor_proto::Type;
                let holds_text = matches!(field.r#type(), Type::String | Type::Bytes);
                let name = field.name();
                if holds_text && SECRET_WORDS.iter().any(|w| name.contains(w)) {
                    looks_secret.insert((message.name().to_owned(), name.to_owned()));
                }
            }
        }
        assert!(!looks_secret.is_empty(), "the descriptor set was read");
        let known: BTreeSet<_> = REDACTED
            .iter()
            .copied()
            .chain(NOT_SECRET.iter().map(|(m, f, _)| (*m, *f)))
            .map(|(m, f)| (m.to_owned(), f.to_owned()))
            .collect();
        let unexplained: Vec<_> = looks_secret.difference(&known).collect();
        assert!(
            unexplained.is_empty(),
            "fields that look secret: {unexplained:?}"
        );
    }
}
