//! Finding and loading the ONNX Runtime shared library.
//!
//! lore is built with `ort`'s `load-dynamic` feature so that nothing is downloaded at build
//! time; the library is installed from PyPI by `scripts/setup.sh`. This module finds it
//! without the user exporting paths by hand, and fails with an actionable message otherwise.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The ONNX Runtime version `ort` 2.0.0-rc.15 was written against.
pub const ORT_VERSION: &str = "1.31.1";

static LOADED: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();

/// Where `scripts/setup.sh` installs lore's private files (runtime and model copy).
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LORE_HOME") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(dir).join("lore");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".local/share/lore")
}

/// Every place lore looks for `libonnxruntime`, in order. Listed in error messages so a user
/// can see why none matched.
pub fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        out.push(PathBuf::from(p));
    }
    let lib = format!("libonnxruntime.so.{ORT_VERSION}");
    out.push(data_dir().join("onnxruntime/onnxruntime/capi").join(&lib));
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            out.push(dir.join(&lib));
            out.push(dir.join("lib").join(&lib));
        }
    }
    out
}

/// Loads ONNX Runtime once per process. Later calls return the first outcome, so a failure
/// is reported the same way everywhere.
pub fn ensure_loaded() -> Result<&'static Path> {
    let outcome = LOADED.get_or_init(|| {
        let tried = candidates();
        let Some(path) = tried.iter().find(|p| p.is_file()).cloned() else {
            let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
            return Err(format!(
                "libonnxruntime not found; looked in: {}",
                list.join(", ")
            ));
        };
        match ort::init_from(&path) {
            // The library is now loaded process-wide; sessions create their environment
            // lazily, so the builder itself is not needed.
            Ok(_builder) => Ok(path),
            Err(e) => Err(format!("could not load {}: {e}", path.display())),
        }
    });
    match outcome {
        Ok(p) => Ok(p.as_path()),
        Err(msg) => Err(Error::Runtime(msg.clone())),
    }
}
