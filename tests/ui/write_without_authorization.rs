// The store writes only what a permit authorized: a write the domain
// classified (perhaps as privileged) cannot be passed to the store as it is,
// nor with an ADMIN's permit beside it; only `WritePermit::authorize`, which
// refuses an ADMIN a privileged write, makes the `Permitted` the store takes.
use diesel_async::AsyncPgConnection;
use oauth_apps::{
    auth::WritePermit,
    domain::{Classified, update::AppUpdate},
    store,
};

async fn take_over(conn: &mut AsyncPgConnection, admin: &WritePermit, update: &Classified<AppUpdate>) {
    let _ = store::applications::update(conn, update).await;
    let _ = store::applications::update(conn, admin).await;
}

fn main() {}
