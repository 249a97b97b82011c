//! Which burn device the trainer computes on: CUDA GPU 0 when built with the `cuda` feature,
//! otherwise the flex CPU backend.

use burn::tensor::Device;

/// The compute device without autodiff (inference, evaluation).
pub fn compute_device() -> Device {
    #[cfg(feature = "cuda")]
    {
        Device::cuda(0)
    }
    #[cfg(not(feature = "cuda"))]
    {
        Device::flex()
    }
}

/// The compute device with autodiff enabled (training).
pub fn training_device() -> Device {
    compute_device().autodiff()
}
