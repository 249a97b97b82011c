//! screener-onnx: writes ONNX model files with our own code (burn's exporter does not lower
//! 3D convolutions). It owns the protobuf messages of the ONNX schema that we use and a graph
//! builder; it knows nothing about our networks (model-export does) or about running models
//! (the daemon's engine does, with ONNX Runtime).

pub mod builder;
pub mod layers;
pub mod proto;

use std::path::Path;

use prost::Message;

pub use builder::{Attr, Dim, GraphBuilder, IR_VERSION, OPSET};
pub use proto::ModelProto;

/// Serialises a model to the bytes of an `.onnx` file.
pub fn encode(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// Parses the bytes of an `.onnx` file (used by tests and to inspect bundles).
pub fn decode(bytes: &[u8]) -> Result<ModelProto, prost::DecodeError> {
    ModelProto::decode(bytes)
}

/// Writes a model to `path`.
pub fn write(model: &ModelProto, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, encode(model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_round_trips_through_its_bytes() {
        let mut g = GraphBuilder::new("tiny");
        let x = g.input("x", &[Dim::named("batch"), Dim::Fixed(3)]);
        let w = g.initializer("w", &[3], &[1.0, 2.0, 3.0]);
        let y = g.node("Mul", &[&x, &w], vec![], None);
        let y = g.node("Sigmoid", &[&y], vec![Attr::int("unused", 1)], None);
        g.output(&y, "y", &[Dim::named("batch"), Dim::Fixed(3)]);
        let model = g.finish("test", &[("kind", "unit-test")]);
        let back = decode(&encode(&model)).unwrap();
        assert_eq!(back, model);
        let graph = back.graph.unwrap();
        assert_eq!(graph.node.len(), 3);
        assert_eq!(graph.node[2].op_type, "Identity");
        assert_eq!(graph.output[0].name, "y");
        assert_eq!(graph.initializer[0].raw_data.len(), 12);
        assert_eq!(back.opset_import[0].version, OPSET);
    }
}
