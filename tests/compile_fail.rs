//! The authorization rules the compiler enforces: a store call or a cached
//! read without the right permit, a write without the `Permitted` proof that
//! only `WritePermit::authorize` gives (refusing an ADMIN a privileged
//! write), or a permit, proof or classification made by hand does not
//! compile. Each file in `tests/ui/` must fail to build with the error
//! recorded next to it (`TRYBUILD=overwrite cargo test --test compile_fail`
//! re-records them after a deliberate change).

#[test]
fn authorization_is_checked_by_the_compiler() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
