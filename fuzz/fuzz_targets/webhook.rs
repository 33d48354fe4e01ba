//! Webhook payloads: any bytes, under any event bosun handles, parse or fail without a panic.
//! The first byte picks the event; the rest is the payload.

#![no_main]

use bosun::github::webhook::{HANDLED_EVENTS, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((pick, payload)) = data.split_first() else {
        return;
    };
    let event = HANDLED_EVENTS
        .get(usize::from(*pick) % HANDLED_EVENTS.len())
        .copied()
        .unwrap_or("ping");
    let _ = parse(event, payload);
});
