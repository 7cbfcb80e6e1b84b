//! Typed proof that the auth layer let a call through.
//!
//! Fields are private and constructors private to `auth`, so only the
//! authorizer makes a permit, after checking the caller's token and role:
//!
//! - [`ReadPermit`] (any member): the store's reads and the replica's
//!   application cache demand it, and answer only for its organization;
//! - [`WritePermit`] (OWNER or ADMIN): locks an application, and
//!   [authorizes](WritePermit::authorize) a write the domain classified,
//!   which yields the one proof the store's writes take, [`Permitted`]. An
//!   ADMIN's permit refuses a write the domain classified as needing an
//!   OWNER, and a classification is made only by the domain's rules;
//! - [`ServicePermit`]: a service scope, for the calls across
//!   organizations (VerifyClientCredentials and the like).
//!
//! Every query the store runs with a permit or a `Permitted` is scoped to its
//! organization.

use crate::domain::{Classified, OwnerOnly, Role};

/// The caller and the organization a permit is for.
#[derive(Clone, Debug)]
struct Scope {
    org: String,
    subject: String,
}

/// The caller is a member of the organization: they may read its apps.
#[derive(Clone, Debug)]
pub struct ReadPermit {
    scope: Scope,
}

/// The caller is an OWNER or ADMIN of the organization: they may create,
/// change and delete its apps, privileged ones only as an OWNER.
#[derive(Clone, Debug)]
pub struct WritePermit {
    read: ReadPermit,
    owner: bool,
}

/// A write the caller may make: what the store's write functions take.
#[derive(Debug)]
pub struct Permitted<'p, T> {
    scope: &'p Scope,
    target: T,
}

/// Why a call with a valid permit may still not make a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRequired(pub OwnerOnly);

impl ReadPermit {
    pub(super) fn new(org: String, subject: String) -> Self {
        Self {
            scope: Scope { org, subject },
        }
    }

    /// For other modules' unit tests.
    #[cfg(test)]
    pub(crate) fn for_test(org: &str, subject: &str) -> Self {
        Self::new(org.to_owned(), subject.to_owned())
    }

    pub fn org(&self) -> &str {
        &self.scope.org
    }

    pub fn subject(&self) -> &str {
        &self.scope.subject
    }
}

impl WritePermit {
    /// For a member whose role is at least ADMIN (the authorizer checked).
    pub(super) fn new(org: String, subject: String, role: Role) -> Self {
        Self {
            read: ReadPermit::new(org, subject),
            owner: role == Role::Owner,
        }
    }

    /// For a client that registers itself (RFC 7591) or manages its own
    /// registration (RFC 7592), in the organization its registration token,
    /// the open-registration setting or its registration access token names:
    /// an ADMIN's rights, so never a privileged write. Made only by
    /// `ops::dcr`, once that token was found live (a registration token,
    /// spent again in the registration's transaction) or bound to the
    /// client (a registration access token, compared and swapped again in
    /// the change's transaction), or for the open door's configured
    /// organization.
    pub(crate) fn for_registration(org: String, subject: String) -> Self {
        Self::new(org, subject, Role::Admin)
    }

    /// Writers may read.
    pub fn read(&self) -> &ReadPermit {
        &self.read
    }

    pub fn org(&self) -> &str {
        self.read.org()
    }

    pub fn subject(&self) -> &str {
        self.read.subject()
    }

    /// Whether this caller may make `write`: refused (with the domain's
    /// reason) when it needs an OWNER and the caller is an ADMIN. For a check
    /// before costly work; the write itself needs [`Self::authorize`].
    pub fn check<T>(&self, write: &Classified<T>) -> Result<(), OwnerRequired> {
        match write.owner_only() {
            Some(why) if !self.owner => Err(OwnerRequired(why.clone())),
            _ => Ok(()),
        }
    }

    /// The proof that this caller may make `write`, which the store takes.
    pub fn authorize<T>(&self, write: Classified<T>) -> Result<Permitted<'_, T>, OwnerRequired> {
        self.check(&write)?;
        let (target, _) = write.into_parts();
        Ok(Permitted {
            scope: &self.read.scope,
            target,
        })
    }
}

impl<T> Permitted<'_, T> {
    pub fn org(&self) -> &str {
        &self.scope.org
    }

    pub fn subject(&self) -> &str {
        &self.scope.subject
    }

    pub fn get(&self) -> &T {
        &self.target
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

    /// For other modules' unit tests.
    #[cfg(test)]
    pub(crate) fn for_test(subject: &str) -> Self {
        Self::new(subject.to_owned())
    }

    pub fn subject(&self) -> &str {
        &self.subject
    }
}

/// The caller may follow changes: of one organization (a member), or of
/// every organization (a token with the watch scope).
#[derive(Clone, Debug)]
pub enum WatchPermit {
    Org(ReadPermit),
    All(ServicePermit),
}

impl WatchPermit {
    /// The organization whose changes the caller may see; `None`: every one.
    pub fn org(&self) -> Option<&str> {
        match self {
            Self::Org(read) => Some(read.org()),
            Self::All(_) => None,
        }
    }

    pub fn subject(&self) -> &str {
        match self {
            Self::Org(read) => read.subject(),
            Self::All(service) => service.subject(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Classified;

    #[test]
    fn only_an_owner_authorizes_a_privileged_write() {
        let why = OwnerOnly::PrivilegedApp;
        let privileged = || Classified::for_test("app", Some(why.clone()));
        let owner = WritePermit::new("o".into(), "alice".into(), Role::Owner);
        let permitted = owner.authorize(privileged()).unwrap();
        assert_eq!((permitted.org(), permitted.subject()), ("o", "alice"));
        let admin = WritePermit::new("o".into(), "bob".into(), Role::Admin);
        assert_eq!(
            admin.authorize(privileged()).unwrap_err(),
            OwnerRequired(why)
        );
        let ordinary = admin.authorize(Classified::for_test("app", None)).unwrap();
        assert_eq!((*ordinary.get(), ordinary.subject()), ("app", "bob"));
        assert_eq!(admin.read().subject(), "bob");
    }
}
