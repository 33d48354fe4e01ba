//! Log lines of this test binary, written the way `bosun serve` writes them (through the
//! redacting writer), captured for tests that check what bosun logs. One global subscriber
//! serves every test: each sees the lines of all tests running beside it, a superset of its
//! own, which is what "appears in no log line" needs.

use std::sync::{Arc, Mutex, OnceLock};

use bosun::redact::Redactor;
use bosun::telemetry::RedactingWriter;

static CAPTURED: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

/// The captured log lines so far; installs the capturing subscriber on first use.
pub fn captured() -> Arc<Mutex<Vec<u8>>> {
    CAPTURED
        .get_or_init(|| {
            #[derive(Clone)]
            struct Sink(Arc<Mutex<Vec<u8>>>);
            impl std::io::Write for Sink {
                fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                    self.0.lock().unwrap().extend_from_slice(bytes);
                    Ok(bytes.len())
                }
                fn flush(&mut self) -> std::io::Result<()> {
                    Ok(())
                }
            }
            let buf = Arc::new(Mutex::new(Vec::new()));
            let sink = Sink(buf.clone());
            tracing_subscriber::fmt()
                .with_env_filter("debug")
                .with_writer(RedactingWriter::new(
                    move || sink.clone(),
                    Redactor::process(),
                ))
                .try_init()
                .expect("no other code of this test binary installs a subscriber");
            buf
        })
        .clone()
}
