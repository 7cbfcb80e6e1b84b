//! Application types and organization roles.

use std::fmt;

/// The kind of OAuth client (RFC 6749 §2.1), which decides whether it holds a
/// secret and which redirect URIs it may register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
        match self {
            Self::Web => "web",
            Self::Native => "native",
            Self::UserAgentBased => "user_agent_based",
            Self::Service => "service",
        }
    }

    pub fn from_db(s: &str) -> Option<Self> {
        Some(match s {
            "web" => Self::Web,
            "native" => Self::Native,
            "user_agent_based" => Self::UserAgentBased,
            "service" => Self::Service,
            _ => return None,
        })
    }
}

/// A member's role in an organization. Ordered: `Owner > Admin > Member`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_db(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    /// Parses the stored form and the CLI form alike (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "owner" => Self::Owner,
            "admin" => Self::Admin,
            "member" => Self::Member,
            _ => return None,
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_db())
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
        for r in [Role::Owner, Role::Admin, Role::Member] {
            assert_eq!(Role::parse(r.as_db()), Some(r));
        }
        assert_eq!(Role::parse("OWNER"), Some(Role::Owner));
        assert_eq!(Role::parse("root"), None);
        for t in [
            AppType::Web,
            AppType::Native,
            AppType::UserAgentBased,
            AppType::Service,
        ] {
            assert_eq!(AppType::from_db(t.as_db()), Some(t));
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
