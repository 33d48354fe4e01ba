//! Comments: any text parses into a command, an error or nothing, without a panic; and a
//! parsed command's words are what the parser promises (dirs inside the repository).

#![no_main]

use bosun::command::{Parsed, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let names = ["bosun".to_owned(), "atlantis".to_owned()];
    if let Parsed::Command(c) = parse(text, &names, "bosun-app") {
        for d in &c.dirs {
            assert!(
                !d.starts_with('/') && !d.split('/').any(|s| s == ".."),
                "{d}"
            );
        }
    }
});
