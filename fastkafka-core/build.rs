//! Compiles the C shim that gives the embedded broker (librdkafka's mock cluster) a
//! default partition count, a CreateTopics API and no silent retention.

fn main() {
    println!("cargo:rerun-if-changed=csrc/mock_cluster.c");
    // rdkafka-sys (links = "rdkafka") exports the directory librdkafka was built in.
    let root = std::env::var("DEP_RDKAFKA_ROOT")
        .expect("rdkafka-sys did not export DEP_RDKAFKA_ROOT; fastkafka needs librdkafka built from source (the default)");
    cc::Build::new()
        .file("csrc/mock_cluster.c")
        .include(&root)
        .include(format!("{root}/src"))
        .warnings(false)
        .compile("fastkafka_mock_cluster");
}
