//! Incremental window scoring for systems whose clip score is the mean of per-vector scores of
//! stacked log-mel vectors (`ae`, `flow`): each stream keeps the scores of the vectors that lie
//! wholly inside its audio (by timeline position), so a tick computes only the vectors new since
//! the last window plus the few at each window's edges, whose frames see the STFT's centring
//! padding and so differ from the same audio's frames inside a longer signal. All streams' new
//! audio of a tick goes through one batched front end and one model call.
//!
//! A window of `L` samples has frames `t` covering samples `[t h - p, t h - p + n)` (hop `h`,
//! FFT size `n`, padding `p = n / 2`); frame `t` is *interior* when that range lies inside the
//! window, and then it is the same frame in any clip holding those samples. Vector `v` stacks
//! frames `v .. v + c`: the head vectors (`v < ceil(p / h)`) and the tail vectors (those with
//! a frame past the last interior one) are recomputed for every window, the interior ones are
//! reused from earlier windows of the stream when the window hop is a whole number of STFT hops
//! (the monitor rounds it so) and no gap came between.

use std::collections::{HashMap, VecDeque};

use crate::detect::contract::AnomalyScorer;
use crate::error::{HarkError, Result};
use crate::features::pipeline::{FeatureExtractor, FeatureKind, FeatureSpec};
use crate::kernels::features::stacked_vectors;
use crate::kernels::stft::{stft_frames, Centering};
use crate::models::autoencoder::AutoencoderSystem;
use crate::models::flow::FlowSystem;

/// A system whose clip score is the mean of its per-vector scores, each vector's score
/// depending on that vector alone (no per-clip statistic): windows can be scored from cached
/// vectors.
pub trait VectorMeanScorer: AnomalyScorer {
    /// The front end `score` runs (its vectors are what the clip score averages).
    fn extractor(&mut self) -> &mut FeatureExtractor;

    /// The score of every row of `vectors` (`[n, dims]`, the front end's vectors).
    fn vector_scores(&mut self, vectors: &[f32]) -> Result<Vec<f32>>;
}

impl VectorMeanScorer for AutoencoderSystem {
    fn extractor(&mut self) -> &mut FeatureExtractor {
        self.feature_extractor()
    }

    fn vector_scores(&mut self, vectors: &[f32]) -> Result<Vec<f32>> {
        self.vector_errors(vectors)
    }
}

impl VectorMeanScorer for FlowSystem {
    fn extractor(&mut self) -> &mut FeatureExtractor {
        self.feature_extractor()
    }

    fn vector_scores(&mut self, vectors: &[f32]) -> Result<Vec<f32>> {
        self.vector_nll(vectors)
    }
}

/// Where a window's vectors lie: which are head, interior and tail, in vector indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VectorLayout {
    /// STFT hop in samples: the window hop must be a multiple of it.
    pub stft_hop: usize,
    pub window: usize,
    /// Vectors of a window.
    pub vectors: usize,
    /// The first interior vector (also the count of head vectors).
    pub first_interior: usize,
    /// The last interior vector (inclusive); the ones after it are tail vectors.
    pub last_interior: usize,
    /// Samples at a window's start that hold all its head vectors' frames.
    pub head_samples: usize,
    /// Centring padding: a vector at timeline position `P` (its first frame's centre) reads the
    /// samples from `P - pad`.
    pub pad: usize,
    /// Samples one vector reads (its frames together).
    pub vector_samples: usize,
}

impl VectorLayout {
    /// The layout of `window`-sample windows under `spec`, or `None` where the front end has no
    /// reusable vectors: not the stacked log-mel, not zero-padded centring, or a window too
    /// short to hold an interior vector.
    pub fn new(spec: &FeatureSpec, window: usize) -> Option<Self> {
        if spec.kind != FeatureKind::Dcase640 || spec.center != Centering::Zero {
            return None;
        }
        let (n, h, c) = (spec.n_fft, spec.hop, spec.context);
        if h == 0 || c == 0 || n == 0 {
            return None;
        }
        let pad = n / 2;
        let frames = stft_frames(window, n, h, spec.center);
        let vectors = stacked_vectors(frames, c);
        // Interior frames: t h >= pad and t h - pad + n <= window.
        let first_frame = pad.div_ceil(h);
        let last_frame = (window + pad).checked_sub(n)? / h;
        let last_interior = (last_frame + 1).checked_sub(c)?;
        if vectors == 0 || last_interior < first_frame || last_interior >= vectors {
            return None;
        }
        // The right end of the last frame of the last head vector.
        let head_samples = if first_frame == 0 {
            0
        } else {
            (first_frame + c - 2) * h + n - pad
        };
        (head_samples <= window).then_some(Self {
            stft_hop: h,
            window,
            vectors,
            first_interior: first_frame,
            last_interior,
            head_samples,
            pad,
            vector_samples: (c - 1) * h + n,
        })
    }

    /// Vectors from the first interior one that lie wholly inside a clip of `len` samples.
    fn interior_of_clip(&self, len: usize) -> usize {
        ((len + self.pad).saturating_sub(self.vector_samples) / self.stft_hop + 1)
            .saturating_sub(self.first_interior)
            * usize::from(len + self.pad >= self.vector_samples)
    }

    /// Interior vectors of a window.
    pub fn interior(&self) -> usize {
        self.last_interior + 1 - self.first_interior
    }

    /// `hop` rounded to the nearest whole number of STFT hops (at least one).
    pub fn round_hop(&self, hop: usize) -> usize {
        let h = self.stft_hop;
        (hop.saturating_add(h / 2) / h).max(1) * h
    }
}

/// The cached run of interior vectors of one stream, by timeline position of each vector's
/// first frame centre: `len` vectors from `base`, every `stft_hop` samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    segment: u64,
    base: u64,
    len: usize,
}

impl Span {
    /// Makes the span start at `first` (dropping older vectors) when it holds `first` or ends
    /// right before it in the same segment, else empties it there. Returns the position of the
    /// first vector not held and how many were dropped from the front (`None`: emptied).
    fn reuse(&mut self, segment: u64, first: u64, hop: u64) -> (u64, Option<usize>) {
        let end = self.base + self.len as u64 * hop;
        let keeps = self.len > 0
            && self.segment == segment
            && first >= self.base
            && (first - self.base).is_multiple_of(hop)
            && end >= first;
        if !keeps {
            *self = Span {
                segment,
                base: first,
                len: 0,
            };
            return (first, None);
        }
        let dropped = ((first - self.base) / hop) as usize;
        self.base = first;
        self.len -= dropped;
        (end, Some(dropped))
    }

    /// Extends the span to hold every vector up to `last` (inclusive).
    fn extend_to(&mut self, last: u64, hop: u64) {
        if last >= self.base {
            self.len = self.len.max(((last - self.base) / hop) as usize + 1);
        }
    }
}

/// The interior-vector scores of one stream.
#[derive(Clone, Debug, Default)]
struct VectorCache {
    span: Span,
    scores: VecDeque<f32>,
}

/// A window handed to [`Incremental::score`].
pub struct IncrementalWindow<'a> {
    /// Index of its stream (caches are per stream).
    pub stream: usize,
    /// Contiguous-audio segment of the stream (a gap starts a new one).
    pub segment: u64,
    /// Timeline position of its first sample.
    pub start: u64,
    pub samples: &'a [f32],
}

/// Audio of a stream with no window due, whose complete new vectors are computed ahead of its
/// next window (see [`Incremental::warm_from`]).
pub struct WarmAudio<'a> {
    pub stream: usize,
    pub segment: u64,
    /// Timeline position of `samples[0]` (the start [`Incremental::warm_from`] gave).
    pub start: u64,
    pub samples: &'a [f32],
    /// The oldest sample the stream still holds: vectors reading before it are dropped.
    pub held_from: u64,
}

/// What one window needs computed this tick.
struct Job {
    /// Offset in the window of the clip whose vectors are computed (it runs to the window's end).
    body_offset: usize,
    /// The first window vector taken from that clip (the rest follow to the last one).
    body_first: usize,
    /// Whether the head vectors come from a separate head clip.
    head: bool,
}

/// Which rows of the batched vectors a clip's vectors become.
#[derive(Clone, Copy)]
enum Target {
    Head(usize),
    Body(usize),
    Warm(usize),
}

/// A clip through the front end: vectors `first .. first + count` of it are wanted.
struct ClipJob<'a> {
    samples: &'a [f32],
    first: usize,
    count: usize,
    target: Target,
}

/// Per-stream vector caches for one monitor.
pub struct Incremental {
    layout: VectorLayout,
    caches: HashMap<usize, VectorCache>,
}

/// Most samples through the front end in one batch (as 16 ten-second clips: bounds the GPU
/// memory of a tick).
const EXTRACT_SAMPLES: usize = 16 * 160_000;

/// Clips are zero-padded up to a multiple of this many samples (4 DCASE STFT hops) so that clips
/// of nearly the same length share a batch: the padding only changes frames past a clip's end,
/// which read zeros there anyway (centring pads with zeros) or are not taken.
const LENGTH_BUCKET: usize = 2_048;

/// Fewest new vectors worth a warm-up clip (a quarter second at the DCASE hop).
const WARM_MIN_VECTORS: usize = 8;

impl Incremental {
    pub fn new(layout: VectorLayout) -> Self {
        Self {
            layout,
            caches: HashMap::new(),
        }
    }

    pub fn layout(&self) -> &VectorLayout {
        &self.layout
    }

    /// Interior-vector scores held for `stream` (a test and memory probe).
    pub fn cached(&self, stream: usize) -> usize {
        self.caches.get(&stream).map_or(0, |c| c.scores.len())
    }

    /// Where the warm-up clip of a stream with no window due starts: at its cached vectors' end
    /// (or, with none of this segment cached, at the first vector on its windows' frame grid,
    /// counted from `origin` where the segment began, that reads only held samples,
    /// `held_from..end`); `None` when fewer than a few new vectors are complete.
    pub fn warm_from(
        &self,
        stream: usize,
        segment: u64,
        origin: u64,
        held_from: u64,
        end: u64,
    ) -> Option<u64> {
        let l = &self.layout;
        let hop = l.stft_hop as u64;
        let lead = l.first_interior as u64 * hop;
        let fresh = || {
            let skip = held_from.saturating_sub(origin).div_ceil(hop);
            origin + skip * hop + lead
        };
        let first = match self.caches.get(&stream).map(|c| c.span) {
            Some(span)
                if span.len > 0
                    && span.segment == segment
                    && span.base >= origin
                    && (span.base - origin).is_multiple_of(hop)
                    && span.base + span.len as u64 * hop >= held_from + lead =>
            {
                span.base + span.len as u64 * hop
            }
            _ => fresh(),
        };
        let start = first - lead;
        let len = usize::try_from(end.checked_sub(start)?).ok()?;
        (l.interior_of_clip(len) >= WARM_MIN_VECTORS).then_some(start)
    }

    /// Scores `windows` (each stream's in time order) with `scorer`, and computes the complete
    /// new vectors of `warm` streams (streams without a window in this call): new interior
    /// vectors and every window's edge vectors go through one batched front end and one model
    /// call; each window's score is the mean of its vectors' scores, summed in vector order as
    /// `AnomalyScorer::score` sums them.
    pub fn score(
        &mut self,
        scorer: &mut dyn VectorMeanScorer,
        windows: &[IncrementalWindow],
        warm: &[WarmAudio],
    ) -> Result<Vec<f64>> {
        let l = self.layout;
        let hop = l.stft_hop as u64;
        if let Some(w) = windows.iter().find(|w| w.samples.len() != l.window) {
            return Err(HarkError::invalid(
                "monitor",
                format!(
                    "a window of {} samples, the incremental layout is for {}",
                    w.samples.len(),
                    l.window
                ),
            ));
        }
        // Plan on copies of the spans: what each window finds cached, what it must compute.
        let mut spans: HashMap<usize, Span> = HashMap::new();
        let mut jobs = Vec::with_capacity(windows.len());
        for w in windows {
            let span = spans.entry(w.stream).or_insert_with(|| {
                self.caches
                    .get(&w.stream)
                    .map(|c| c.span)
                    .unwrap_or_default()
            });
            let (first, last) = interior_positions(&l, w.start);
            let (first_new, _) = span.reuse(w.segment, first, hop);
            span.extend_to(last, hop);
            let first_new = if first_new > last {
                l.last_interior + 1
            } else {
                ((first_new - w.start) / hop) as usize
            };
            jobs.push(if first_new == l.first_interior {
                // Nothing reusable: the whole window is the clip, head included.
                Job {
                    body_offset: 0,
                    body_first: 0,
                    head: false,
                }
            } else {
                Job {
                    body_offset: (first_new - l.first_interior) * l.stft_hop,
                    body_first: first_new,
                    head: l.first_interior > 0,
                }
            });
        }
        let mut clips = Vec::with_capacity(2 * windows.len() + warm.len());
        for (i, (w, job)) in windows.iter().zip(&jobs).enumerate() {
            if job.head {
                clips.push(ClipJob {
                    samples: &w.samples[..l.head_samples],
                    first: 0,
                    count: l.first_interior,
                    target: Target::Head(i),
                });
            }
            // Clip vector k is window vector k + body_offset / stft_hop.
            let shift = job.body_offset / l.stft_hop;
            clips.push(ClipJob {
                samples: &w.samples[job.body_offset..],
                first: job.body_first - shift,
                count: l.vectors - job.body_first,
                target: Target::Body(i),
            });
        }
        for (i, a) in warm.iter().enumerate() {
            clips.push(ClipJob {
                samples: a.samples,
                first: l.first_interior,
                count: l.interior_of_clip(a.samples.len()),
                target: Target::Warm(i),
            });
        }
        let (vector_scores, rows) = score_clips(scorer, &clips)?;
        let (mut heads, mut bodies, mut warms) = (
            vec![(0, 0); windows.len()],
            vec![(0, 0); windows.len()],
            vec![(0, 0); warm.len()],
        );
        for (clip, range) in clips.iter().zip(rows) {
            match clip.target {
                Target::Head(i) => heads[i] = range,
                Target::Body(i) => bodies[i] = range,
                Target::Warm(i) => warms[i] = range,
            }
        }
        // Assemble in window order, moving the real caches as the plan did.
        let mut scores = Vec::with_capacity(windows.len());
        for (i, (w, job)) in windows.iter().zip(&jobs).enumerate() {
            let cache = self.caches.entry(w.stream).or_default();
            let (first, _) = interior_positions(&l, w.start);
            match cache.span.reuse(w.segment, first, hop).1 {
                Some(dropped) => drop(cache.scores.drain(..dropped.min(cache.scores.len()))),
                None => cache.scores.clear(),
            }
            let body = &vector_scores[bodies[i].0..bodies[i].1];
            // Body rows are window vectors body_first ..= vectors - 1.
            let new_interior = (l.last_interior + 1).saturating_sub(job.body_first);
            let skip = job.body_first.max(l.first_interior) - job.body_first;
            let appended = new_interior.saturating_sub(skip);
            cache
                .scores
                .extend(body.iter().skip(skip).take(appended).copied());
            cache.span.len = cache.scores.len();
            let head: &[f32] = if job.head {
                &vector_scores[heads[i].0..heads[i].1]
            } else {
                &body[..l.first_interior.saturating_sub(job.body_first)]
            };
            let tail = &body[body.len() - (l.vectors - 1 - l.last_interior)..];
            if cache.scores.len() < l.interior() || head.len() != l.first_interior {
                return Err(HarkError::invalid(
                    "monitor",
                    format!(
                        "incremental scoring lost track of stream {}'s vectors ({} of {} \
                         interior held)",
                        w.stream,
                        cache.scores.len(),
                        l.interior()
                    ),
                ));
            }
            let sum = head
                .iter()
                .chain(cache.scores.iter().take(l.interior()))
                .chain(tail)
                .map(|&v| f64::from(v))
                .sum::<f64>();
            scores.push(sum / l.vectors as f64);
        }
        for (a, range) in warm.iter().zip(warms) {
            let cache = self.caches.entry(a.stream).or_default();
            let first = a.start + l.first_interior as u64 * hop;
            let span = cache.span;
            let continues = span.len > 0
                && span.segment == a.segment
                && span.base + span.len as u64 * hop == first;
            if !continues {
                cache.scores.clear();
                cache.span = Span {
                    segment: a.segment,
                    base: first,
                    len: 0,
                };
            }
            cache
                .scores
                .extend(vector_scores[range.0..range.1].iter().copied());
            // Vectors reading audio the stream no longer holds belong to no future window.
            while !cache.scores.is_empty() && cache.span.base < a.held_from + l.pad as u64 {
                cache.scores.pop_front();
                cache.span.base += hop;
            }
            cache.span.len = cache.scores.len();
        }
        Ok(scores)
    }

    /// Forgets the cached vectors of `stream`.
    pub fn forget(&mut self, stream: usize) {
        self.caches.remove(&stream);
    }
}

/// Timeline positions of the first and last interior vector of the window starting at `start`.
fn interior_positions(l: &VectorLayout, start: u64) -> (u64, u64) {
    let hop = l.stft_hop as u64;
    (
        start + l.first_interior as u64 * hop,
        start + l.last_interior as u64 * hop,
    )
}

/// Rows `start..end` of the batched vectors.
type RowRange = (usize, usize);

/// Runs `clips` through the scorer's front end, batched by length (zero-padded up to a
/// multiple of [`LENGTH_BUCKET`]), and the wanted vectors of all of them through one model
/// call; returns the vector scores and each clip's row range in them.
fn score_clips(
    scorer: &mut dyn VectorMeanScorer,
    clips: &[ClipJob],
) -> Result<(Vec<f32>, Vec<RowRange>)> {
    let extractor = scorer.extractor();
    let dims = extractor.spec().context * extractor.spec().n_mels;
    let mut by_length: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, clip) in clips.iter().enumerate() {
        let len = clip.samples.len().div_ceil(LENGTH_BUCKET).max(1) * LENGTH_BUCKET;
        match by_length.iter_mut().find(|(n, _)| *n == len) {
            Some((_, group)) => group.push(i),
            None => by_length.push((len, vec![i])),
        }
    }
    let mut rows = vec![(0, 0); clips.len()];
    let mut vectors: Vec<f32> = Vec::new();
    for (len, group) in &by_length {
        for batch in group.chunks((EXTRACT_SAMPLES / len).max(1)) {
            let padded: Vec<Vec<f32>> = batch
                .iter()
                .map(|&i| {
                    let mut samples = clips[i].samples.to_vec();
                    samples.resize(*len, 0.0);
                    samples
                })
                .collect();
            let features = extractor.extract(&padded)?;
            let count = features.shape.first().copied().unwrap_or(0);
            for (k, &i) in batch.iter().enumerate() {
                let (first, end) = (clips[i].first, clips[i].first + clips[i].count);
                if end > count {
                    return Err(HarkError::invalid(
                        "monitor",
                        format!("vectors {first}..{end} of a clip with {count}"),
                    ));
                }
                let row0 = vectors.len() / dims;
                vectors.extend_from_slice(&features.clip(k)[first * dims..end * dims]);
                rows[i] = (row0, row0 + end - first);
            }
        }
    }
    let scores = if vectors.is_empty() {
        Vec::new()
    } else {
        scorer.vector_scores(&vectors)?
    };
    if scores.len() * dims != vectors.len() {
        return Err(HarkError::invalid(
            "monitor",
            format!(
                "{} returned {} vector scores for {} vectors",
                scorer.name(),
                scores.len(),
                vectors.len() / dims.max(1)
            ),
        ));
    }
    Ok((scores, rows))
}

#[cfg(test)]
mod tests {
    use super::{Span, VectorLayout};
    use crate::features::pipeline::{FeatureKind, FeatureSpec};

    #[test]
    fn the_dcase_layout_has_one_head_and_one_tail_vector() {
        let spec = FeatureSpec::dcase(FeatureKind::Dcase640);
        // 10 s: 313 frames, 309 vectors; frame 0 and frame 312 touch the padding.
        let l = VectorLayout::new(&spec, 160_000).unwrap();
        assert_eq!(
            (l.vectors, l.first_interior, l.last_interior, l.head_samples),
            (309, 1, 307, 2560)
        );
        // A whole number of STFT hops: frames 0 and 320, 321 vectors, 316 interior.
        let l = VectorLayout::new(&spec, 163_840).unwrap();
        assert_eq!(
            (l.vectors, l.first_interior, l.last_interior),
            (317, 1, 315)
        );
        assert_eq!(l.round_hop(16_000), 15_872);
        assert_eq!(l.round_hop(16_384), 16_384);
        assert_eq!(l.round_hop(100), 512);
        // Too short for an interior vector.
        assert!(VectorLayout::new(&spec, 2_048).is_none());
        let logmel = FeatureSpec::dcase(FeatureKind::Logmel);
        assert!(VectorLayout::new(&logmel, 160_000).is_none());
    }

    #[test]
    fn a_span_reuses_only_contiguous_vectors_of_its_segment() {
        let mut span = Span::default();
        assert_eq!(span.reuse(0, 512, 512), (512, None));
        span.extend_to(512 * 10, 512);
        assert_eq!(span.len, 10);
        // The next window, 3 hops on: 3 dropped, new ones from the old end.
        assert_eq!(span.reuse(0, 512 * 4, 512), (512 * 11, Some(3)));
        // Another segment (a gap), a misaligned start or a hole: emptied.
        assert_eq!(span.reuse(1, 512 * 5, 512), (512 * 5, None));
        span.extend_to(512 * 6, 512);
        assert_eq!(span.reuse(1, 512 * 5 + 7, 512).1, None);
        span.extend_to(512 * 6 + 7, 512);
        assert_eq!(span.reuse(1, 512 * 20, 512).1, None);
    }
}
