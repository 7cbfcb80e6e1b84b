// Store functions demand the permit of their kind: a read permit cannot lock
// an application for a change, and an org permit cannot search across orgs.
use diesel_async::AsyncPgConnection;
use oauth_apps::{auth::ReadPermit, domain::AppId, store};

async fn sneak(conn: &mut AsyncPgConnection, member: &ReadPermit, id: &AppId) {
    let _ = store::applications::lock(conn, member, id).await;
    let _ = store::applications::find_by_client_id(conn, member, "client").await;
}

fn main() {}
