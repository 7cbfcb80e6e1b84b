//! Typed proof that the auth layer let a call through.
//!
//! Fields are private and constructors private to `auth`, so only the
//! authorizer makes a permit, after checking the caller's token and role.
//! The store's functions take them:
//!
//! - [`ReadPermit`] (any member) to read an organization's applications;
//! - [`WritePermit`] (OWNER or ADMIN) to lock and change them;
//! - [`OwnerPermit`] (OWNER), which a `WritePermit` yields only for an
//!   OWNER, for writes the domain classified as privileged.
//!
//! [`Authorizes<K>`] says which permit may make a write classified `K` by the
//! domain (`domain::access`): an ADMIN's `WritePermit` authorizes only
//! [`Ordinary`] writes, so passing it with a [`Privileged`] one does not
//! compile. Every query the store runs with a permit is scoped to its
//! organization.

use crate::domain::{Ordinary, OwnerOnly, Privileged, Role};

/// The caller and the organization a permit is for.
#[derive(Clone, Debug)]
struct Scope {
    org: String,
    subject: String,
}

/// An organization and a caller: what every org-scoped permit names.
pub trait OrgScope: sealed::Sealed {
    fn org(&self) -> &str;
    fn subject(&self) -> &str;
}

/// Permits that may make a write the domain classified as needing `K`.
pub trait Authorizes<K>: OrgScope {}

mod sealed {
    pub trait Sealed {}
}

macro_rules! org_scoped {
    ($($t:ty => $($scope:ident).+),*) => {$(
        impl sealed::Sealed for $t {}
        impl OrgScope for $t {
            fn org(&self) -> &str {
                &self.$($scope).+.org
            }
            fn subject(&self) -> &str {
                &self.$($scope).+.subject
            }
        }
    )*};
}

/// The caller is a member of the organization: they may read its apps.
#[derive(Clone, Debug)]
pub struct ReadPermit {
    scope: Scope,
}

/// The caller is an OWNER or ADMIN of the organization: they may create,
/// change and delete its ordinary apps.
#[derive(Clone, Debug)]
pub struct WritePermit {
    read: ReadPermit,
    owner: Option<OwnerPermit>,
}

/// The caller is an OWNER of the organization: they may also make
/// privileged writes.
#[derive(Clone, Debug)]
pub struct OwnerPermit {
    scope: Scope,
}

org_scoped!(ReadPermit => scope, WritePermit => read.scope, OwnerPermit => scope);

impl Authorizes<Ordinary> for WritePermit {}
impl Authorizes<Ordinary> for OwnerPermit {}
impl Authorizes<Privileged> for OwnerPermit {}

/// Why a call with a valid permit may still not make a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRequired(pub OwnerOnly);

impl ReadPermit {
    pub(super) fn new(org: String, subject: String) -> Self {
        Self {
            scope: Scope { org, subject },
        }
    }
}

impl WritePermit {
    /// For a member whose role is at least ADMIN (the authorizer checked).
    pub(super) fn new(org: String, subject: String, role: Role) -> Self {
        let scope = Scope { org, subject };
        Self {
            read: ReadPermit {
                scope: scope.clone(),
            },
            owner: (role == Role::Owner).then_some(OwnerPermit { scope }),
        }
    }

    /// Writers may read.
    pub fn read(&self) -> &ReadPermit {
        &self.read
    }

    /// The OWNER's permit, for a write that needs one; refused (with the
    /// domain's reason) for an ADMIN.
    pub fn owner(&self, why: &OwnerOnly) -> Result<&OwnerPermit, OwnerRequired> {
        self.owner
            .as_ref()
            .ok_or_else(|| OwnerRequired(why.clone()))
    }
}

/// The caller holds the service scope needed for a cross-organization service
/// method such as VerifyClientCredentials.
#[derive(Clone, Debug)]
pub struct ServicePermit {
    subject: String,
}

impl ServicePermit {
    pub(super) fn new(subject: String) -> Self {
        Self { subject }
    }

    pub fn subject(&self) -> &str {
        &self.subject
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_owner_gets_the_owner_permit() {
        let why = OwnerOnly::PrivilegedApp;
        let owner = WritePermit::new("o".into(), "alice".into(), Role::Owner);
        assert_eq!(owner.owner(&why).unwrap().org(), "o");
        let admin = WritePermit::new("o".into(), "bob".into(), Role::Admin);
        assert_eq!(admin.owner(&why).unwrap_err(), OwnerRequired(why));
        assert_eq!(admin.read().subject(), "bob");
    }
}
