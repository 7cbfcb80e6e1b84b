//! The access table of the OAuthApplications service: the one place that
//! says who may call which method, and which methods change state.
//!
//! A method that is not listed is refused: new methods are closed until
//! they are added here.

use super::{VERIFY_SCOPE, WATCH_SCOPE};

/// Path prefix of the methods the table covers. Other services on the same
/// server (health, reflection) are public by design.
pub const SERVICE_PATH_PREFIX: &str = "/oauthapps.v1.OAuthApplications/";

/// What a method demands of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Org-scoped read: any member of the `x-organization-id` organization.
    Read,
    /// Org-scoped change: an OWNER or ADMIN; counts against the caller's
    /// mutation rate limit, and the role is always read from the database.
    Write,
    /// Service call, not org-scoped: the token must carry this scope.
    Service(&'static str),
    /// With `x-organization-id`, as [`Access::Read`] (one organization);
    /// without it, as [`Access::Service`] with this scope (every one).
    ReadOrService(&'static str),
}

impl Access {
    pub fn is_mutating(self) -> bool {
        self == Self::Write
    }
}

/// Every method of the service and what it demands.
pub const METHODS: &[(&str, Access)] = &[
    ("CreateApplication", Access::Write),
    ("GetApplication", Access::Read),
    ("ListApplications", Access::Read),
    ("UpdateApplication", Access::Write),
    ("DeleteApplication", Access::Write),
    ("UndeleteApplication", Access::Write),
    ("RotateClientSecret", Access::Write),
    ("VerifyClientCredentials", Access::Service(VERIFY_SCOPE)),
    ("LookupClient", Access::Service(VERIFY_SCOPE)),
    ("MatchRedirectUri", Access::Service(VERIFY_SCOPE)),
    ("VerifyClientAssertion", Access::Service(VERIFY_SCOPE)),
    // Registration tokens let clients into the organization: managing
    // them (listing included) is an OWNER's or ADMIN's.
    ("CreateRegistrationToken", Access::Write),
    ("ListRegistrationTokens", Access::Write),
    ("RevokeRegistrationToken", Access::Write),
    // A member follows their organization's changes; a service with the
    // watch scope follows every organization's.
    ("WatchApplications", Access::ReadOrService(WATCH_SCOPE)),
];

/// What `method` (the name after the service path) demands; `None` for a
/// method the table does not know.
pub fn access_of(method: &str) -> Option<Access> {
    METHODS
        .iter()
        .find_map(|(name, access)| (*name == method).then_some(*access))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_follows_the_contract() {
        let writes: Vec<_> = METHODS
            .iter()
            .filter(|(_, a)| a.is_mutating())
            .map(|(m, _)| *m)
            .collect();
        assert_eq!(
            writes,
            [
                "CreateApplication",
                "UpdateApplication",
                "DeleteApplication",
                "UndeleteApplication",
                "RotateClientSecret",
                "CreateRegistrationToken",
                "ListRegistrationTokens",
                "RevokeRegistrationToken",
            ]
        );
        assert_eq!(access_of("GetApplication"), Some(Access::Read));
        assert_eq!(
            access_of("LookupClient"),
            Some(Access::Service(VERIFY_SCOPE))
        );
        assert_eq!(access_of("DropEverything"), None);
    }
}
