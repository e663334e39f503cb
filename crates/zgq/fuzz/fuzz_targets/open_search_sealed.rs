//! As `open_search`, with every checksum recomputed after the fuzzer's
//! mutation: the damage reaches the range checks of the header, the
//! section table and the metadata instead of stopping at a checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/it/hostile.rs"]
mod hostile;

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    hostile::reseal_all(&mut bytes);
    hostile::exercise(&bytes);
});
