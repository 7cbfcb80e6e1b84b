//! How much authority a write needs, decided by the domain's rules.
//!
//! The rules classify every write (a new app, an update, a deletion, a
//! rotation) by looking at the data, and hand it out only as a
//! [`Classified`] value, whose constructor is private to the domain: there is
//! no way to label privileged data ordinary. A permit (`auth::permit`) turns
//! a classified write into the proof the store's write functions demand,
//! refusing an ADMIN for a privileged one.

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

/// A write and the authority it needs: any OWNER or ADMIN, or (with the
/// reason) only an OWNER.
#[derive(Debug)]
pub struct Classified<T> {
    value: T,
    owner_only: Option<OwnerOnly>,
}

impl<T> Classified<T> {
    /// Only the domain classifies.
    pub(in crate::domain) fn new(value: T, owner_only: Option<OwnerOnly>) -> Self {
        Self { value, owner_only }
    }

    /// For the permit's unit tests, which have no domain rule at hand.
    #[cfg(test)]
    pub(crate) fn for_test(value: T, owner_only: Option<OwnerOnly>) -> Self {
        Self::new(value, owner_only)
    }

    pub fn get(&self) -> &T {
        &self.value
    }

    /// Why an OWNER is needed, if one is.
    pub fn owner_only(&self) -> Option<&OwnerOnly> {
        self.owner_only.as_ref()
    }

    /// The write, once authorized; only `auth::permit` takes it apart.
    pub(crate) fn into_parts(self) -> (T, Option<OwnerOnly>) {
        (self.value, self.owner_only)
    }
}
