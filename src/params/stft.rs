//! Shared parameters of the `stft` kernels (see [`crate::params`]).

use crate::params::fft::{FftPath, SpectrumKind};

/// Padding of the clip before framing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Centering {
    /// `n_fft / 2` zeros on both sides (librosa >= 0.9 `center=True`, the default).
    #[default]
    Zero,
    /// `n_fft / 2` reflected samples on both sides (numpy `reflect`, torch's default).
    Reflect,
    /// No padding, frames only where the clip covers all `n_fft` samples (TensorFlow
    /// `pad_end=False`).
    None,
}

/// Options of [`stft`].
#[derive(Clone, Copy, Debug)]
pub struct StftOptions {
    pub n_fft: usize,
    pub hop: usize,
    pub center: Centering,
    pub output: SpectrumKind,
    /// FFT implementation (default: the fused workgroup kernel where it fits).
    pub path: FftPath,
}

impl Default for StftOptions {
    /// The DCASE baseline's configuration: n_fft 1024, hop 512, zero-padded centring, power.
    fn default() -> Self {
        Self {
            n_fft: 1024,
            hop: 512,
            center: Centering::Zero,
            output: SpectrumKind::Power,
            path: FftPath::Auto,
        }
    }
}

/// Frames of an STFT of a `len`-sample clip, as librosa and TensorFlow count them: centred,
/// `1 + (len + 2 (n_fft / 2) - n_fft) / hop` (that is `1 + len / hop` for even `n_fft`, also when
/// the clip is shorter than a frame); not centred, `1 + (len - n_fft) / hop`, and 0 when
/// `len < n_fft`. `hop` must be at least 1.
pub fn stft_frames(len: usize, n_fft: usize, hop: usize, center: Centering) -> usize {
    let hop = hop.max(1);
    let padded = match center {
        Centering::Zero | Centering::Reflect => len + 2 * (n_fft / 2),
        Centering::None => len,
    };
    match padded.checked_sub(n_fft) {
        Some(rest) => 1 + rest / hop,
        None => 0,
    }
}
