//! The app's wasm is split by route after linking (Leptos's lazy routes, `wasm-split-cli` in
//! `app/wasm-split-hook.sh`), which needs the linker's relocations kept. Only the final link of
//! the app's binary gets the flag: dependencies are not rebuilt.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-bins=--emit-relocs");
    }
}
