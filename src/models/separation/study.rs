//! Paper 000's two tables on a dataset, from one trained [`SeparationSystem`]: Table 3, the
//! source / target AUC of every [`SeparationVariant`] through the scoring contract, and Table 2,
//! the SI-SDR improvement of each separator on normal and anomalous test clips (from the test
//! stems the synthetic sets carry). `hark separation-study` prints them.

use std::path::Path;

use super::mixtures::stem_dir;
use super::system::{SeparationSystem, SeparationVariant, Separator};
use super::train::si_sdr_db;
use crate::audio::dataset::{Dataset, Label, Split};
use crate::audio::wav::{read_wav, WavOptions};
use crate::detect::contract::run_system;
use crate::detect::metrics::SectionMetrics;
use crate::error::Result;

/// One column of Table 3: a variant's metrics for every section, and the CSVs it wrote.
#[derive(Clone, Debug)]
pub struct VariantScores {
    pub variant: SeparationVariant,
    pub sections: Vec<SectionMetrics>,
}

/// Scores every variant with `system` (training it on the first, reusing the models after),
/// writing each variant's challenge CSVs to `out/<variant>/`.
pub fn score_variants(
    system: &mut SeparationSystem,
    dataset: &Dataset,
    out: &Path,
) -> Result<Vec<VariantScores>> {
    let mut table = Vec::new();
    for variant in SeparationVariant::ALL {
        system.variant = variant;
        let reports = run_system(system, dataset, &out.join(variant.name()), 0.9)?;
        table.push(VariantScores {
            variant,
            sections: reports.into_iter().filter_map(|r| r.metrics).collect(),
        });
    }
    Ok(table)
}

/// One row of Table 2: mean SI-SDR improvement (dB) of each separator on the section's normal
/// and anomalous test clips (0 where the section has none with stems).
#[derive(Clone, Debug)]
pub struct SiSdrRow {
    pub machine: String,
    pub section: u32,
    pub type_normal: f64,
    pub type_anomalous: f64,
    pub id_normal: f64,
    pub id_anomalous: f64,
}

/// Table 2 over every section of `dataset` whose test clips have a clean machine stem.
pub fn si_sdr_improvements(
    system: &mut SeparationSystem,
    dataset: &Dataset,
) -> Result<Vec<SiSdrRow>> {
    let options = WavOptions {
        sample_rate: 16_000,
        downmix: false,
    };
    let mut rows = Vec::new();
    for machine in &dataset.machines {
        for section in machine.sections() {
            // Type normal, Type anomalous, ID normal, ID anomalous.
            let mut cells: [Vec<f64>; 4] = Default::default();
            for clip in machine
                .split(Split::Test)
                .filter(|c| c.name.section == section)
            {
                let clean_path = stem_dir(&machine.root, clip).join("machine.wav");
                if !clean_path.exists() {
                    continue;
                }
                let clean = read_wav(&clean_path, &options)?;
                let mixture = read_wav(&clip.path, &options)?;
                let base = si_sdr_db(&mixture, &clean);
                let anomalous = usize::from(clip.name.label == Label::Anomaly);
                for (k, which) in [Separator::Type, Separator::Id(section)].iter().enumerate() {
                    let est = system.separated_signal(&machine.machine, *which, clip, &mixture)?;
                    cells[2 * k + anomalous].push(si_sdr_db(&est, &clean) - base);
                }
            }
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
            rows.push(SiSdrRow {
                machine: machine.machine.clone(),
                section,
                type_normal: mean(&cells[0]),
                type_anomalous: mean(&cells[1]),
                id_normal: mean(&cells[2]),
                id_anomalous: mean(&cells[3]),
            });
        }
    }
    Ok(rows)
}
