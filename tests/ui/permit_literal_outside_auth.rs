// Only the auth module makes permits: a struct literal cannot name their
// private fields, so an OWNER's permit cannot be put together by hand.
use oauth_apps::auth::{OwnerPermit, ReadPermit, WritePermit};

fn forge(read: ReadPermit, owner: OwnerPermit) -> WritePermit {
    WritePermit { read, owner: Some(owner) }
}

fn main() {}
