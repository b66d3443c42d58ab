//! OE-DFlow's physical parameter `v` per training clip (paper 004, REFERENCE-SPECS §6), parsed
//! from the clip attributes section by section.
//!
//! In a section, the parameter is the first attribute (in file-name order) whose value is a
//! number in every training clip and takes at least two values (`volt`, `vel`, `wt`, `pat`...).
//! Its values are rescaled to `(x - min) / step`, `step` the smallest distance between two of
//! them, so that 004's `k = 5 / step` becomes `k = 5` ([`DFLOW_K`]) for every section. A
//! section with no such attribute (fan `m-n_W`, `n-lv_L1`...) falls back to the index of the
//! clip's attribute string among the section's sorted distinct ones (an integer-coded category,
//! distance 1); a section with a single attribute string gets `v = 0`.

use std::collections::BTreeMap;
use std::fmt;

use crate::audio::dataset::Clip;

/// 004's `k` on the rescaled parameter (minimum distance 1).
pub const DFLOW_K: f32 = 5.0;

/// Where a section's parameter came from.
#[derive(Clone, Debug, PartialEq)]
pub enum ParameterSource {
    /// A numeric attribute: `v = (x - min) / step`.
    Numeric { key: String, min: f64, step: f64 },
    /// No numeric attribute varies: `v` = index of the attribute string among `classes`.
    AttributeClass { classes: Vec<String> },
}

/// One section's parameter choice.
#[derive(Clone, Debug, PartialEq)]
pub struct ParameterChoice {
    pub section: u32,
    pub source: ParameterSource,
}

impl fmt::Display for ParameterChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            ParameterSource::Numeric { key, min, step } => write!(
                f,
                "section {:02}: domain parameter '{key}' (v = ({key} - {min}) / {step})",
                self.section
            ),
            ParameterSource::AttributeClass { classes } => write!(
                f,
                "section {:02}: no numeric attribute varies; domain parameter = attribute class \
                 index of {} ({})",
                self.section,
                classes.len(),
                classes.join(", ")
            ),
        }
    }
}

fn attribute_string(clip: &Clip) -> String {
    let parts: Vec<String> = clip
        .attributes
        .iter()
        .map(|a| format!("{}_{}", a.key, a.value))
        .collect();
    if parts.is_empty() {
        "noAttribute".to_string()
    } else {
        parts.join("_")
    }
}

fn numeric_values(clips: &[&Clip], key: &str) -> Option<Vec<f64>> {
    clips
        .iter()
        .map(|c| {
            let a = c.attributes.iter().find(|a| a.key == key)?;
            a.value.parse::<f64>().ok().filter(|x| x.is_finite())
        })
        .collect()
}

/// `(min, step)` of values with at least two distinct ones.
fn scale_of(values: &[f64]) -> Option<(f64, f64)> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    let step = sorted
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(f64::INFINITY, f64::min);
    (step.is_finite() && step > 0.0).then(|| (sorted[0], step))
}

fn section_parameter(section: u32, clips: &[&Clip]) -> (Vec<f32>, ParameterChoice) {
    let keys: Vec<&str> = clips
        .first()
        .map(|c| c.attributes.iter().map(|a| a.key.as_str()).collect())
        .unwrap_or_default();
    for key in keys {
        let Some(values) = numeric_values(clips, key) else {
            continue;
        };
        let Some((min, step)) = scale_of(&values) else {
            continue;
        };
        let v = values.iter().map(|x| ((x - min) / step) as f32).collect();
        let source = ParameterSource::Numeric {
            key: key.to_string(),
            min,
            step,
        };
        return (v, ParameterChoice { section, source });
    }
    let strings: Vec<String> = clips.iter().map(|c| attribute_string(c)).collect();
    let mut classes = strings.clone();
    classes.sort();
    classes.dedup();
    let index: BTreeMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let v = strings.iter().map(|s| index[s.as_str()] as f32).collect();
    let source = ParameterSource::AttributeClass { classes };
    (v, ParameterChoice { section, source })
}

/// The rescaled parameter `v` of every clip (in `clips` order) and each section's choice.
pub fn clip_parameters(clips: &[&Clip]) -> (Vec<f32>, Vec<ParameterChoice>) {
    let mut sections: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, clip) in clips.iter().enumerate() {
        sections.entry(clip.name.section).or_default().push(i);
    }
    let mut values = vec![0.0f32; clips.len()];
    let mut choices = Vec::with_capacity(sections.len());
    for (section, members) in sections {
        let section_clips: Vec<&Clip> = members.iter().map(|&i| clips[i]).collect();
        let (v, choice) = section_parameter(section, &section_clips);
        for (&i, x) in members.iter().zip(v) {
            values[i] = x;
        }
        choices.push(choice);
    }
    (values, choices)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::dataset::parse_clip_name;

    fn clip(file_name: &str) -> Clip {
        let name = parse_clip_name(file_name).unwrap();
        Clip {
            path: file_name.into(),
            file_name: file_name.to_string(),
            machine: "gearbox".to_string(),
            split: name.split,
            attributes: name.attributes.clone(),
            name,
        }
    }

    #[test]
    fn numeric_attributes_are_rescaled_and_others_fall_back_to_classes() {
        let clips = [
            clip("section_00_source_train_normal_0000_volt_1.0_wt_150.wav"),
            clip("section_00_source_train_normal_0001_volt_1.5_wt_150.wav"),
            clip("section_00_target_train_normal_0000_volt_3.0_wt_150.wav"),
            clip("section_01_source_train_normal_0000_m-n_X.wav"),
            clip("section_01_source_train_normal_0001_m-n_W.wav"),
        ];
        let refs: Vec<&Clip> = clips.iter().collect();
        let (v, choices) = clip_parameters(&refs);
        // volt: min 1.0, step 0.5 (wt is constant, so it is skipped); m-n: classes W < X.
        assert_eq!(v, vec![0.0, 1.0, 4.0, 1.0, 0.0]);
        assert_eq!(
            choices[0].source,
            ParameterSource::Numeric {
                key: "volt".to_string(),
                min: 1.0,
                step: 0.5
            }
        );
        assert_eq!(
            choices[1].source,
            ParameterSource::AttributeClass {
                classes: vec!["m-n_W".to_string(), "m-n_X".to_string()]
            }
        );
    }
}
