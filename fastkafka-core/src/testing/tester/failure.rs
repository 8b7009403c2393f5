//! Why a check failed, with the app's recent log lines.

use std::fmt;

use super::Tester;
use crate::calls::Call;

/// Why a [`Tester`] check failed: what was expected, what arrived instead, and the
/// app's recent log lines. Its `Debug` is the message itself, so that `.unwrap()`
/// prints it as it is.
pub struct TestFailure(pub(super) String);

impl fmt::Debug for TestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for TestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TestFailure {}

impl Tester {
    /// `message` with the app's recent log lines.
    pub(super) fn failure(&self, message: String) -> TestFailure {
        let lines = self.logs();
        let shown = lines.len().min(30);
        let mut text = message;
        text.push_str(&format!("\n  the app's last {shown} log lines:"));
        for line in &lines[lines.len() - shown..] {
            text.push_str("\n    ");
            text.push_str(line);
        }
        TestFailure(text)
    }
}

/// Calls for a failure message, one indented line each.
pub(super) fn listed(calls: &[Call]) -> String {
    calls
        .iter()
        .map(|c| format!("\n    {}", c.describe()))
        .collect()
}
