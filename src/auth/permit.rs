//! Typed proof that the auth layer let a call through. Fields are private and
//! constructors crate-private, so only the layer can make one.

use crate::domain::Role;

/// The caller may act in `org` with `role`; every query of an org-scoped
/// handler is scoped by [`OrgPermit::org`].
#[derive(Clone, Debug)]
pub struct OrgPermit {
    org: String,
    role: Role,
    subject: String,
}

impl OrgPermit {
    pub(crate) fn new(org: String, role: Role, subject: String) -> Self {
        Self { org, role, subject }
    }

    pub fn org(&self) -> &str {
        &self.org
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn subject(&self) -> &str {
        &self.subject
    }

    pub fn is_owner(&self) -> bool {
        self.role == Role::Owner
    }
}

/// The caller holds the service scope needed for a cross-organization service
/// method such as VerifyClientCredentials.
#[derive(Clone, Debug)]
pub struct ServicePermit {
    subject: String,
}

impl ServicePermit {
    pub(crate) fn new(subject: String) -> Self {
        Self { subject }
    }

    pub fn subject(&self) -> &str {
        &self.subject
    }
}
