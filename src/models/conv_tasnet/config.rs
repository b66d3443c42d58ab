//! Conv-TasNet's hyper-parameters, named as torchaudio names them.

use crate::error::{HarkError, Result};
use crate::io::checkpoint::MAX_MODEL_VALUES;

/// The activation that turns the mask generator's output into masks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskActivation {
    Sigmoid,
    Relu,
}

impl MaskActivation {
    /// torchaudio's `msk_activate` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sigmoid => "sigmoid",
            Self::Relu => "relu",
        }
    }

    /// The activation named as torchaudio's `msk_activate`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sigmoid" => Some(Self::Sigmoid),
            "relu" => Some(Self::Relu),
            _ => None,
        }
    }
}

/// `torchaudio.models.ConvTasNet(num_sources, enc_kernel_size, enc_num_feats, msk_kernel_size,
/// msk_num_feats, msk_num_hidden_feats, msk_num_layers, msk_num_stacks, msk_activate)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTasNetConfig {
    /// Output sources.
    pub sources: usize,
    /// L: encoder/decoder kernel; the stride is L / 2.
    pub enc_kernel: usize,
    /// N: encoder features.
    pub enc_feats: usize,
    /// P: kernel of the depthwise convolutions.
    pub msk_kernel: usize,
    /// B = Sc: features in and out of the conv blocks.
    pub msk_feats: usize,
    /// H: hidden features of the conv blocks.
    pub msk_hidden: usize,
    /// X: conv blocks per stack (dilations 1, 2, ..., 2^(X-1)).
    pub msk_layers: usize,
    /// R: stacks.
    pub msk_stacks: usize,
    pub mask: MaskActivation,
}

impl Default for ConvTasNetConfig {
    /// The Conv-TasNet paper's best non-causal configuration (N=512, L=16, B=Sc=128, H=512,
    /// P=3, X=8, R=3, sigmoid mask) with one output source, as the separation-based ASD paper
    /// uses it.
    fn default() -> Self {
        Self {
            sources: 1,
            enc_kernel: 16,
            enc_feats: 512,
            msk_kernel: 3,
            msk_feats: 128,
            msk_hidden: 512,
            msk_layers: 8,
            msk_stacks: 3,
            mask: MaskActivation::Sigmoid,
        }
    }
}

impl std::fmt::Display for ConvTasNetConfig {
    /// `sources 1, N 512, L 16, B 128, H 512, P 3, X 8, R 3, sigmoid mask`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sources {}, N {}, L {}, B {}, H {}, P {}, X {}, R {}, {} mask",
            self.sources,
            self.enc_feats,
            self.enc_kernel,
            self.msk_feats,
            self.msk_hidden,
            self.msk_kernel,
            self.msk_layers,
            self.msk_stacks,
            self.mask.name()
        )
    }
}

impl ConvTasNetConfig {
    /// Encoder stride (L / 2).
    pub fn stride(&self) -> usize {
        self.enc_kernel / 2
    }

    /// Checks that every size is usable (torchaudio would fail later, inside a convolution).
    pub fn validate(&self) -> Result<()> {
        let sizes = [
            ("sources", self.sources),
            ("enc_feats (N)", self.enc_feats),
            ("msk_kernel (P)", self.msk_kernel),
            ("msk_feats (B)", self.msk_feats),
            ("msk_hidden (H)", self.msk_hidden),
            ("msk_layers (X)", self.msk_layers),
            ("msk_stacks (R)", self.msk_stacks),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return Err(HarkError::invalid("conv_tasnet", format!("{name} is 0")));
        }
        if self.enc_kernel < 2 {
            return Err(HarkError::invalid(
                "conv_tasnet",
                format!("enc_kernel (L) {} must be at least 2", self.enc_kernel),
            ));
        }
        if self.msk_kernel.is_multiple_of(2) {
            // padding = dilation keeps the length only for odd kernels (torchaudio uses P = 3).
            return Err(HarkError::invalid(
                "conv_tasnet",
                format!("msk_kernel (P) {} must be odd", self.msk_kernel),
            ));
        }
        let params = self.parameters();
        if params > MAX_MODEL_VALUES {
            return Err(HarkError::invalid(
                "conv_tasnet",
                format!("{self} has {params} parameters, past hark's limit of {MAX_MODEL_VALUES}"),
            ));
        }
        if self.msk_layers > 16 {
            return Err(HarkError::invalid(
                "conv_tasnet",
                format!(
                    "msk_layers (X) {} gives dilations past 2^15",
                    self.msk_layers
                ),
            ));
        }
        Ok(())
    }

    /// Parameters of the model (saturating, so that sizes read from a hostile file cannot
    /// overflow): encoder and decoder N*L, mask generator 2N + (N+1)B + 1 + N*S*(B+1), each
    /// conv block H(B+1) + 2 + 4H + H(P+1) + 2B(H+1) (the last one B(H+1) less).
    pub fn parameters(&self) -> u64 {
        let [s, l, n, p, b, h, x, r] = [
            self.sources,
            self.enc_kernel,
            self.enc_feats,
            self.msk_kernel,
            self.msk_feats,
            self.msk_hidden,
            self.msk_layers,
            self.msk_stacks,
        ]
        .map(|v| v as u64);
        let mul = |a: u64, b: u64| a.saturating_mul(b);
        let add = |a: u64, b: u64| a.saturating_add(b);
        let codec = mul(2, mul(n, l));
        let generator = add(
            add(mul(2, n), mul(add(n, 1), b)),
            add(1, mul(mul(n, s), add(b, 1))),
        );
        let block = add(
            add(mul(h, add(b, 1)), add(2, mul(4, h))),
            add(mul(h, add(p, 1)), mul(mul(2, b), add(h, 1))),
        );
        add(add(codec, generator), mul(block, mul(x, r)))
    }

    /// Samples of zero padding at the end of a `len`-sample input, as torchaudio's
    /// `_align_num_frames_with_strides`.
    pub fn end_padding(&self, len: usize) -> usize {
        let stride = self.stride();
        let odd = self.enc_kernel % 2;
        if len < odd {
            return stride;
        }
        let remainder = (len - odd) % stride;
        if remainder == 0 {
            0
        } else {
            stride - remainder
        }
    }

    /// Encoder frames for a `len`-sample input (after the end padding).
    pub fn frames(&self, len: usize) -> usize {
        let padded = len + self.end_padding(len);
        (padded + 2 * self.stride() - self.enc_kernel) / self.stride() + 1
    }

    /// Number of state-dict tensors (343 for the default).
    pub fn state_dict_len(&self) -> usize {
        let blocks = self.msk_layers * self.msk_stacks;
        // encoder, decoder; input_norm 2, input_conv 2, output_prelu 1, output_conv 2;
        // per block 10 in conv_layers, res_out 2 (all but the last), skip_out 2.
        2 + 7 + blocks * 14 - 2
    }
}
