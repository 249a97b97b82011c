//! GPU discovery for the CUDA execution provider (cargo feature `cuda`).
//!
//! cudarc loads the CUDA driver library at run time, so a `cuda` build runs on hosts without
//! it; there (or with no GPU) the engine falls back to the CPU with one warning.

use std::sync::Once;

/// A CUDA device and its memory, in bytes.
#[derive(Debug, Clone)]
pub struct GpuInfo {
    pub ordinal: usize,
    pub name: String,
    pub free_bytes: usize,
    pub total_bytes: usize,
}

/// The CUDA devices this process can use, or why there are none.
pub fn cuda_devices() -> Result<Vec<GpuInfo>, String> {
    // cudarc panics when the driver library cannot be loaded: turn that into an error.
    let found = std::panic::catch_unwind(|| -> Result<Vec<GpuInfo>, String> {
        use cudarc::driver::CudaContext;
        let count = CudaContext::device_count().map_err(|e| e.to_string())?;
        (0..count.max(0) as usize)
            .map(|ordinal| {
                let ctx = CudaContext::new(ordinal).map_err(|e| e.to_string())?;
                let (free_bytes, total_bytes) = ctx.mem_get_info().map_err(|e| e.to_string())?;
                Ok(GpuInfo {
                    ordinal,
                    name: ctx.name().map_err(|e| e.to_string())?,
                    free_bytes,
                    total_bytes,
                })
            })
            .collect()
    });
    match found {
        Ok(result) => result,
        Err(_) => Err("the CUDA driver library (libcuda.so) could not be loaded".into()),
    }
}

/// The device with the most free memory, or `None` (warning once) when there is none.
pub fn pick_device() -> Option<GpuInfo> {
    static WARNED: Once = Once::new();
    let devices = cuda_devices();
    let best = devices
        .as_ref()
        .ok()
        .and_then(|d| d.iter().max_by_key(|g| g.free_bytes).cloned());
    if best.is_none() {
        let why = match devices {
            Ok(_) => "no CUDA device found".to_string(),
            Err(e) => e,
        };
        WARNED.call_once(|| {
            tracing::warn!("GPU requested but unavailable ({why}); scoring on the CPU")
        });
    }
    best
}
