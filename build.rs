//! Build script: with the `silero` or `sherpa` feature, records where sherpa-onnx's shared
//! libraries are (`$SHERPA_LIB_PATH/lib`, set in .cargo/config.toml) as the binaries' rpath,
//! so `aicall` and its tests run without LD_LIBRARY_PATH.

fn main() {
    println!("cargo:rerun-if-env-changed=SHERPA_LIB_PATH");
    if std::env::var_os("CARGO_FEATURE_SILERO").is_none()
        && std::env::var_os("CARGO_FEATURE_SHERPA").is_none()
    {
        return;
    }
    if let Some(path) = std::env::var_os("SHERPA_LIB_PATH") {
        println!(
            "cargo:rustc-link-arg=-Wl,-rpath,{}/lib",
            std::path::Path::new(&path).display()
        );
    }
}
