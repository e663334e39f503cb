//! Any bytes: `from_bytes` gives a typed error or an index; an index
//! answers searches (possibly wrongly, if damaged), reports its stats and
//! `verify` returns — never a panic or an abort.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/it/hostile.rs"]
mod hostile;

fuzz_target!(|data: &[u8]| hostile::exercise(data));
