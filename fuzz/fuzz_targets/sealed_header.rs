#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cdn_fuzz::sealed_header(data));
