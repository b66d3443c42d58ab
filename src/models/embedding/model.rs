//! [`EmbeddingModel`]: the network with the sub-cluster AdaCos state it trains against (centres
//! `[classes * sub, dim]`, Glorot-uniform as Keras initialises them, and the adaptive scale),
//! saved and loaded as safetensors with the architecture in the metadata.

use std::collections::HashMap;
use std::path::Path;

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::kernels::fft::FftPath;
use crate::kernels::loss::sc_adacos_initial_scale;
use crate::nn::{Param, SeededInit};
use crate::tensor::Tensor;

use super::network::{Branches, EmbeddingNet, EmbeddingNetConfig};

/// `hark_model` of the checkpoints.
const MODEL_NAME: &str = "wilkinghoff_embedding";

/// Network, AdaCos centres and scale, and the class names the centres belong to.
pub struct EmbeddingModel {
    pub net: EmbeddingNet,
    /// `[classes * sub, dim]`, row `c * sub + k` is sub-cluster `k` of class `c`.
    pub centres: Param,
    /// The adaptive scale (1 element), updated on the GPU every training step.
    pub scale: Tensor,
    /// Class names (section, attributes, domain), in label order.
    pub classes: Vec<String>,
    pub sub_clusters: usize,
}

impl EmbeddingModel {
    /// A fresh model for `classes` with `sub_clusters` centres each (at least 2 centres in all).
    pub fn new(
        ctx: &Context,
        config: EmbeddingNetConfig,
        classes: Vec<String>,
        sub_clusters: usize,
        seed: u64,
    ) -> Result<Self> {
        let logits = classes.len() * sub_clusters;
        if logits < 2 {
            return Err(HarkError::invalid(
                "embedding",
                format!(
                    "{} classes x {sub_clusters} sub-clusters: AdaCos needs at least 2 centres",
                    classes.len()
                ),
            ));
        }
        let net = EmbeddingNet::new(ctx, config, seed)?;
        let dim = net.dim();
        // Keras's glorot_uniform on the [dim, classes * sub] weight of the reference's layer.
        let limit = (6.0 / (dim + logits) as f32).sqrt();
        let mut init = SeededInit::new(seed ^ 0x0ada_c05e);
        let centres = Param::new(
            ctx,
            "adacos.centres".to_string(),
            &[logits, dim],
            &init.uniform(logits * dim, limit),
        )?;
        let scale = Tensor::from_slice(
            ctx,
            &[1],
            &[sc_adacos_initial_scale(classes.len(), sub_clusters)],
        )?;
        Ok(Self {
            net,
            centres,
            scale,
            classes,
            sub_clusters,
        })
    }

    pub(crate) fn tensors(&self) -> Vec<(String, &Tensor)> {
        let mut tensors = self.net.state_dict();
        tensors.push((self.centres.name.clone(), &self.centres.value));
        tensors.push(("adacos.scale".to_string(), &self.scale));
        tensors
    }

    /// Saves the model (atomically).
    pub fn save(&self, ctx: &Context, path: &Path) -> Result<()> {
        let config = self.net.config();
        let metadata = HashMap::from([
            ("hark_model".to_string(), MODEL_NAME.to_string()),
            ("samples".to_string(), config.samples.to_string()),
            ("branches".to_string(), config.branches.name().to_string()),
            (
                "temporal_norm".to_string(),
                config.temporal_norm.to_string(),
            ),
            ("sub_clusters".to_string(), self.sub_clusters.to_string()),
            ("classes".to_string(), self.classes.join("\n")),
        ]);
        crate::io::checkpoint::save_checkpoint(ctx, path, &self.tensors(), metadata)
    }

    /// Loads a model written by [`EmbeddingModel::save`]; the architecture comes from its
    /// metadata.
    pub fn load(ctx: &Context, path: &Path, fft_path: FftPath) -> Result<Self> {
        let bad = |detail: String| {
            HarkError::invalid("embedding", format!("{}: {detail}", path.display()))
        };
        let bytes = std::fs::read(path).map_err(|source| HarkError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let header = crate::io::checkpoint::CheckpointHeader::parse(path, &bytes)?;
        let metadata = header.metadata.clone();
        let get = |key: &str| {
            metadata
                .get(key)
                .cloned()
                .ok_or_else(|| bad(format!("no {key} in the metadata")))
        };
        if get("hark_model")? != MODEL_NAME {
            return Err(bad(format!("not a {MODEL_NAME} checkpoint")));
        }
        let branches = Branches::parse(&get("branches")?)
            .ok_or_else(|| bad("unknown branches".to_string()))?;
        let config = EmbeddingNetConfig {
            samples: header.size(
                "samples",
                crate::io::checkpoint::MAX_CLIP_SAMPLES,
                "one hour at 16 kHz",
            )?,
            branches,
            temporal_norm: get("temporal_norm")? == "true",
            fft_path,
        };
        let classes: Vec<String> = get("classes")?.split('\n').map(str::to_string).collect();
        let sub_clusters = header.dimension("sub_clusters")?;
        // The AdaCos centres must be stored for every class and sub-cluster before the model
        // is built from these counts.
        let centres = "adacos.centres";
        let logits = classes.len().saturating_mul(sub_clusters);
        match header.tensors.get(centres) {
            Some((_, shape)) if shape.first() == Some(&logits) => {}
            Some((_, shape)) => {
                return Err(header.size_error(
                    "classes x sub_clusters",
                    logits,
                    format!("tensor {centres} has shape {shape:?}"),
                ))
            }
            None => return Err(bad(format!("tensor {centres} is missing"))),
        }
        let model = Self::new(ctx, config, classes, sub_clusters, 0)?;
        crate::io::checkpoint::load_checkpoint(ctx, path, &model.tensors())?;
        Ok(model)
    }
}
