//! The uniffi bindings generator, built from the same uniffi version as the
//! library so that the generated Kotlin and Swift match its scaffolding.

fn main() {
    uniffi::uniffi_bindgen_main()
}
