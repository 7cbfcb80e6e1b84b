// Privileged data cannot be labelled ordinary: `Classified` has private
// fields, so a classification cannot be made by hand.
use oauth_apps::domain::{Classified, update::AppUpdate};

fn forge(update: AppUpdate) -> Classified<AppUpdate> {
    Classified { value: update, owner_only: None }
}

fn main() {}
