#![no_main]
// The body is atelier_core::fuzzing::request_json (replayed over corpus/request_json by core's tests).
libfuzzer_sys::fuzz_target!(|data: &[u8]| atelier_core::fuzzing::request_json(data));
