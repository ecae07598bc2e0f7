//! Build script: with the `silero` or `sherpa` feature, records where sherpa-onnx's shared
//! libraries are (`$SHERPA_LIB_PATH/lib`, set in .cargo/config.toml) as the binaries' rpath,
//! so `aicall` and its tests run without LD_LIBRARY_PATH.
//!
//! Always: copies the dashboard's chart library (uPlot from npm, which
//! `scripts/setup.d/40-web.sh` unpacks into `.setup/web/uplot`) into `OUT_DIR/web`, where
//! `app::web` embeds it; without the set-up the files are empty and the dashboard says charts
//! need `scripts/setup`.

fn main() {
    web_assets();
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

/// The files of the npm package `uplot` the dashboard embeds.
const UPLOT_FILES: [&str; 2] = ["uPlot.iife.min.js", "uPlot.min.css"];

fn web_assets() {
    let root = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let Some(out) = std::env::var_os("OUT_DIR") else {
        return;
    };
    let out = std::path::Path::new(&out).join("web");
    let dist = root.join(".setup/web/uplot/dist");
    // Watch the set-up's folder when it is there; else `.setup` itself (it changes when the
    // set-up creates `web/`); a path that does not exist would rerun this on every build.
    let watch = [root.join(".setup/web"), root.join(".setup")]
        .into_iter()
        .find(|p| p.exists());
    if let Some(p) = watch {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    if let Err(e) = std::fs::create_dir_all(&out) {
        panic!("cannot create {}: {e}", out.display());
    }
    for name in UPLOT_FILES {
        let text = std::fs::read_to_string(dist.join(name)).unwrap_or_default();
        let dest = out.join(name);
        // Rewritten only when it changed, so the crate is not rebuilt for nothing.
        if std::fs::read_to_string(&dest).ok().as_deref() != Some(text.as_str()) {
            if let Err(e) = std::fs::write(&dest, text) {
                panic!("cannot write {}: {e}", dest.display());
            }
        }
    }
}
