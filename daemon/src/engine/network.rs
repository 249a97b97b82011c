//! One ONNX network of a bundle, run by ONNX Runtime on float tensors.

use std::path::{Path, PathBuf};

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;
use screener_core::bundle::NetworkSpec;

use super::{EngineError, EngineOptions};

pub struct Network {
    path: PathBuf,
    session: Session,
    inputs: Vec<String>,
    output: String,
}

impl Network {
    /// Opens `path` and checks that the session has the inputs and output `spec` names.
    pub fn open(
        path: &Path,
        spec: &NetworkSpec,
        options: &EngineOptions,
    ) -> Result<Self, EngineError> {
        let err = |reason: String| EngineError::Network {
            path: path.to_owned(),
            reason,
        };
        let environment = super::runtime::environment()?;
        let mut builder = Session::builder(environment)
            .map_err(|e| err(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| err(e.to_string()))?
            .with_intra_threads(options.threads.max(1))
            .map_err(|e| err(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| err(e.to_string()))?
            // Patch shapes repeat, but planning memory per shape pre-allocates every
            // intermediate of the graph at once; without it peak memory is much lower.
            .with_memory_pattern(false)
            .map_err(|e| err(e.to_string()))?;
        #[cfg(feature = "cuda")]
        if let Some(gpu) = options.use_gpu.then(super::gpu::pick_device).flatten() {
            builder = builder
                .with_execution_providers([ort::ep::CUDA::default()
                    .with_device_id(gpu.ordinal as i32)
                    .build()])
                .map_err(|e| err(e.to_string()))?;
        }
        let session = builder
            .commit_from_file(path)
            .map_err(|e| err(e.to_string()))?;
        let have_in: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
        let have_out: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
        for t in &spec.inputs {
            if !have_in.contains(&t.name.as_str()) {
                return Err(err(format!(
                    "the graph has no input '{}' (it has {have_in:?})",
                    t.name
                )));
            }
        }
        let output = spec
            .outputs
            .first()
            .ok_or_else(|| err("the manifest names no output".into()))?
            .name
            .clone();
        if !have_out.contains(&output.as_str()) {
            return Err(err(format!(
                "the graph has no output '{output}' (it has {have_out:?})"
            )));
        }
        Ok(Self {
            path: path.to_owned(),
            inputs: spec.inputs.iter().map(|t| t.name.clone()).collect(),
            output,
            session,
        })
    }

    /// Runs the network on `inputs` (in the manifest's input order); returns its output.
    pub fn run(&mut self, inputs: &[ArrayViewD<f32>]) -> Result<ArrayD<f32>, EngineError> {
        let err = |reason: String| EngineError::Network {
            path: self.path.clone(),
            reason,
        };
        let mut values = Vec::with_capacity(inputs.len());
        for (name, array) in self.inputs.iter().zip(inputs) {
            let tensor =
                TensorRef::from_array_view(array.view()).map_err(|e| err(e.to_string()))?;
            values.push((name.as_str(), tensor));
        }
        let outputs = self.session.run(values).map_err(|e| err(e.to_string()))?;
        let (shape, data) = outputs[self.output.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| err(e.to_string()))?;
        let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        ArrayD::from_shape_vec(IxDyn(&dims), data.to_vec()).map_err(|e| err(e.to_string()))
    }
}
