// Only the auth module makes permits and proofs: a struct literal cannot
// name their private fields, so an OWNER's permit, or a `Permitted` write,
// cannot be put together by hand.
use oauth_apps::{
    auth::{Permitted, ReadPermit, WritePermit},
    domain::update::AppUpdate,
};

fn forge(read: ReadPermit) -> WritePermit {
    WritePermit { read, owner: true }
}

fn forge_proof<'p>(update: AppUpdate) -> Permitted<'p, AppUpdate> {
    Permitted { scope: todo!(), target: update }
}

fn main() {}
