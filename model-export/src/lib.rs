//! Screener export: writes trained burn modules as ONNX graphs into a model bundle.
//! Placeholder: the model-bundle issue builds it.
