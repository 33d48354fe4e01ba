//! Logging: tracing to stderr, as text or JSON, every record redacted (see [`crate::redact`]).

use std::io::Write;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;
use crate::redact::Redactor;

/// Installs the global subscriber, writing through [`Redactor::process`]. Safe to call more
/// than once (later calls do nothing).
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingWriter::new(std::io::stderr, Redactor::process()));
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Makes writers that hold each log record until it is complete, then write it to `inner`
/// with every secret redacted (a record is formatted whole before it is written, so a
/// secret is never split between two writes).
pub struct RedactingWriter<M> {
    inner: M,
    redactor: Redactor,
}

impl<M> RedactingWriter<M> {
    /// Writes records to writers `inner` makes, redacted with `redactor`.
    pub fn new(inner: M, redactor: Redactor) -> Self {
        Self { inner, redactor }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingWriter<M> {
    type Writer = RedactedRecord<'a, M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactedRecord {
            buf: Vec::new(),
            inner: self.inner.make_writer(),
            redactor: &self.redactor,
        }
    }
}

/// One log record on its way out: buffered, redacted and written when flushed or dropped.
pub struct RedactedRecord<'a, W: Write> {
    buf: Vec<u8>,
    inner: W,
    redactor: &'a Redactor,
}

impl<W: Write> RedactedRecord<'_, W> {
    fn emit(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.buf);
        let redacted = self.redactor.redact(&text);
        let result = self.inner.write_all(redacted.as_bytes());
        self.buf.clear();
        result
    }
}

impl<W: Write> Write for RedactedRecord<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.emit()?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for RedactedRecord<'_, W> {
    fn drop(&mut self) {
        // Nowhere to report a failed log write.
        let _ = self.emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn log_records_are_written_redacted_in_text_and_json() {
        let redactor = Redactor::default();
        redactor.add("hunter2hunter2");
        for json in [false, true] {
            let captured = Captured::default();
            let sink = captured.clone();
            let writer = RedactingWriter::new(move || sink.clone(), redactor.clone());
            let builder = tracing_subscriber::fmt().with_writer(writer);
            let log = || {
                tracing::error!(
                    error = "token hunter2hunter2 refused",
                    "it said hunter2hunter2"
                );
                tracing::warn!(debug = ?"a \"hunter2hunter2\"", "quoted");
            };
            if json {
                tracing::subscriber::with_default(builder.json().finish(), log);
            } else {
                tracing::subscriber::with_default(builder.finish(), log);
            }
            let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
            assert!(!out.contains("hunter2"), "{out}");
            assert_eq!(out.matches("[redacted]").count(), 3, "{out}");
        }
    }
}
