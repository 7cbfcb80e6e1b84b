//! How much authority a write needs, as a type.
//!
//! The domain's rules classify every write (a new app, an update, a deletion,
//! a rotation) as [`Ordinary`] or [`Privileged`] by looking at the data, and
//! hand it out only wrapped in [`Checked`], whose constructor is private to
//! the domain. The store's write functions take a `Checked<K, _>` together
//! with a permit that authorizes `K` (see `auth::permit`), so writing a
//! privileged app with an ADMIN's permit does not compile, and there is no
//! way to label privileged data ordinary.

use std::marker::PhantomData;

/// Any OWNER or ADMIN may make this write.
#[derive(Debug)]
pub enum Ordinary {}

/// Only an OWNER may make this write.
#[derive(Debug)]
pub enum Privileged {}

/// Why a write needs an OWNER.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerOnly {
    /// The app is privileged already: first_party, or holding an owner-only
    /// scope, so it carries an OWNER's grant.
    PrivilegedApp,
    /// The write sets first_party.
    SetsFirstParty,
    /// The write grants this owner-only scope.
    GrantsScope(String),
}

/// `T`, classified by the domain's rules as needing authority `K`.
#[derive(Debug)]
pub struct Checked<K, T> {
    value: T,
    level: PhantomData<fn() -> K>,
}

impl<K, T> Checked<K, T> {
    pub fn get(&self) -> &T {
        &self.value
    }
}

/// A write and the authority it needs.
#[derive(Debug)]
pub enum Classified<T> {
    Ordinary(Checked<Ordinary, T>),
    Privileged(Checked<Privileged, T>, OwnerOnly),
}

impl<T> Classified<T> {
    /// Only the domain classifies.
    pub(super) fn new(value: T, owner_only: Option<OwnerOnly>) -> Self {
        match owner_only {
            None => Self::Ordinary(Checked {
                value,
                level: PhantomData,
            }),
            Some(why) => Self::Privileged(
                Checked {
                    value,
                    level: PhantomData,
                },
                why,
            ),
        }
    }

    pub fn get(&self) -> &T {
        match self {
            Self::Ordinary(c) => c.get(),
            Self::Privileged(c, _) => c.get(),
        }
    }

    /// Why an OWNER is needed, if one is.
    pub fn owner_only(&self) -> Option<&OwnerOnly> {
        match self {
            Self::Ordinary(_) => None,
            Self::Privileged(_, why) => Some(why),
        }
    }
}
