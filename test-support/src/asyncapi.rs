//! The official AsyncAPI parser (`@asyncapi/parser` on Node.js) as a check for the
//! tests: [`validate`] runs `asyncapi-validator/validate.mjs` of this crate over files.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder of the parser's `package.json`, `package-lock.json` and `validate.mjs`;
/// `.ci/setup` installs its `node_modules` (`npm ci --prefix` this folder).
pub fn validator_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("asyncapi-validator")
}

/// Runs the official parser over `files` and panics unless each is valid AsyncAPI
/// 3.0.0 with no error diagnostic (the report is in the message); panics with the
/// install command when Node.js or the parser is missing.
pub fn validate(files: &[PathBuf]) {
    let validator = validator_dir();
    let install = "npm ci --prefix test-support/asyncapi-validator";
    assert!(
        validator.join("node_modules/@asyncapi/parser").is_dir(),
        "the AsyncAPI parser is not installed: run `{install}` (needs Node.js 20+)"
    );
    let out = Command::new("node")
        .arg(validator.join("validate.mjs"))
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): install Node.js 20+, then `{install}`"));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in files {
        assert!(
            report.contains(&format!("{}: VALID (3.0.0)", file.display())),
            "{report}"
        );
    }
    let errors: Vec<&str> = report.lines().filter(|l| l.contains(": error ")).collect();
    assert!(errors.is_empty(), "{report}");
}
