//! Repo configs (`bosun.yaml`): any text parses or fails with a positioned error, without a
//! panic, and a config that parses goes through the powers check without one.

#![no_main]

use bosun::config::powers::{ServerPolicy, check};
use bosun::config::repo::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match parse("bosun.yaml", text) {
        Ok(config) => {
            let _ = check(&config, "acme/infra", &ServerPolicy::strict());
        }
        Err(e) => assert!(e.line >= 1 && e.col >= 1, "{e}"),
    }
});
