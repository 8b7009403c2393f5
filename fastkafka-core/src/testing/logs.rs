//! The log lines of each [`Tester`](super::Tester)'s app, kept for its failure
//! messages. Every task of a Tester's app runs in a `fastkafka_tester{id}` span; a
//! tracing layer files each event under the id of the span it happens in.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::sync::LockUnpoisoned;

/// How many lines are kept per Tester.
const KEPT: usize = 200;

/// The name of the span a Tester's app runs in.
pub(crate) const SPAN: &str = "fastkafka_tester";

/// Lines by Tester id.
fn lines() -> &'static Mutex<HashMap<u64, VecDeque<String>>> {
    static LINES: OnceLock<Mutex<HashMap<u64, VecDeque<String>>>> = OnceLock::new();
    LINES.get_or_init(Default::default)
}

/// Whether the layer is installed (a global subscriber of the test's own hides it).
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Installs the test logger (as [`capture_logs`](super::capture_logs) does) with the
/// layer that keeps each Tester's lines, once per process.
pub(crate) fn install() {
    INSTALLED.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("fastkafka=debug,librdkafka=warn")
        });
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_test_writer()
                    .with_ansi(colour()),
            )
            .with(TesterLines)
            .with(filter)
            .try_init()
            .is_ok()
    });
}

/// Whether the captured lines are coloured: only when they go to a terminal (the test
/// harness prints them on stdout) and `NO_COLOR` is not set. Written to a file, a CI
/// log or a pipe, escape codes would only garble them.
fn colour() -> bool {
    use std::io::IsTerminal;
    let no_color = matches!(std::env::var_os("NO_COLOR"), Some(v) if !v.is_empty());
    std::io::stdout().is_terminal() && !no_color
}

/// The last lines of Tester `id`'s app, oldest first.
pub(crate) fn recent(id: u64) -> Vec<String> {
    if INSTALLED.get() != Some(&true) {
        return vec!["(not captured: the test set its own global tracing subscriber)".to_string()];
    }
    lines()
        .lock_unpoisoned()
        .get(&id)
        .map(|l| l.iter().cloned().collect())
        .unwrap_or_default()
}

/// Forgets Tester `id`'s lines.
pub(crate) fn forget(id: u64) {
    lines().lock_unpoisoned().remove(&id);
}

struct TesterId(u64);

struct IdVisitor(Option<u64>);

impl Visit for IdVisitor {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "id" {
            self.0 = Some(value);
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

struct Line(String);

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

struct TesterLines;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for TesterLines {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != SPAN {
            return;
        }
        let mut visitor = IdVisitor(None);
        attrs.record(&mut visitor);
        if let (Some(tester), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().insert(TesterId(tester));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        let Some(tester) = scope
            .from_root()
            .find_map(|span| span.extensions().get::<TesterId>().map(|t| t.0))
        else {
            return;
        };
        let meta = event.metadata();
        let mut line = Line(format!("{} {}:", meta.level(), meta.target()));
        event.record(&mut line);
        let mut all = lines().lock_unpoisoned();
        let kept = all.entry(tester).or_default();
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back(line.0);
    }
}
