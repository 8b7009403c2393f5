//! Macro misuse gets a compile error at the user's code that says what to write instead.
//! Each case in tests/ui has its expected message in the `.stderr` beside it.

#[test]
fn macro_misuse_is_reported_at_the_users_code() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
