//! Running in the app: its state, and a function called directly ([`Tester::call`]).

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Notify;

use super::failure::TestFailure;
use super::Tester;
use crate::state::State;
use crate::tracking::{Outputs, Settled};

impl Tester {
    /// The app's state of type `T`, as its functions take it.
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<State<T>> {
        self.app().state::<T>()
    }

    /// Runs `task` as a task of the app (a producer function called in it sends
    /// through the app), and waits until every message it queued is acknowledged or
    /// failed: call a consumer function directly, as a unit test, with what it
    /// produces written to the Tester's broker and recorded (see
    /// [`Tester::calls`]). `Err` says which output failed.
    ///
    /// ```no_run
    /// # use fastkafka::prelude::*;
    /// # #[consumes] async fn on_greetings(msg: String) -> fastkafka::Result<()> { to_shouts(msg.to_uppercase()).await?; Ok(()) }
    /// # #[produces] async fn to_shouts(msg: String) -> String { msg }
    /// # async fn demo(tester: fastkafka::testing::Tester) {
    /// tester.call(on_greetings("hi".into())).await.unwrap().unwrap();
    /// tester.expect_called_with("to_shouts", &"HI".to_string()).await;
    /// # }
    /// ```
    pub async fn call<F: Future>(&self, task: F) -> std::result::Result<F::Output, TestFailure> {
        let wake = Arc::new(Notify::new());
        let outputs = Outputs::new(Arc::clone(&wake));
        let output = self.app().scope(outputs.scope(task)).await;
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let notified = wake.notified();
            match outputs.settled() {
                Settled::Acknowledged => return Ok(output),
                Settled::Failed(failure) => {
                    return Err(self.failure(format!(
                        "a message the call produced failed: {}",
                        failure.message
                    )))
                }
                Settled::Pending => {}
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(self.failure(format!(
                    "the messages the call produced were not acknowledged within {:?}",
                    self.timeout
                )));
            }
        }
    }
}
