//! DCASE task-2 clip file names, parsed into section, domain, split, label, index and attributes:
//! the 2021-2024 form `section_00_source_train_normal_0000_vel_6_loc_A.wav`, its evaluation form
//! `section_00_0000.wav`, and the 2020 form `normal_id_00_00000000.wav` (machine id as section).

use std::fmt;

/// The two domains of DCASE 2021-2024: source (plenty of training data) and target (shifted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Domain {
    Source,
    Target,
}

/// The dataset split a clip belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Split {
    Train,
    Test,
}

/// Ground truth of a clip; `Unknown` where an evaluation set hides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Label {
    Normal,
    Anomaly,
    Unknown,
}

/// Which naming convention a file name follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Naming {
    /// DCASE 2021-2024 development names with domain, split, label and attributes.
    Sectioned,
    /// DCASE 2021-2024 evaluation names: only section and index.
    SectionedHidden,
    /// DCASE 2020 names: label, machine id and index, no domain.
    MachineId,
    /// DCASE 2020 evaluation names: machine id and index only.
    MachineIdHidden,
}

/// One `key_value` attribute of a clip (`vel_9` is key `vel`, value `9`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attribute {
    pub key: String,
    pub value: String,
}

/// Everything a DCASE file name says about its clip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClipName {
    pub naming: Naming,
    /// Section number (2021-2024) or machine id (2020).
    pub section: u32,
    pub domain: Option<Domain>,
    /// The split written in the name (2020 names carry none; their folder says it).
    pub split: Option<Split>,
    pub label: Label,
    pub index: u32,
    /// Attributes in file-name order; empty for `noAttribute` and for names without any.
    pub attributes: Vec<Attribute>,
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Domain::Source => "source",
            Domain::Target => "target",
        })
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Label::Normal => "normal",
            Label::Anomaly => "anomaly",
            Label::Unknown => "unknown",
        })
    }
}

impl Split {
    /// The split named by a folder (`train`, `test`), if it is one.
    pub fn from_folder(name: &str) -> Option<Split> {
        match name {
            "train" => Some(Split::Train),
            "test" => Some(Split::Test),
            _ => None,
        }
    }
}

/// A number of exactly `width` ASCII digits.
fn parse_digits(token: &str, width: usize, what: &str) -> Result<u32, String> {
    if token.len() == width && token.bytes().all(|b| b.is_ascii_digit()) {
        token
            .parse()
            .map_err(|_| format!("{what} '{token}' is not a number"))
    } else {
        Err(format!("{what} '{token}' is not {width} digits"))
    }
}

fn parse_label(token: &str) -> Result<Label, String> {
    match token {
        "normal" => Ok(Label::Normal),
        "anomaly" => Ok(Label::Anomaly),
        _ => Err(format!("label '{token}' is neither 'normal' nor 'anomaly'")),
    }
}

/// `key_value` pairs joined by `_`, or the single token `noAttribute`.
fn parse_attributes(tokens: &[&str]) -> Result<Vec<Attribute>, String> {
    if tokens == ["noAttribute"] {
        return Ok(Vec::new());
    }
    if !tokens.len().is_multiple_of(2) {
        return Err(format!(
            "attributes '{}' are not key_value pairs (odd number of parts)",
            tokens.join("_")
        ));
    }
    tokens
        .chunks(2)
        .map(|pair| {
            let (key, value) = (pair[0], pair[1]);
            if key.is_empty() || value.is_empty() {
                Err(format!("empty attribute key or value in '{key}_{value}'"))
            } else {
                Ok(Attribute {
                    key: key.to_string(),
                    value: value.to_string(),
                })
            }
        })
        .collect()
}

/// Parses a DCASE clip file name (with its `.wav` extension). The error says what was wrong.
pub fn parse_clip_name(file_name: &str) -> Result<ClipName, String> {
    let stem = file_name
        .strip_suffix(".wav")
        .ok_or_else(|| "name does not end in '.wav'".to_string())?;
    let tokens: Vec<&str> = stem.split('_').collect();
    match tokens.first().copied() {
        Some("section") => parse_sectioned(&tokens),
        Some("normal") | Some("anomaly") | Some("id") => parse_machine_id(&tokens),
        _ => Err(
            "name starts with neither 'section_', 'normal_id_', 'anomaly_id_' nor 'id_'"
                .to_string(),
        ),
    }
}

fn parse_sectioned(tokens: &[&str]) -> Result<ClipName, String> {
    let section = parse_digits(tokens.get(1).copied().unwrap_or(""), 2, "section")?;
    if tokens.len() == 3 {
        return Ok(ClipName {
            naming: Naming::SectionedHidden,
            section,
            domain: None,
            split: None,
            label: Label::Unknown,
            index: parse_digits(tokens[2], 4, "index")?,
            attributes: Vec::new(),
        });
    }
    if tokens.len() < 6 {
        return Err("expected section_<ss>_<source|target>_<train|test>_<normal|anomaly>_<nnnn>[_attributes] or section_<ss>_<nnnn>".to_string());
    }
    let domain = match tokens[2] {
        "source" => Domain::Source,
        "target" => Domain::Target,
        other => return Err(format!("domain '{other}' is neither 'source' nor 'target'")),
    };
    let split = Split::from_folder(tokens[3])
        .ok_or_else(|| format!("split '{}' is neither 'train' nor 'test'", tokens[3]))?;
    let label = parse_label(tokens[4])?;
    let index = parse_digits(tokens[5], 4, "index")?;
    let attributes = parse_attributes(&tokens[6..])?;
    Ok(ClipName {
        naming: Naming::Sectioned,
        section,
        domain: Some(domain),
        split: Some(split),
        label,
        index,
        attributes,
    })
}

fn parse_machine_id(tokens: &[&str]) -> Result<ClipName, String> {
    // `id_01_00000000` (evaluation) or `normal_id_01_00000000`.
    let (label, rest) = if tokens[0] == "id" {
        (Label::Unknown, tokens)
    } else {
        (parse_label(tokens[0])?, &tokens[1..])
    };
    if rest.len() != 3 || rest[0] != "id" {
        return Err(
            "expected <normal|anomaly>_id_<xx>_<nnnnnnnn> or id_<xx>_<nnnnnnnn>".to_string(),
        );
    }
    Ok(ClipName {
        naming: if label == Label::Unknown {
            Naming::MachineIdHidden
        } else {
            Naming::MachineId
        },
        section: parse_digits(rest[1], 2, "machine id")?,
        domain: None,
        split: None,
        label,
        index: parse_digits(rest[2], 8, "index")?,
        attributes: Vec::new(),
    })
}

/// The DG-layout file name for a clip (the inverse of [`parse_clip_name`] for
/// [`Naming::Sectioned`]); `noAttribute` when `attributes` is empty.
pub fn sectioned_file_name(
    section: u32,
    domain: Domain,
    split: Split,
    label: Label,
    index: u32,
    attributes: &[Attribute],
) -> String {
    let attributes = if attributes.is_empty() {
        "noAttribute".to_string()
    } else {
        attributes
            .iter()
            .map(|a| format!("{}_{}", a.key, a.value))
            .collect::<Vec<_>>()
            .join("_")
    };
    format!("section_{section:02}_{domain}_{split}_{label}_{index:04}_{attributes}.wav")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_sectioned_name() {
        let attributes = vec![Attribute {
            key: "ac".into(),
            value: "0.08".into(),
        }];
        let name = sectioned_file_name(
            2,
            Domain::Target,
            Split::Test,
            Label::Anomaly,
            17,
            &attributes,
        );
        assert_eq!(name, "section_02_target_test_anomaly_0017_ac_0.08.wav");
        let parsed = parse_clip_name(&name).unwrap();
        assert_eq!(parsed.attributes, attributes);
        assert_eq!(parsed.index, 17);
    }

    #[test]
    fn rejects_malformed_names_with_a_reason() {
        for bad in [
            "section_0_source_train_normal_0000_a_b.wav",
            "section_00_left_train_normal_0000_a_b.wav",
            "section_00_source_train_normal_0000_a.wav",
            "section_00_source_train_broken_0000.wav",
            "normal_id_0_00000000.wav",
            "normal_00_00000000.wav",
            "clip.wav",
            "section_00_source_train_normal_0000.flac",
        ] {
            assert!(parse_clip_name(bad).is_err(), "{bad} parsed");
        }
    }
}
