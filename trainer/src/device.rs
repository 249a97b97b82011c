//! Which burn device the trainer computes on: CUDA GPU 0 when built with the `cuda` feature;
//! with `vulkan`, burn's default device (the first Vulkan GPU, or whatever `BURN_DEVICE`
//! names, e.g. `BURN_DEVICE=flex` for the CPU); otherwise the flex CPU backend.

use burn::tensor::Device;

/// The compute device without autodiff (inference, evaluation).
pub fn compute_device() -> Device {
    #[cfg(feature = "cuda")]
    {
        Device::cuda(0)
    }
    #[cfg(all(feature = "vulkan", not(feature = "cuda")))]
    {
        Device::default()
    }
    #[cfg(not(any(feature = "cuda", feature = "vulkan")))]
    {
        Device::flex()
    }
}

/// The compute device with autodiff enabled (training).
pub fn training_device() -> Device {
    compute_device().autodiff()
}
