//! The `--system` choice of `hark train`, `hark score` and `hark bench train`, and which of the
//! shared flags each system takes (a flag given to a system it does not belong to is an error
//! naming the systems it belongs to).

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, ValueEnum};
use hark::HarkError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum System {
    /// The DCASE dense autoencoder (REFERENCE-SPECS §3).
    Ae,
    /// A normalizing flow (FrEIA AllInOneBlocks) as a density model on the same vectors.
    Flow,
    /// Outlier exposure with GMM / Mahalanobis-kNN back ends (paper 004; --oe-* settings).
    Oe,
    /// OE-Flow (paper 004): the OE extractor trained jointly with a normalizing flow on its
    /// embeddings; score = the flow's NLL or the inlier model (--oe-flow-detector; --oe-* and
    /// --oe-flow-* settings).
    OeFlow,
    /// Wilkinghoff's embedding system: sub-cluster AdaCos, k-means back end (REFERENCE-SPECS §4).
    Embed,
    /// The DCASE 2022 MobileNetV2 section classifier (003 §4.1).
    Mobilenet,
    /// The self-supervised classifier of paper 002: log-mel + TgramNet, TDNN (REFERENCE-SPECS §5).
    Ssc,
    /// Training-free few-shot system: per-clip statistics of the front end, GPU cosine kNN per
    /// section with separate source / target memories (--stats-* settings, training only).
    StatsKnn,
    /// Loudness baseline: distance of a clip's log energy from its section's training clips
    /// (no model; `hark train` writes nothing).
    Energy,
}

impl System {
    /// (epochs, batch size, learning rate) when the flags leave them out.
    pub(super) fn defaults(self) -> (usize, usize, f32) {
        match self {
            System::Ae | System::Flow => (100, 512, 1e-3),
            System::Oe | System::OeFlow => (20, 32, 1e-3),
            System::Embed => (10, 64, 1e-3),
            System::Mobilenet => (20, 128, 1e-4),
            System::Ssc => (100, 32, 2e-4),
            // Not trained by gradient steps.
            System::StatsKnn | System::Energy => (0, 1, 0.0),
        }
    }
}

impl System {
    /// The name `--system` takes.
    pub(super) fn flag_name(self) -> String {
        self.to_possible_value()
            .map_or_else(|| format!("{self:?}"), |v| v.get_name().to_string())
    }
}

pub(super) const TRAINED: &[System] = &[
    System::Ae,
    System::Flow,
    System::Oe,
    System::OeFlow,
    System::Embed,
    System::Mobilenet,
    System::Ssc,
];

/// The systems whose training `--resume` continues (their state holds all they train).
pub(super) const RESUMABLE: &[System] = &[
    System::Ae,
    System::Flow,
    System::Embed,
    System::Mobilenet,
    System::Ssc,
];

/// Which systems read each group of flags. A group is a flattened `Args` struct (its flags are
/// listed from the struct itself, so a new flag joins its group's row without an edit here) or
/// one flag of `hark train`/`hark score`; within the oe group, flags named `oe_flow_*` and
/// `oe_dflow_*` are read by oe-flow only.
fn flag_owners() -> Vec<(clap::Arg, Vec<System>)> {
    fn group<A: Args>(systems: &[System]) -> Vec<(clap::Arg, Vec<System>)> {
        A::augment_args(clap::Command::new("group"))
            .get_arguments()
            .map(|arg| (arg.clone(), systems.to_vec()))
            .collect()
    }
    let mut owners = Vec::new();
    owners.extend(group::<super::train_flow::FlowArgs>(&[System::Flow]));
    for (arg, _) in group::<super::train_oe::OeArgs>(&[]) {
        let id = arg.get_id().as_str();
        let systems = if id.starts_with("oe_flow_") || id.starts_with("oe_dflow_") {
            vec![System::OeFlow]
        } else {
            vec![System::Oe, System::OeFlow]
        };
        owners.push((arg, systems));
    }
    owners.extend(group::<super::train_embed::EmbedArgs>(&[System::Embed]));
    owners.extend(group::<super::train_mobilenet::MobileNetArgs>(&[
        System::Mobilenet,
    ]));
    owners.extend(group::<super::train_ssc::SscTrainArgs>(&[System::Ssc]));
    owners.extend(group::<super::train_ssc::SscScoreArgs>(&[System::Ssc]));
    owners.extend(group::<super::train_stats_knn::StatsKnnArgs>(&[
        System::StatsKnn,
    ]));
    for (id, long) in [
        ("epochs", "epochs"),
        ("batch_size", "batch-size"),
        ("lr", "lr"),
    ] {
        owners.push((clap::Arg::new(id).long(long), TRAINED.to_vec()));
    }
    owners.push((clap::Arg::new("resume").long("resume"), RESUMABLE.to_vec()));
    owners.push((
        clap::Arg::new("segment_aggregation").long("segment-aggregation"),
        vec![System::Oe, System::OeFlow, System::Mobilenet],
    ));
    owners
}

/// Refuses a flag given on the command line (not a default) that the chosen `--system` does
/// not read, naming the systems it belongs to. `matches` are those of `hark train` or `hark
/// score`.
pub fn check_system_flags(command: &'static str, matches: &ArgMatches) -> hark::Result<()> {
    let Some(system) = matches.get_one::<System>("system").copied() else {
        return Ok(());
    };
    let given: Vec<String> = matches
        .ids()
        .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.as_str().to_string())
        .collect();
    for (arg, systems) in flag_owners() {
        if systems.contains(&system) || !given.iter().any(|id| id == arg.get_id().as_str()) {
            continue;
        }
        let names: Vec<String> = systems.iter().map(|s| s.flag_name()).collect();
        let belongs = if names.is_empty() {
            "no system".to_string()
        } else {
            format!("--system {}", names.join(", "))
        };
        return Err(HarkError::invalid(
            command,
            format!(
                "--{} applies to {belongs}, not to --system {}",
                arg.get_long().unwrap_or(arg.get_id().as_str()),
                system.flag_name()
            ),
        ));
    }
    Ok(())
}
