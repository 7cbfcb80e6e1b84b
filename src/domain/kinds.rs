//! The kinds of things the service names with enums: application types,
//! grant types, token endpoint auth methods and organization roles, with
//! their stored names; and how a request names one it may not know.

use strum::{Display, EnumString, IntoStaticStr};

/// An enum value as a request named it: known, or a number we do not know.
pub type Requested<T> = Result<T, i32>;

/// The kind of OAuth client (RFC 6749 section 2.1), which decides whether it
/// holds a secret and which redirect URIs it may register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, IntoStaticStr, EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum AppType {
    Web,
    Native,
    UserAgentBased,
    Service,
}

impl AppType {
    /// Confidential clients authenticate with a secret; public ones cannot keep one.
    pub fn is_confidential(self) -> bool {
        matches!(self, Self::Web | Self::Service)
    }

    pub fn as_db(self) -> &'static str {
        self.into()
    }

    pub fn from_db(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

/// A grant an application may use at the token endpoint (RFC 7591 section
/// 2). The implicit and password grants do not exist here (RFC 9700 2.1.2,
/// 2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, IntoStaticStr, EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    DeviceCode,
}

impl GrantType {
    pub fn as_db(self) -> &'static str {
        self.into()
    }

    pub fn from_db(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    /// `GRANT_TYPE_...`, as the contract names it in messages.
    pub fn contract_name(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "AUTHORIZATION_CODE",
            Self::RefreshToken => "REFRESH_TOKEN",
            Self::ClientCredentials => "CLIENT_CREDENTIALS",
            Self::DeviceCode => "DEVICE_CODE",
        }
    }
}

/// How an application authenticates at the token endpoint (RFC 7591
/// section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, IntoStaticStr, EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    None,
}

impl AuthMethod {
    pub fn as_db(self) -> &'static str {
        self.into()
    }

    pub fn from_db(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    /// Whether the application holds a client secret.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }

    /// The default of a type: a secret in Basic for confidential ones, none
    /// for public ones.
    pub fn default_for(t: AppType) -> Self {
        if t.is_confidential() {
            Self::ClientSecretBasic
        } else {
            Self::None
        }
    }
}

/// A member's role in an organization. Ordered: `Owner > Admin > Member`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, IntoStaticStr, EnumString, Display,
)]
#[strum(serialize_all = "snake_case", ascii_case_insensitive)]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_db(self) -> &'static str {
        self.into()
    }

    /// Parses the stored form and the CLI form alike (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    /// `OWNER`, `ADMIN`, `MEMBER`: how the contract and messages name it.
    pub fn upper(self) -> &'static str {
        match self {
            Self::Owner => "OWNER",
            Self::Admin => "ADMIN",
            Self::Member => "MEMBER",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Owner > Role::Admin);
        assert!(Role::Admin > Role::Member);
    }

    #[test]
    fn role_and_type_round_trip_their_stored_form() {
        let roles = [
            (Role::Owner, "owner", "OWNER"),
            (Role::Admin, "admin", "ADMIN"),
            (Role::Member, "member", "MEMBER"),
        ];
        for (r, stored, upper) in roles {
            assert_eq!(r.as_db(), stored);
            assert_eq!(r.upper(), upper);
            assert_eq!(Role::parse(stored), Some(r));
            assert_eq!(Role::parse(upper), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
        let types = [
            (AppType::Web, "web"),
            (AppType::Native, "native"),
            (AppType::UserAgentBased, "user_agent_based"),
            (AppType::Service, "service"),
        ];
        for (t, stored) in types {
            assert_eq!(t.as_db(), stored);
            assert_eq!(AppType::from_db(stored), Some(t));
        }
        assert_eq!(AppType::from_db("Web"), None, "stored names are exact");
    }

    #[test]
    fn grant_types_and_auth_methods_round_trip_their_stored_form() {
        for (g, stored) in [
            (GrantType::AuthorizationCode, "authorization_code"),
            (GrantType::RefreshToken, "refresh_token"),
            (GrantType::ClientCredentials, "client_credentials"),
            (GrantType::DeviceCode, "device_code"),
        ] {
            assert_eq!(g.as_db(), stored);
            assert_eq!(GrantType::from_db(stored), Some(g));
        }
        for (m, stored, secret) in [
            (AuthMethod::ClientSecretBasic, "client_secret_basic", true),
            (AuthMethod::ClientSecretPost, "client_secret_post", true),
            (AuthMethod::PrivateKeyJwt, "private_key_jwt", false),
            (AuthMethod::None, "none", false),
        ] {
            assert_eq!(m.as_db(), stored);
            assert_eq!(AuthMethod::from_db(stored), Some(m));
            assert_eq!(m.uses_secret(), secret);
        }
    }

    #[test]
    fn only_web_and_service_are_confidential() {
        assert!(AppType::Web.is_confidential());
        assert!(AppType::Service.is_confidential());
        assert!(!AppType::Native.is_confidential());
        assert!(!AppType::UserAgentBased.is_confidential());
    }
}
