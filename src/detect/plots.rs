//! Plots of an evaluated section as PNG: the ROC curve of each domain (that domain's normals
//! against all anomalies, as the AUC is computed) with the pAUC range marked, and histograms of
//! the normal and anomalous scores. Drawn with plotters; text uses an embedded DejaVu font.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::detect::contract::EvaluatedSection;
use crate::detect::metrics::roc_curve;
use crate::error::{HarkError, Result};

const FONT: &str = "sans-serif";

fn plot_error(path: &Path, e: impl std::fmt::Display) -> HarkError {
    HarkError::Io {
        path: path.display().to_string(),
        source: std::io::Error::other(e.to_string()),
    }
}

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The embedded font is valid TrueType; a failure would only leave text undrawn.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
    });
}

/// Writes `roc_<machine>_section_<ss>.png` and `hist_<machine>_section_<ss>.png` into `dir`.
pub fn plot_section(section: &EvaluatedSection, dir: &Path) -> Result<Vec<PathBuf>> {
    register_font();
    std::fs::create_dir_all(dir).map_err(|source| HarkError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let m = &section.metrics;
    let stem = format!("{}_section_{:02}", m.machine, m.section);
    let roc_path = dir.join(format!("roc_{stem}.png"));
    let hist_path = dir.join(format!("hist_{stem}.png"));
    draw_roc(section, &roc_path).map_err(|e| plot_error(&roc_path, e))?;
    draw_histogram(section, &hist_path).map_err(|e| plot_error(&hist_path, e))?;
    Ok(vec![roc_path, hist_path])
}

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn draw_roc(section: &EvaluatedSection, path: &Path) -> DrawResult {
    let m = &section.metrics;
    let root = BitMapBackend::new(path, (640, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "ROC {} section {:02} (pAUC {:.3})",
                m.machine, m.section, m.pauc
            ),
            (FONT, 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("false positive rate")
        .y_desc("true positive rate")
        .label_style((FONT, 14))
        .draw()?;
    // The pAUC range: FPR up to 0.1.
    chart.draw_series(std::iter::once(Rectangle::new(
        [(0.0, 0.0), (0.1, 1.0)],
        RGBColor(230, 230, 240).filled(),
    )))?;
    chart.draw_series(LineSeries::new(
        vec![(0.0, 0.0), (1.0, 1.0)],
        BLACK.mix(0.3),
    ))?;
    let colors = [BLUE, RED, GREEN];
    for (i, domain) in m.domains.iter().enumerate() {
        let (labels, scores): (Vec<bool>, Vec<f64>) = section
            .clips
            .iter()
            .filter(|c| c.is_anomaly || c.domain == domain.domain)
            .map(|c| (c.is_anomaly, c.score))
            .unzip();
        let curve = roc_curve(&labels, &scores)?;
        let color = colors[i % colors.len()];
        let name = domain.domain.map_or("all".to_string(), |d| d.to_string());
        chart
            .draw_series(LineSeries::new(
                curve.fpr.iter().copied().zip(curve.tpr.iter().copied()),
                color.stroke_width(2),
            ))?
            .label(format!("{name}: AUC {:.3}", domain.auc))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn draw_histogram(section: &EvaluatedSection, path: &Path) -> DrawResult {
    let m = &section.metrics;
    let scores: Vec<f64> = section.clips.iter().map(|c| c.score).collect();
    let lo = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let mut hi = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !(lo.is_finite() && hi.is_finite()) {
        return Err("no finite scores".into());
    }
    if hi <= lo {
        hi = lo + 1.0;
    }
    const BINS: usize = 30;
    let width = (hi - lo) / BINS as f64;
    let count = |anomalous: bool| {
        let mut counts = [0u32; BINS];
        for c in section.clips.iter().filter(|c| c.is_anomaly == anomalous) {
            let bin = (((c.score - lo) / width) as usize).min(BINS - 1);
            counts[bin] += 1;
        }
        counts
    };
    let (normal, anomalous) = (count(false), count(true));
    let top = normal
        .iter()
        .chain(&anomalous)
        .copied()
        .max()
        .unwrap_or(1)
        .max(1);
    let root = BitMapBackend::new(path, (720, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("scores {} section {:02}", m.machine, m.section),
            (FONT, 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(lo..hi, 0u32..top + 1)?;
    chart
        .configure_mesh()
        .x_desc("anomaly score")
        .y_desc("clips")
        .label_style((FONT, 14))
        .draw()?;
    for (counts, color, name) in [(normal, BLUE, "normal"), (anomalous, RED, "anomaly")] {
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &n)| {
                let x0 = lo + i as f64 * width;
                Rectangle::new([(x0, 0), (x0 + width, n)], color.mix(0.4).filled())
            }))?
            .label(name)
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.mix(0.4).filled())
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
