#![no_main]
// The body is atelier_core::fuzzing::signature (replayed over corpus/signature by core's tests).
libfuzzer_sys::fuzz_target!(|data: &[u8]| atelier_core::fuzzing::signature(data));
