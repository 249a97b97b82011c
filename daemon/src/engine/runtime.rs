//! Finds and loads the ONNX Runtime shared library (ort's `load-dynamic`), once per process.
//!
//! The library comes from the pinned PyPI wheel, put in `runtime/onnxruntime/` by
//! `scripts/fetch-onnxruntime.sh`. It is looked for, in order: `$ORT_DYLIB_PATH`; next to the
//! executable; `runtime/onnxruntime/` above the executable (a `target/*/` build of this
//! repository); and the same folder of the source tree the binary was built from.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use thiserror::Error;

const LIBRARY: &str = "libonnxruntime.so";
const FETCH_COMMAND: &str = "scripts/fetch-onnxruntime.sh";

#[derive(Debug, Clone, Error)]
pub enum RuntimeError {
    #[error(
        "the ONNX Runtime library ({LIBRARY}) was not found (looked in: {looked}). \
         Run `{FETCH_COMMAND}` from the repository root to install it, \
         or set ORT_DYLIB_PATH to its path"
    )]
    NotFound { looked: String },
    #[error("cannot load ONNX Runtime from {path}: {reason}")]
    Load { path: PathBuf, reason: String },
}

static RUNTIME: OnceLock<Result<Loaded, RuntimeError>> = OnceLock::new();

/// Loads ONNX Runtime if not done yet; returns the path it was loaded from.
pub fn ensure_runtime() -> Result<&'static Path, RuntimeError> {
    loaded().map(|(_, path)| path.as_path())
}

/// The process's ONNX Runtime environment, loading the library first if needed.
pub fn environment() -> Result<&'static ort::environment::Environment, RuntimeError> {
    loaded().map(|(env, _)| env)
}

type Loaded = (ort::environment::Environment, PathBuf);

fn loaded() -> Result<&'static Loaded, RuntimeError> {
    RUNTIME
        .get_or_init(|| {
            let path = locate()?;
            let load_error = |reason: String| RuntimeError::Load {
                path: path.clone(),
                reason,
            };
            let env = ort::init_from(&path)
                .map_err(|e| load_error(e.to_string()))?
                .with_name("screener")
                .build()
                .map_err(|e| load_error(e.to_string()))?;
            tracing::debug!(path = %path.display(), "ONNX Runtime loaded");
            Ok((env, path))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The candidate locations, in the order they are tried.
pub fn candidates() -> Vec<PathBuf> {
    let mut list = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        list.push(PathBuf::from(p));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            list.push(dir.join(LIBRARY));
            for up in dir.ancestors().skip(1).take(3) {
                list.push(up.join("runtime/onnxruntime").join(LIBRARY));
            }
        }
    }
    list.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../runtime/onnxruntime")
            .join(LIBRARY),
    );
    list
}

fn locate() -> Result<PathBuf, RuntimeError> {
    let list = candidates();
    list.iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| RuntimeError::NotFound {
            looked: list
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}
