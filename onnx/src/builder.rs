//! A small builder for ONNX graphs: named inputs and outputs with fixed or dynamic axes,
//! float initialisers, and nodes whose output names are generated.

use crate::proto::{
    AttributeProto, AttributeType, DataType, DimensionProto, DimensionValue, GraphProto,
    ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto,
};

/// ONNX IR version written (IR 8 goes with opsets up to 18, IR 9 up to 20).
pub const IR_VERSION: i64 = 8;
/// The default-domain opset our graphs are written against.
pub const OPSET: i64 = 17;

/// One axis of an input or output: a fixed size or a named dynamic size.
#[derive(Debug, Clone, PartialEq)]
pub enum Dim {
    Fixed(i64),
    Named(String),
}

impl Dim {
    pub fn named(name: &str) -> Self {
        Dim::Named(name.to_owned())
    }
}

/// A node attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Attr(AttributeProto);

impl Attr {
    pub fn int(name: &str, value: i64) -> Self {
        Attr(AttributeProto {
            name: name.to_owned(),
            r#type: AttributeType::Int as i32,
            i: value,
            ..Default::default()
        })
    }

    pub fn ints(name: &str, values: &[i64]) -> Self {
        Attr(AttributeProto {
            name: name.to_owned(),
            r#type: AttributeType::Ints as i32,
            ints: values.to_vec(),
            ..Default::default()
        })
    }

    pub fn float(name: &str, value: f32) -> Self {
        Attr(AttributeProto {
            name: name.to_owned(),
            r#type: AttributeType::Float as i32,
            f: value,
            ..Default::default()
        })
    }

    pub fn string(name: &str, value: &str) -> Self {
        Attr(AttributeProto {
            name: name.to_owned(),
            r#type: AttributeType::String as i32,
            s: value.as_bytes().to_vec(),
            ..Default::default()
        })
    }
}

/// Builds one graph; `finish` wraps it in a model.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    graph: GraphProto,
    counter: usize,
}

impl GraphBuilder {
    pub fn new(name: &str) -> Self {
        Self {
            graph: GraphProto {
                name: name.to_owned(),
                ..Default::default()
            },
            counter: 0,
        }
    }

    /// Declares a float input; returns its name for use as a node input.
    pub fn input(&mut self, name: &str, dims: &[Dim]) -> String {
        self.graph.input.push(value_info(name, dims));
        name.to_owned()
    }

    /// Declares `value` (a node's output) as a float graph output called `name`.
    pub fn output(&mut self, value: &str, name: &str, dims: &[Dim]) {
        let value = if value == name {
            value.to_owned()
        } else {
            self.node("Identity", &[value], vec![], Some(name))
        };
        debug_assert_eq!(value, name);
        self.graph.output.push(value_info(name, dims));
    }

    /// Adds a float constant tensor; returns its name.
    pub fn initializer(&mut self, name: &str, dims: &[i64], values: &[f32]) -> String {
        debug_assert_eq!(dims.iter().product::<i64>() as usize, values.len());
        let mut raw = Vec::with_capacity(values.len() * 4);
        for v in values {
            raw.extend_from_slice(&v.to_le_bytes());
        }
        self.push_tensor(name, dims, DataType::Float, raw)
    }

    /// Adds an int64 constant tensor (shapes, axes); returns its name.
    pub fn initializer_i64(&mut self, name: &str, dims: &[i64], values: &[i64]) -> String {
        let mut raw = Vec::with_capacity(values.len() * 8);
        for v in values {
            raw.extend_from_slice(&v.to_le_bytes());
        }
        self.push_tensor(name, dims, DataType::Int64, raw)
    }

    fn push_tensor(&mut self, name: &str, dims: &[i64], t: DataType, raw: Vec<u8>) -> String {
        self.graph.initializer.push(TensorProto {
            dims: dims.to_vec(),
            data_type: t as i32,
            name: name.to_owned(),
            raw_data: raw,
        });
        name.to_owned()
    }

    /// Adds a node with one output and returns the output's name (`output_name`, or a
    /// generated one). An empty input name stands for an omitted optional input.
    pub fn node(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        attributes: Vec<Attr>,
        output_name: Option<&str>,
    ) -> String {
        self.counter += 1;
        let output = output_name
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}_{}", op_type.to_ascii_lowercase(), self.counter));
        self.graph.node.push(NodeProto {
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: vec![output.clone()],
            name: format!("{op_type}_{}", self.counter),
            op_type: op_type.to_owned(),
            attribute: attributes.into_iter().map(|a| a.0).collect(),
            ..Default::default()
        });
        output
    }

    /// Number of nodes so far.
    pub fn node_count(&self) -> usize {
        self.graph.node.len()
    }

    /// The finished model, with `metadata` as key/value properties.
    pub fn finish(self, producer_version: &str, metadata: &[(&str, &str)]) -> ModelProto {
        ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "screener".to_owned(),
            producer_version: producer_version.to_owned(),
            graph: Some(self.graph),
            metadata_props: metadata
                .iter()
                .map(|(k, v)| StringStringEntryProto {
                    key: (*k).to_owned(),
                    value: (*v).to_owned(),
                })
                .collect(),
            ..Default::default()
        }
    }
}

fn value_info(name: &str, dims: &[Dim]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| DimensionProto {
                            value: Some(match d {
                                Dim::Fixed(n) => DimensionValue::DimValue(*n),
                                Dim::Named(s) => DimensionValue::DimParam(s.clone()),
                            }),
                        })
                        .collect(),
                }),
            }),
        }),
        doc_string: String::new(),
    }
}
