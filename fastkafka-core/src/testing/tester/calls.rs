//! Checks of what the app's functions sent and received, from the call record.

use std::fmt;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::failure::listed;
use super::Tester;
use crate::calls::Call;

impl Tester {
    /// What the app's function `function` sent (a `#[produces]` function) or received
    /// (a `#[consumes]` function) so far, in order.
    pub fn calls(&self, function: &str) -> Vec<Call> {
        self.recorder.calls_of(function)
    }

    /// Waits until the app's function `function` sent or received `expected`; panics
    /// after the timeout, listing what it did send or receive.
    pub async fn expect_called_with<T>(&self, function: &str, expected: &T) -> Call
    where
        T: DeserializeOwned + PartialEq + fmt::Debug + 'static,
    {
        let deadline = Instant::now() + self.timeout;
        loop {
            let calls = self.recorder.calls_of(function);
            if let Some(call) = calls
                .iter()
                .find(|c| c.message::<T>().is_ok_and(|m| m == *expected))
            {
                return call.clone();
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}",
                    self.failure(format!(
                        "expected `{function}` to be called with {expected:?} within {:?}; {}",
                        self.timeout,
                        if calls.is_empty() {
                            format!("it was not called{}", self.unknown_function(function))
                        } else {
                            format!("its calls:{}", listed(&calls))
                        }
                    ))
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Checks that the app's function `function` has not been called; panics with its
    /// calls otherwise, or when the app has no function of that name (a misspelt name
    /// must not pass).
    pub fn assert_not_called(&self, function: &str) {
        let unknown = self.unknown_function(function);
        if !unknown.is_empty() {
            panic!(
                "{}",
                self.failure(format!("cannot check `{function}`{unknown}"))
            );
        }
        let calls = self.recorder.calls_of(function);
        if !calls.is_empty() {
            panic!(
                "{}",
                self.failure(format!(
                    "expected `{function}` not to be called; its calls:{}",
                    listed(&calls)
                ))
            );
        }
    }

    /// A hint when `function` is none of the app's functions.
    fn unknown_function(&self, function: &str) -> String {
        let app = self.app();
        if app.functions().any(|f| f == function) {
            String::new()
        } else {
            let known: Vec<&str> = app.functions().collect();
            format!(
                " (the app has no function `{function}`; its functions: {})",
                known.join(", ")
            )
        }
    }
}
