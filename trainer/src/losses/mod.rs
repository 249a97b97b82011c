//! The dense SSL objectives of `docs/METHOD.md` on positive descriptor pairs `[N, C]`:
//! VICReg with its expander and InfoNCE with its projector, plus the choice between them.
//! The heads are trained with the descriptor (or condition) model and dropped afterwards.

mod infonce;
mod mlp;
mod vicreg;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub use infonce::{info_nce_loss, l2_normalise, InfoNceConfig, InfoNceProjector};
pub use mlp::{HiddenLayer, RowMlp};
pub use vicreg::{vicreg_loss, VicregConfig, VicregExpander, VicregTerms, ViewReduction};

/// Which objective trains a dense SSL stage. TOML: `kind = "vicreg"` (the default when `kind`
/// is left out, see [`objective_with_default_kind`]) or `kind = "info_nce"` next to that
/// objective's keys. Paper: VICReg (slightly better in its Table 4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ObjectiveConfig {
    Vicreg(VicregConfig),
    InfoNce(InfoNceConfig),
}

/// Reads an [`ObjectiveConfig`] whose table may leave out `kind` (VICReg then), so that
/// `--set ssl.objective.expander_dims=...` alone works like any other key.
pub fn objective_with_default_kind<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<ObjectiveConfig, D::Error> {
    let mut table = toml::Table::deserialize(deserializer)?;
    table
        .entry("kind")
        .or_insert_with(|| toml::Value::String("vicreg".into()));
    ObjectiveConfig::deserialize(table).map_err(serde::de::Error::custom)
}

impl Default for ObjectiveConfig {
    fn default() -> Self {
        ObjectiveConfig::Vicreg(VicregConfig::default())
    }
}

impl ObjectiveConfig {
    /// The same objective for descriptors of `channels` channels.
    pub fn with_input_channels(&self, channels: usize) -> Self {
        match self {
            ObjectiveConfig::Vicreg(c) => ObjectiveConfig::Vicreg(VicregConfig {
                input_channels: channels,
                ..c.clone()
            }),
            ObjectiveConfig::InfoNce(c) => ObjectiveConfig::InfoNce(InfoNceConfig {
                input_channels: channels,
                ..c.clone()
            }),
        }
    }

    pub fn init(&self, device: &Device) -> SslHead {
        match self {
            ObjectiveConfig::Vicreg(c) => SslHead::Vicreg(c.init(device)),
            ObjectiveConfig::InfoNce(c) => SslHead::InfoNce(c.init(device)),
        }
    }
}

/// The trainable head of the objective.
#[derive(Module, Debug)]
pub enum SslHead {
    Vicreg(VicregExpander),
    InfoNce(InfoNceProjector),
}

/// A loss and its named parts (each `[1]`).
pub struct ObjectiveTerms {
    pub loss: Tensor<1>,
    pub terms: Vec<(&'static str, Tensor<1>)>,
}

impl SslHead {
    /// The objective on positive pairs `y1[n]`, `y2[n]` (`[N, C]` descriptors).
    ///
    /// # Panics
    /// When the head and `cfg` are of different objectives.
    pub fn objective(&self, y1: Tensor<2>, y2: Tensor<2>, cfg: &ObjectiveConfig) -> ObjectiveTerms {
        let ratio = ("positive_distance_ratio", positive_distance_ratio(&y1, &y2));
        let mut out = self.loss_terms(y1, y2, cfg);
        out.terms.push(ratio);
        out
    }

    fn loss_terms(&self, y1: Tensor<2>, y2: Tensor<2>, cfg: &ObjectiveConfig) -> ObjectiveTerms {
        match (self, cfg) {
            (SslHead::Vicreg(expander), ObjectiveConfig::Vicreg(c)) => {
                let t = vicreg_loss(expander.forward(y1), expander.forward(y2), c);
                ObjectiveTerms {
                    loss: t.loss,
                    terms: vec![
                        ("invariance", t.invariance),
                        ("variance", t.variance),
                        ("covariance", t.covariance),
                    ],
                }
            }
            (SslHead::InfoNce(projector), ObjectiveConfig::InfoNce(c)) => {
                let loss =
                    info_nce_loss(projector.forward(y1), projector.forward(y2), c.temperature);
                ObjectiveTerms {
                    loss: loss.clone(),
                    terms: vec![("info_nce", loss)],
                }
            }
            _ => panic!("the SSL head was built for another objective than {cfg:?}"),
        }
    }
}

/// How close positive pairs are against other pairs of the batch, in the network's own
/// output space: `mean ||y1[n] - y2[n]||^2 / mean ||y1[n] - y2[n + 1]||^2` (rows shifted by
/// one, wrapping round). About 1 while the network has not learnt correspondences, towards 0
/// as it does; the objectives' own terms do not show this (VICReg's invariance falls as well
/// when the embeddings shrink). A diagnostic: no gradient flows through it.
pub fn positive_distance_ratio(y1: &Tensor<2>, y2: &Tensor<2>) -> Tensor<1> {
    let [n, _] = y2.dims();
    let (y1, y2) = (y1.clone().detach(), y2.clone().detach());
    let others = Tensor::cat(
        vec![y2.clone().narrow(0, 1, n - 1), y2.clone().narrow(0, 0, 1)],
        0,
    );
    let positive = (y1.clone() - y2).square().mean();
    let other = (y1 - others).square().mean();
    positive / other.clamp_min(1e-12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_positive_distance_ratio_compares_pairs_with_shifted_pairs() {
        use crate::models::test_util::{device, to_vec};
        use burn::tensor::TensorData;
        let dev = device();
        let rows = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [3, 1]), &dev);
        let y1 = rows(&[0.0, 1.0, 3.0]);
        // Positives 0.5 apart; shifted pairs (0, 1.5), (1, 3.5), (3, 0.5) are 1.5, 2.5, 2.5.
        let y2 = rows(&[0.5, 1.5, 3.5]);
        let ratio = to_vec(positive_distance_ratio(&y1, &y2))[0];
        let expected = 0.25 / ((1.5f32 * 1.5 + 2.5 * 2.5 + 2.5 * 2.5) / 3.0);
        assert!((ratio - expected).abs() < 1e-6, "{ratio} vs {expected}");
        assert_eq!(to_vec(positive_distance_ratio(&y1, &y1))[0], 0.0);
    }

    #[test]
    fn objective_is_chosen_by_its_kind_and_rejects_unknown_keys() {
        let v: ObjectiveConfig =
            serde_json::from_str(r#"{"kind": "vicreg", "expander_dims": [64, 64]}"#).unwrap();
        match v {
            ObjectiveConfig::Vicreg(c) => {
                assert_eq!(c.expander_dims, vec![64, 64]);
                assert_eq!(c.variance_weight, 25.0);
            }
            other => panic!("{other:?}"),
        }
        let i: ObjectiveConfig =
            serde_json::from_str(r#"{"kind": "info_nce", "temperature": 0.2}"#).unwrap();
        assert!(matches!(i, ObjectiveConfig::InfoNce(c) if c.temperature == 0.2));
        let bad = serde_json::from_str::<ObjectiveConfig>(r#"{"kind": "vicreg", "epsilom": 1}"#);
        assert!(bad.unwrap_err().to_string().contains("epsilom"));
    }
}
