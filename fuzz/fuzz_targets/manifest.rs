#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cdn_fuzz::manifest(data));
