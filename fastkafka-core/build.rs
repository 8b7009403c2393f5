//! With the `embedded` feature (the default), compiles the C shim that gives the
//! embedded broker (librdkafka's mock cluster) a default partition count, a
//! CreateTopics API and no silent retention. Without it, does nothing.

fn main() {
    #[cfg(feature = "embedded")]
    compile_mock_cluster_shim();
}

#[cfg(feature = "embedded")]
fn compile_mock_cluster_shim() {
    println!("cargo:rerun-if-changed=csrc/mock_cluster.c");
    // rdkafka-sys (links = "rdkafka") exports the directory librdkafka was built in,
    // from its default from-source build (and its static-prebuilt one), not from
    // `cmake-build` or `dynamic-linking`.
    let root = std::env::var("DEP_RDKAFKA_ROOT").expect(
        "rdkafka-sys did not export DEP_RDKAFKA_ROOT, which the embedded broker's C shim needs: \
         it builds against librdkafka's source tree, which rdkafka's `cmake-build` and \
         `dynamic-linking` features do not provide; with either, turn off fastkafka-core's \
         `embedded` feature (`default-features = false`)",
    );
    cc::Build::new()
        .file("csrc/mock_cluster.c")
        .include(&root)
        .include(format!("{root}/src"))
        .warnings(false)
        .compile("fastkafka_mock_cluster");
}
