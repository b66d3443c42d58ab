//! `hark evaluate`: recomputes the DCASE metrics from any system's anomaly-score CSVs and prints
//! them per machine, section and domain, with the official score.

use std::path::PathBuf;

use clap::Args;
use hark::audio::dataset::read_dataset;
use hark::detect::contract::evaluate_score_files;
use hark::detect::metrics::{harmonic_mean, official_score, SectionMetrics};
use hark::detect::plots::plot_section;

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Folder with anomaly_score_<machine>_section_<ss>_test.csv files.
    #[arg(long)]
    scores: PathBuf,
    /// The labelled dataset root the scores refer to.
    #[arg(long)]
    data: PathBuf,
    /// Also write ROC curves and score histograms as PNG.
    #[arg(long)]
    plot: bool,
    /// Folder for the plots (default: `<scores>/plots`).
    #[arg(long, requires = "plot")]
    plot_dir: Option<PathBuf>,
}

pub fn run(args: &EvaluateArgs) -> hark::Result<()> {
    let dataset = read_dataset(&args.data)?;
    dataset.require_no_problems()?;
    let evaluated = evaluate_score_files(&args.scores, &dataset)?;
    if args.plot {
        let dir = args
            .plot_dir
            .clone()
            .unwrap_or_else(|| args.scores.join("plots"));
        // The default lies inside --scores on purpose (only PNGs, in their own folder).
        hark::paths::check_apart("evaluate", ("--plot-dir", &dir), &[("--data", &args.data)])?;
        let mut written = 0;
        for section in &evaluated {
            written += plot_section(section, &dir)?.len();
        }
        println!("{written} plot(s) written to {}", dir.display());
    }
    println!(
        "{:<12} {:>7} {:<7} {:>8} {:>8}",
        "machine", "section", "domain", "AUC", "pAUC"
    );
    let sections: Vec<SectionMetrics> = evaluated.into_iter().map(|e| e.metrics).collect();
    for section in &sections {
        for domain in &section.domains {
            let name = domain.domain.map_or("all".to_string(), |d| d.to_string());
            println!(
                "{:<12} {:>7} {:<7} {:>8.4} {:>8.4}",
                section.machine,
                format!("{:02}", section.section),
                name,
                domain.auc,
                domain.pauc
            );
        }
        println!(
            "{:<12} {:>7} {:<7} {:>8} {:>8.4}",
            section.machine,
            format!("{:02}", section.section),
            "section",
            "",
            section.pauc
        );
    }
    let mut machines: Vec<&str> = sections.iter().map(|s| s.machine.as_str()).collect();
    machines.dedup();
    for machine in machines {
        let values: Vec<f64> = sections
            .iter()
            .filter(|s| s.machine == machine)
            .flat_map(|s| s.official_values())
            .collect();
        println!("{machine}: harmonic mean {:.4}", harmonic_mean(&values)?);
    }
    println!(
        "official score (harmonic mean of all AUCs and pAUCs): {:.4}",
        official_score(&sections)?
    );
    Ok(())
}
