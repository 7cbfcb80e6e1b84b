// An ADMIN's permit cannot make a write the domain classified as privileged:
// only the OWNER's permit authorizes `Privileged`.
use diesel_async::AsyncPgConnection;
use oauth_apps::{
    auth::WritePermit,
    domain::{Checked, Privileged, update::AppUpdate},
    store,
};

async fn take_over(
    conn: &mut AsyncPgConnection,
    admin: &WritePermit,
    update: &Checked<Privileged, AppUpdate>,
) {
    let _ = store::applications::update(conn, admin, update).await;
}

fn main() {}
