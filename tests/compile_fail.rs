//! The authorization rules the compiler enforces: a store call without the
//! right permit, or a privileged write with an ADMIN's permit, does not
//! compile. Each file in `tests/ui/` must fail to build with the error
//! recorded next to it (`TRYBUILD=overwrite cargo test --test compile_fail`
//! re-records them after a deliberate change).

#[test]
fn authorization_is_checked_by_the_compiler() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
