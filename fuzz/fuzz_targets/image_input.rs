#![no_main]
// The body is atelier_core::fuzzing::image_input (replayed over corpus/image_input by core's tests).
libfuzzer_sys::fuzz_target!(|data: &[u8]| atelier_core::fuzzing::image_input(data));
