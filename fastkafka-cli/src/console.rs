//! The CLI's own lines on stdout and stderr.
//!
//! `println!` panics when its stream is gone: `fastkafka run ... | head -n 2` closes
//! the supervisor's stdout, and a panic there would leave its workers running. These
//! write each line in one call and drop the error instead: a reader that went away
//! changes nothing about what the CLI does.

use std::io::Write;

/// One line on stdout, flushed at once.
pub(crate) fn out(line: &str) {
    write_line(std::io::stdout().lock(), line);
}

/// One line on stderr.
pub(crate) fn err(line: &str) {
    write_line(std::io::stderr().lock(), line);
}

fn write_line(mut stream: impl Write, line: &str) {
    let mut buf = String::with_capacity(line.len() + 1);
    buf.push_str(line);
    buf.push('\n');
    let _ = stream
        .write_all(buf.as_bytes())
        .and_then(|()| stream.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream whose reader left.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn a_closed_stream_is_not_a_panic() {
        write_line(
            Closed,
            "Starting process cleanup, this may take a few seconds...",
        );
    }
}
