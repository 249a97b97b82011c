//! What a dense SSL stage trains: the descriptor or condition model together with the head of
//! its objective (expander or projector), as one module with one config, so that `fit`
//! checkpoints and resumes both. Only the model is kept as the stage's final network.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::losses::{ObjectiveConfig, SslHead};
use crate::models::{
    BlockMaskConfig, ConditionModel, ConditionModelConfig, DescriptorModel, DescriptorModelConfig,
    Network,
};

/// A network trained by dense SSL.
pub trait SslNetwork: Module {
    /// Full-resolution maps `[B, C, D1, D2, D3]` of crops `[B, 1, D1, D2, D3]`; `mask`
    /// (1 = hidden) is only given to networks trained with block masking.
    fn maps(&self, x: Tensor<5>, mask: Option<Tensor<5>>) -> Tensor<5>;
    fn head(&self) -> &SslHead;
}

#[derive(Module, Debug)]
pub struct DescriptorSsl {
    pub descriptor: DescriptorModel,
    pub head: SslHead,
}

#[derive(Module, Debug)]
pub struct ConditionSsl {
    pub condition: ConditionModel,
    pub head: SslHead,
}

impl SslNetwork for DescriptorSsl {
    fn maps(&self, x: Tensor<5>, mask: Option<Tensor<5>>) -> Tensor<5> {
        assert!(
            mask.is_none(),
            "the descriptor model is trained without masking"
        );
        self.descriptor.forward(x)
    }

    fn head(&self) -> &SslHead {
        &self.head
    }
}

impl SslNetwork for ConditionSsl {
    fn maps(&self, x: Tensor<5>, mask: Option<Tensor<5>>) -> Tensor<5> {
        self.condition.forward(x, mask)
    }

    fn head(&self) -> &SslHead {
        &self.head
    }
}

/// The config of an SSL network: what its stage trains it with.
pub trait SslNetworkConfig: Network {
    fn objective(&self) -> &ObjectiveConfig;
    /// The block masking of its inputs (the condition model only).
    fn masking(&self) -> Option<&BlockMaskConfig>;
}

impl SslNetworkConfig for DescriptorSslConfig {
    fn objective(&self) -> &ObjectiveConfig {
        &self.objective
    }
    fn masking(&self) -> Option<&BlockMaskConfig> {
        None
    }
}

impl SslNetworkConfig for ConditionSslConfig {
    fn objective(&self) -> &ObjectiveConfig {
        &self.objective
    }
    fn masking(&self) -> Option<&BlockMaskConfig> {
        Some(&self.masking)
    }
}

/// Descriptor model `f` plus objective head. The objective's input width is taken from the
/// descriptor's output channels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DescriptorSslConfig {
    pub descriptor: DescriptorModelConfig,
    pub objective: ObjectiveConfig,
}

/// Condition model `g` plus objective head; `masking` hides blocks of its input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConditionSslConfig {
    pub condition: ConditionModelConfig,
    pub objective: ObjectiveConfig,
    pub masking: BlockMaskConfig,
}

impl Config for DescriptorSslConfig {}
impl Config for ConditionSslConfig {}

impl DescriptorSslConfig {
    pub fn new(descriptor: DescriptorModelConfig, objective: &ObjectiveConfig) -> Self {
        let channels = descriptor.backbone.out_channels;
        Self {
            descriptor,
            objective: objective.with_input_channels(channels),
        }
    }
}

impl ConditionSslConfig {
    pub fn new(
        condition: ConditionModelConfig,
        objective: &ObjectiveConfig,
        masking: BlockMaskConfig,
    ) -> Self {
        let channels = condition.backbone.out_channels;
        Self {
            condition,
            objective: objective.with_input_channels(channels),
            masking,
        }
    }
}

impl Network for DescriptorSslConfig {
    type Model = DescriptorSsl;
    fn build(&self, device: &Device) -> DescriptorSsl {
        DescriptorSsl {
            descriptor: self.descriptor.init(device),
            head: self.objective.init(device),
        }
    }
}

impl Network for ConditionSslConfig {
    type Model = ConditionSsl;
    fn build(&self, device: &Device) -> ConditionSsl {
        ConditionSsl {
            condition: self.condition.init(device),
            head: self.objective.init(device),
        }
    }
}
