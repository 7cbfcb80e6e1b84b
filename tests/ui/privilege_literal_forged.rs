// Privileged data cannot be labelled ordinary: `Checked` has private
// fields, so a `Checked<Ordinary, _>` cannot be made by hand.
use oauth_apps::domain::{Checked, Ordinary, update::AppUpdate};

fn forge(update: AppUpdate) -> Checked<Ordinary, AppUpdate> {
    Checked { value: update, level: std::marker::PhantomData }
}

fn main() {}
