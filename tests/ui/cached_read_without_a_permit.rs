// The replica's application cache demands the same permits as the
// database's reads: an application by id only with a member's permit (and
// only of its organization), by client_id only with a service permit.
use oauth_apps::{
    auth::{ReadPermit, ServicePermit},
    domain::AppId,
    store::AppCache,
};

fn peek(cache: &AppCache, member: &ReadPermit, service: &ServicePermit, id: &AppId) {
    let _ = cache.by_id(id);
    let _ = cache.by_id(service, id);
    let _ = cache.by_client_id(member, "client");
}

fn main() {}
