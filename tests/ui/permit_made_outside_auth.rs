// Only the auth module makes permits: its constructors are private to it.
use oauth_apps::auth::ReadPermit;

fn main() {
    let _ = ReadPermit::new("victim-org".to_owned(), "mallory".to_owned());
}
