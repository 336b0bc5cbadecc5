//! Gives liblp2p.so a versioned SONAME: `liblp2p.so.<major>` once 1.0 is out,
//! `liblp2p.so.0.<minor>` before (each 0.x minor may break the ABI).

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_else(|_| "0".into());
    let soname = if major == "0" { format!("liblp2p.so.0.{minor}") } else { format!("liblp2p.so.{major}") };
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" || target_os == "freebsd" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
