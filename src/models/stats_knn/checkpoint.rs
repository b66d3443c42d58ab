//! Saving and loading a stats-knn model (one file per machine type) through the crate's
//! safetensors checkpoints: per section and view the standardisation (`mean`, `std`) and the
//! standardised memories (`source`, `target` or `pooled`, `[clips, dim]`); the settings, the
//! memories' clip names and scales in the metadata. Loads check every shape against the metadata.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::context::Context;
use crate::error::{HarkError, Result};
use crate::io::checkpoint::{load_checkpoint, save_checkpoint, CheckpointHeader, MAX_N_FFT};
use crate::tensor::{DType, Tensor};

use super::memory::{DomainMemory, KnnRule, Metric, SearchDevice, Standardizer, ViewMemory};
use super::section::{BackEnd, DomainMemories, SectionModel, Standardization};
use super::views::View;

/// `<dir>/stats-knn_<machine>.safetensors`.
pub fn stats_knn_checkpoint_path(dir: &Path, machine: &str) -> PathBuf {
    dir.join(format!("stats-knn_{machine}.safetensors"))
}

/// What a checkpoint holds besides its tensors' values.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSettings {
    pub views: Vec<View>,
    pub dims: Vec<usize>,
    pub spectrum_bands: usize,
    pub n_mels: usize,
    pub n_fft: usize,
    pub hop: usize,
    pub back_end: BackEnd,
}

fn memory_names(domains: DomainMemories, count: usize) -> &'static [&'static str] {
    match (domains, count) {
        (DomainMemories::Pooled, _) => &["pooled"],
        (DomainMemories::Separate, 2) => &["source", "target"],
        // A section with one domain only keeps one memory; its name says which.
        (DomainMemories::Separate, _) => &["single"],
    }
}

fn key(section: u32, view: View, what: &str) -> String {
    format!("section_{section:02}.{}.{what}", view.name())
}

fn bad(path: &Path, detail: impl Into<String>) -> HarkError {
    HarkError::invalid(
        "stats-knn",
        format!("{}: {}", path.display(), detail.into()),
    )
}

/// Writes the models of every section of one machine type.
pub fn save_stats_knn(
    ctx: &Context,
    path: &Path,
    machine: &str,
    settings: &ModelSettings,
    sections: &BTreeMap<u32, SectionModel>,
) -> Result<()> {
    let b = settings.back_end;
    let mut metadata = HashMap::from([
        ("hark_model".to_string(), "stats-knn".to_string()),
        ("machine".to_string(), machine.to_string()),
        (
            "stats_knn.views".to_string(),
            settings
                .views
                .iter()
                .map(|v| v.name())
                .collect::<Vec<_>>()
                .join(","),
        ),
        (
            "stats_knn.spectrum_bands".to_string(),
            settings.spectrum_bands.to_string(),
        ),
        ("stats_knn.n_mels".to_string(), settings.n_mels.to_string()),
        ("stats_knn.n_fft".to_string(), settings.n_fft.to_string()),
        ("stats_knn.hop".to_string(), settings.hop.to_string()),
        (
            "stats_knn.standardize".to_string(),
            b.standardize.name().to_string(),
        ),
        (
            "stats_knn.domains".to_string(),
            b.domains.name().to_string(),
        ),
        ("stats_knn.k".to_string(), b.rule.k.to_string()),
        (
            "stats_knn.metric".to_string(),
            b.rule.metric.name().to_string(),
        ),
        (
            "stats_knn.sections".to_string(),
            sections
                .keys()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
    ]);
    let mut owned: Vec<(String, Tensor)> = Vec::new();
    for (&section, model) in sections {
        for (view, memory) in settings.views.iter().zip(&model.views) {
            if let Some(s) = &memory.standardizer {
                owned.push((
                    key(section, *view, "mean"),
                    Tensor::from_slice(ctx, &[memory.dim], &s.mean)?,
                ));
                owned.push((
                    key(section, *view, "std"),
                    Tensor::from_slice(ctx, &[memory.dim], &s.std)?,
                ));
            }
            let names = memory_names(b.domains, memory.memories.len());
            metadata.insert(format!("section_{section:02}.memories"), names.join(","));
            for (name, m) in names.iter().zip(&memory.memories) {
                let shape = [m.clips.len(), memory.dim];
                owned.push((
                    key(section, *view, name),
                    Tensor::from_slice(ctx, &shape, &m.rows)?,
                ));
                metadata.insert(
                    key(section, *view, &format!("{name}.scale")),
                    m.scale.to_string(),
                );
                metadata.insert(
                    format!("section_{section:02}.{name}.clips"),
                    m.clips.join("\n"),
                );
            }
        }
    }
    let tensors: Vec<(String, &Tensor)> = owned.iter().map(|(n, t)| (n.clone(), t)).collect();
    save_checkpoint(ctx, path, &tensors, metadata)
}

fn get<'m>(path: &Path, meta: &'m HashMap<String, String>, name: &str) -> Result<&'m str> {
    meta.get(name).map(String::as_str).ok_or_else(|| {
        bad(
            path,
            format!("metadata {name} is missing (not a stats-knn model?)"),
        )
    })
}

fn parse<T: std::str::FromStr>(
    path: &Path,
    meta: &HashMap<String, String>,
    name: &str,
) -> Result<T> {
    get(path, meta, name)?
        .parse()
        .map_err(|_| bad(path, format!("metadata {name} is not a valid value")))
}

/// Reads the settings of the checkpoint at `path` (tensors are not read).
pub fn read_settings(
    ctx: &Context,
    path: &Path,
) -> Result<(ModelSettings, HashMap<String, String>)> {
    let meta = load_checkpoint(ctx, path, &[])?;
    if meta.get("hark_model").map(String::as_str) != Some("stats-knn") {
        return Err(bad(path, "not a stats-knn model"));
    }
    let views = get(path, &meta, "stats_knn.views")?
        .split(',')
        .map(View::parse)
        .collect::<Result<Vec<_>>>()?;
    // Sizes are bounded before anything is allocated from them: feature dimensions by the
    // values the file stores (every memory row holds them), the frame by hark's limit.
    let header = CheckpointHeader::read(path)?;
    let spectrum_bands: usize = header.dimension("stats_knn.spectrum_bands")?;
    let n_mels: usize = header.dimension("stats_knn.n_mels")?;
    let n_fft = header.size("stats_knn.n_fft", MAX_N_FFT, "hark's longest FFT frame")?;
    let hop = header.size("stats_knn.hop", MAX_N_FFT, "hark's longest FFT frame")?;
    let dims = views
        .iter()
        .map(|v| match v {
            View::Spectrum => spectrum_bands,
            View::Logmel | View::Change => 2 * n_mels,
        })
        .collect();
    let settings = ModelSettings {
        views,
        dims,
        spectrum_bands,
        n_mels,
        n_fft,
        hop,
        back_end: BackEnd {
            standardize: Standardization::parse(get(path, &meta, "stats_knn.standardize")?)?,
            domains: DomainMemories::parse(get(path, &meta, "stats_knn.domains")?)?,
            rule: KnnRule {
                k: parse(path, &meta, "stats_knn.k")?,
                metric: Metric::parse(get(path, &meta, "stats_knn.metric")?)?,
            },
        },
    };
    Ok((settings, meta))
}

/// Loads the models of every section; searches run on `device`.
pub fn load_stats_knn(
    ctx: &Context,
    path: &Path,
    device: &SearchDevice,
) -> Result<(ModelSettings, BTreeMap<u32, SectionModel>)> {
    let (settings, meta) = read_settings(ctx, path)?;
    let header = CheckpointHeader::read(path)?;
    let b = settings.back_end;
    let sections: Vec<u32> = get(path, &meta, "stats_knn.sections")?
        .split(',')
        .map(|s| s.parse().map_err(|_| bad(path, "bad stats_knn.sections")))
        .collect::<Result<_>>()?;
    let mut models = BTreeMap::new();
    for section in sections {
        let names: Vec<&str> = get(path, &meta, &format!("section_{section:02}.memories"))?
            .split(',')
            .collect();
        let clips: Vec<Vec<String>> = names
            .iter()
            .map(|n| {
                get(path, &meta, &format!("section_{section:02}.{n}.clips"))
                    .map(|c| c.split('\n').map(String::from).collect())
            })
            .collect::<Result<_>>()?;
        let mut views = Vec::new();
        for (view, &dim) in settings.views.iter().zip(&settings.dims) {
            // The metadata's clip lists and dimension must match the stored memories before
            // the destinations are allocated.
            let expected: Vec<(String, Vec<usize>)> = names
                .iter()
                .zip(&clips)
                .map(|(n, c)| (key(section, *view, n), vec![c.len(), dim]))
                .collect();
            header.require_shapes(expected.iter().map(|(n, s)| (n.as_str(), s.as_slice())))?;
            let zeros = |shape: &[usize]| Tensor::zeros(ctx, shape, DType::F32);
            let stats = if b.standardize != Standardization::None {
                Some((zeros(&[dim])?, zeros(&[dim])?))
            } else {
                None
            };
            let rows = clips
                .iter()
                .map(|c| zeros(&[c.len(), dim]))
                .collect::<Result<Vec<_>>>()?;
            let mut wanted: Vec<(String, &Tensor)> = names
                .iter()
                .zip(&rows)
                .map(|(n, t)| (key(section, *view, n), t))
                .collect();
            if let Some((mean, std)) = &stats {
                wanted.push((key(section, *view, "mean"), mean));
                wanted.push((key(section, *view, "std"), std));
            }
            load_checkpoint(ctx, path, &wanted)?;
            let standardizer = match &stats {
                Some((mean, std)) => Some(Standardizer {
                    mean: mean.to_vec(ctx)?,
                    std: std.to_vec(ctx)?,
                }),
                None => None,
            };
            let memories = names
                .iter()
                .zip(rows.iter().zip(&clips))
                .map(|(n, (t, c))| {
                    let scale_key = key(section, *view, &format!("{n}.scale"));
                    let scale: f32 = parse(path, &meta, &scale_key)?;
                    if !scale.is_finite() {
                        return Err(bad(path, format!("metadata {scale_key} is {scale}")));
                    }
                    DomainMemory::new(device, t.to_vec(ctx)?, c.clone(), dim, Some(scale), b.rule)
                })
                .collect::<Result<Vec<_>>>()?;
            views.push(ViewMemory {
                dim,
                standardizer,
                memories,
                rule: b.rule,
            });
        }
        models.insert(section, SectionModel { views });
    }
    Ok((settings, models))
}
