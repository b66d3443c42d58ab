//! Clip counts of a dataset per machine, section, split, domain, label and attribute value, for
//! `hark data summary`.

use std::collections::BTreeMap;
use std::fmt;

use super::{Dataset, Domain, Label, Split};

/// One row of the summary: the clips sharing these fields.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SummaryKey {
    pub machine: String,
    pub section: u32,
    pub split: Option<Split>,
    pub domain: Option<Domain>,
    pub label: Label,
}

/// Counts per (machine, section, split, domain, label), and per attribute value of each
/// (machine, section).
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub counts: BTreeMap<SummaryKey, usize>,
    /// (machine, section, attribute key, value) -> clips.
    pub attribute_counts: BTreeMap<(String, u32, String, String), usize>,
    pub problems: usize,
}

impl Summary {
    pub fn of(dataset: &Dataset) -> Summary {
        let mut summary = Summary {
            problems: dataset.problems.len(),
            ..Summary::default()
        };
        for machine in &dataset.machines {
            for clip in &machine.clips {
                let key = SummaryKey {
                    machine: machine.machine.clone(),
                    section: clip.name.section,
                    split: clip.split,
                    domain: clip.name.domain,
                    label: clip.name.label,
                };
                *summary.counts.entry(key).or_default() += 1;
                for attribute in &clip.attributes {
                    let key = (
                        machine.machine.clone(),
                        clip.name.section,
                        attribute.key.clone(),
                        attribute.value.clone(),
                    );
                    *summary.attribute_counts.entry(key).or_default() += 1;
                }
            }
        }
        summary
    }

    /// Total clips.
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }
}

fn or_dash<T: fmt::Display>(value: Option<T>) -> String {
    value
        .map(|v| v.to_string())
        .unwrap_or_else(|| "-".to_string())
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<14} {:>7} {:<6} {:<7} {:<8} {:>6}",
            "machine", "section", "split", "domain", "label", "clips"
        )?;
        for (key, count) in &self.counts {
            writeln!(
                f,
                "{:<14} {:>7} {:<6} {:<7} {:<8} {:>6}",
                key.machine,
                format!("{:02}", key.section),
                or_dash(key.split),
                or_dash(key.domain),
                key.label,
                count
            )?;
        }
        writeln!(
            f,
            "total: {} clips, {} problem(s)",
            self.total(),
            self.problems
        )?;
        if !self.attribute_counts.is_empty() {
            writeln!(f, "\nattribute values (clips):")?;
            let mut current: Option<(&str, u32, &str)> = None;
            for ((machine, section, key, value), count) in &self.attribute_counts {
                let group = (machine.as_str(), *section, key.as_str());
                if current != Some(group) {
                    if current.is_some() {
                        writeln!(f)?;
                    }
                    write!(f, "  {machine} section {section:02} {key}:")?;
                    current = Some(group);
                }
                write!(f, " {value}={count}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
