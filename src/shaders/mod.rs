//! The one list of hark's shaders. Every `.wgsl` file under `shaders/` appears here exactly once,
//! in [`Shader::ALL`] or, for the shared preludes under `shaders/common/` that shaders pull in
//! with `#import`, in [`PRELUDES`] (a test checks both directions), so a kernel's name leads to
//! its source.

pub mod preprocess;

use std::sync::OnceLock;

/// A shared WGSL file that shaders include with `#import common/....wgsl`; never compiled alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prelude {
    /// Path relative to `shaders/`, as `#import` names it.
    pub path: &'static str,
    /// The file's text, compiled into the crate.
    pub source: &'static str,
}

macro_rules! prelude {
    ($path:literal) => {
        Prelude {
            path: $path,
            source: include_str!(concat!("../../shaders/", $path)),
        }
    };
}

/// Every prelude file, in a stable order.
pub const PRELUDES: &[Prelude] = &[
    prelude!("common/batchnorm_params.wgsl"),
    prelude!("common/cmul.wgsl"),
    prelude!("common/conv1d_params.wgsl"),
    prelude!("common/conv2d_params.wgsl"),
    prelude!("common/elementwise_loss.wgsl"),
    prelude!("common/fast_div.wgsl"),
    prelude!("common/flow_entries.wgsl"),
    prelude!("common/frame_sample.wgsl"),
    prelude!("common/group_id.wgsl"),
    prelude!("common/im2col_params.wgsl"),
    prelude!("common/loss_params.wgsl"),
    prelude!("common/mask_apply_params.wgsl"),
    prelude!("common/matmul_common.wgsl"),
    prelude!("common/pool_params.wgsl"),
    prelude!("common/prelu_group_norm_params.wgsl"),
    prelude!("common/sigmoid.wgsl"),
    prelude!("common/stats_pool_params.wgsl"),
    prelude!("common/workgroup_max.wgsl"),
    prelude!("common/workgroup_sum.wgsl"),
];

/// The text of the prelude at `path` (relative to `shaders/`), if there is one.
pub fn prelude_source(path: &str) -> Option<&'static str> {
    PRELUDES.iter().find(|p| p.path == path).map(|p| p.source)
}

/// A WGSL shader module shipped with hark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shader {
    /// `shaders/elementwise/binary.wgsl`: add and mul of two tensors of one shape.
    ElementwiseBinary,
    /// `shaders/elementwise/unary.wgsl`: scale, ReLU, LeakyReLU, sigmoid, tanh.
    ElementwiseUnary,
    /// `shaders/elementwise/prelu.wgsl`: PReLU with one slope per channel.
    ElementwisePrelu,
    /// `shaders/elementwise/copy_columns.wgsl`: a block of columns copied between matrices.
    ElementwiseCopyColumns,
    /// `shaders/reduce/reduce_axis.wgsl`: sum, mean, max along one axis.
    ReduceAxis,
    /// `shaders/reduce/mean_var.wgsl`: mean and (biased) variance along one axis.
    ReduceMeanVar,
    /// `shaders/reduce/stats_pool.wgsl`: x-vector statistics pooling (mean and std over time).
    ReduceStatsPool,
    /// `shaders/reduce/stats_pool_backward.wgsl`: gradient of statistics pooling.
    ReduceStatsPoolBackward,
    /// `shaders/softmax/softmax.wgsl`: softmax along one axis.
    Softmax,
    /// `shaders/matmul/matmul.wgsl`: batched tiled matmul with bias and activation epilogue.
    Matmul,
    /// `shaders/matmul/matmul_vec4.wgsl`: the matmul on 16-byte loads and stores (rows of whole vec4s).
    MatmulVec4,
    /// `shaders/features/log_compress.wgsl`: 10 log10 or ln of max(x, eps).
    FeaturesLogCompress,
    /// `shaders/features/mean_normalize.wgsl`: temporal mean subtraction per bin.
    FeaturesMeanNormalize,
    /// `shaders/features/frame_stack.wgsl`: consecutive frames concatenated into vectors.
    FeaturesFrameStack,
    /// `shaders/features/standardize.wgsl`: per-clip zero mean, unit variance.
    FeaturesStandardize,
    /// `shaders/features/mel_banded.wgsl`: the mel filterbank as runs of non-zero weights (+ log).
    FeaturesMelBanded,
    /// `shaders/fft/fft_stage.wgsl`: one radix-2/3/4/5 Stockham stage of a batched complex FFT.
    FftStage,
    /// `shaders/fft/bluestein.wgsl`: chirp multiplies and pointwise product of Bluestein's FFT.
    Bluestein,
    /// `shaders/fft/rfft_post.wgsl`: one-sided real-FFT spectra from complex FFTs.
    RfftPost,
    /// `shaders/fft/rfft_workgroup.wgsl`: fused framing + power-of-two real FFT in workgroup memory.
    RfftWorkgroup,
    /// `shaders/stft/stft_frame.wgsl`: framing, padding and Hann window into FFT input.
    StftFrame,
    /// `shaders/batchnorm/batchnorm.wgsl`: BatchNorm (train statistics, running averages, eval) with a fused ReLU.
    BatchNorm,
    /// `shaders/batchnorm/batchnorm_backward.wgsl`: backward of BatchNorm (+ ReLU).
    BatchNormBackward,
    /// `shaders/loss/mse.wgsl`: per-row mean squared error and its gradient.
    LossMse,
    /// `shaders/optim/adam.wgsl`: one Adam / AdamW step over a parameter tensor.
    OptimAdam,
    /// `shaders/optim/grad_norm.wgsl`: global gradient norm and the clipping scale.
    OptimGradNorm,
    /// `shaders/conv1d/conv1d.wgsl`: conv1d forward (stride, padding, dilation, groups, bias).
    Conv1d,
    /// `shaders/conv1d/conv1d_backward_input.wgsl`: conv1d input gradient (conv_transpose1d forward).
    Conv1dBackwardInput,
    /// `shaders/conv1d/conv1d_backward_weight.wgsl`: conv1d weight gradient, workgroup reduction.
    Conv1dBackwardWeight,
    /// `shaders/conv1d/conv1d_backward_bias.wgsl`: conv1d bias gradient, workgroup reduction.
    Conv1dBackwardBias,
    /// `shaders/conv2d/conv2d.wgsl`: direct 2-D convolution (stride, padding, groups, bias).
    Conv2d,
    /// `shaders/conv2d/conv2d_backward_input.wgsl`: conv2d input gradient as a gather.
    Conv2dBackwardInput,
    /// `shaders/conv2d/conv2d_backward_weight.wgsl`: conv2d weight gradient, workgroup sums.
    Conv2dBackwardWeight,
    /// `shaders/conv2d/conv2d_backward_bias.wgsl`: conv2d bias gradient, workgroup sums.
    Conv2dBackwardBias,
    /// `shaders/im2col/im2col.wgsl`: conv input unfolded to a channel-major `[C*KH*KW, N*OH*OW]`.
    Im2col,
    /// `shaders/im2col/col2im.wgsl`: im2col's adjoint as a gather (conv input gradient).
    Col2im,
    /// `shaders/im2col/swap_batch_channel.wgsl`: `[A, B, P]` -> `[B, A, P]`.
    SwapBatchChannel,
    /// `shaders/pool/max_pool2d.wgsl`: 2-D (and 1-D) max pooling saving argmax indices.
    MaxPool2d,
    /// `shaders/pool/max_pool2d_backward.wgsl`: max-pool gradient gathered over inputs.
    MaxPool2dBackward,
    /// `shaders/norm/layer_norm.wgsl`: LayerNorm over one axis, forward and backward.
    NormLayerNorm,
    /// `shaders/norm/group_norm.wgsl`: GroupNorm (one group = gLN), forward and backward.
    NormGroupNorm,
    /// `shaders/norm/prelu_group_norm_stats.wgsl`: fused PReLU + GroupNorm, per-chunk partial statistics.
    NormPreluGroupNormStats,
    /// `shaders/norm/group_norm_finalize.wgsl`: fused PReLU + GroupNorm, chunk statistics combined per block.
    NormGroupNormFinalize,
    /// `shaders/norm/prelu_group_norm_apply.wgsl`: fused PReLU + GroupNorm, elementwise normalisation.
    NormPreluGroupNormApply,
    /// `shaders/activation/softplus.wgsl`: softplus with beta and torch's threshold.
    ActivationSoftplus,
    /// `shaders/activation/activation_backward.wgsl`: backward of LeakyReLU, sigmoid, tanh, softplus.
    ActivationBackward,
    /// `shaders/activation/prelu_backward.wgsl`: PReLU backward: input and slope gradients.
    ActivationPreluBackward,
    /// `shaders/loss/l1.wgsl`: L1 loss rows and gradient.
    LossL1,
    /// `shaders/loss/bce_with_logits.wgsl`: binary cross-entropy with logits, rows and gradient.
    LossBceWithLogits,
    /// `shaders/loss/cross_entropy.wgsl`: softmax cross-entropy with soft labels, rows and gradient.
    LossCrossEntropy,
    /// `shaders/loss/si_sdr.wgsl`: SI-SDR per row and its gradient.
    LossSiSdr,
    /// `shaders/loss/loss_mean.wgsl`: scaled sum of per-row losses into one value.
    LossMean,
    /// `shaders/loss/mixup.wgsl`: mixup of a batch with its reverse (inputs and labels).
    LossMixup,
    /// `shaders/loss/sc_adacos.wgsl`: sub-cluster AdaCos, its adaptive scale and gradients.
    LossScAdaCos,
    /// `shaders/loss/batch_hard_triplet.wgsl`: batch-hard triplet loss and its subgradient.
    LossBatchHardTriplet,
    /// `shaders/separation/mask_apply.wgsl`: per-source masks times shared encoder features.
    SeparationMaskApply,
    /// `shaders/separation/mask_apply_backward.wgsl`: gradients of the masking.
    SeparationMaskApplyBackward,
    /// `shaders/separation/resize_frames.wgsl`: zero-pad or crop the last axis.
    SeparationResizeFrames,
    /// `shaders/knn/normalize_rows.wgsl`: row L2 norms and normalised rows (f32 or packed f16 out).
    KnnNormalizeRows,
    /// `shaders/knn/similarity.wgsl`: query x database score tile (dot or minus squared L2; f32 or f16 database).
    KnnSimilarity,
    /// `shaders/knn/topk_select.wgsl`: per-query top-k of a score tile merged into a running list.
    KnnTopkSelect,
    /// `shaders/knn/centroid_update.wgsl`: k-means centroid means from assignments.
    KnnCentroidUpdate,
    /// `shaders/flow/coupling.wgsl`: FrEIA affine coupling (soft clamp), forward, inverse, backward.
    FlowCoupling,
    /// `shaders/flow/global_affine.wgsl`: softplus-scaled global affine with its log-det.
    FlowGlobalAffine,
    /// `shaders/flow/channel_gather.wgsl`: channel gather (permutation, split) and scatter-add.
    FlowChannelGather,
    /// `shaders/flow/nll.wgsl`: flow negative log-likelihood (with shifted latents) and gradient.
    FlowNll,
}

impl Shader {
    /// Every shader, in a stable order.
    pub const ALL: &'static [Shader] = &[
        Shader::ElementwiseBinary,
        Shader::ElementwiseUnary,
        Shader::ElementwisePrelu,
        Shader::ElementwiseCopyColumns,
        Shader::ReduceAxis,
        Shader::ReduceMeanVar,
        Shader::ReduceStatsPool,
        Shader::ReduceStatsPoolBackward,
        Shader::Softmax,
        Shader::Matmul,
        Shader::MatmulVec4,
        Shader::FeaturesLogCompress,
        Shader::FeaturesMeanNormalize,
        Shader::FeaturesFrameStack,
        Shader::FeaturesStandardize,
        Shader::FeaturesMelBanded,
        Shader::FftStage,
        Shader::Bluestein,
        Shader::RfftPost,
        Shader::RfftWorkgroup,
        Shader::StftFrame,
        Shader::BatchNorm,
        Shader::BatchNormBackward,
        Shader::LossMse,
        Shader::OptimAdam,
        Shader::OptimGradNorm,
        Shader::Conv1d,
        Shader::Conv1dBackwardInput,
        Shader::Conv1dBackwardWeight,
        Shader::Conv1dBackwardBias,
        Shader::Conv2d,
        Shader::Conv2dBackwardInput,
        Shader::Conv2dBackwardWeight,
        Shader::Conv2dBackwardBias,
        Shader::Im2col,
        Shader::Col2im,
        Shader::SwapBatchChannel,
        Shader::MaxPool2d,
        Shader::MaxPool2dBackward,
        Shader::NormLayerNorm,
        Shader::NormGroupNorm,
        Shader::NormPreluGroupNormStats,
        Shader::NormGroupNormFinalize,
        Shader::NormPreluGroupNormApply,
        Shader::ActivationSoftplus,
        Shader::ActivationBackward,
        Shader::ActivationPreluBackward,
        Shader::LossL1,
        Shader::LossBceWithLogits,
        Shader::LossCrossEntropy,
        Shader::LossSiSdr,
        Shader::LossMean,
        Shader::LossMixup,
        Shader::LossScAdaCos,
        Shader::LossBatchHardTriplet,
        Shader::SeparationMaskApply,
        Shader::SeparationMaskApplyBackward,
        Shader::SeparationResizeFrames,
        Shader::KnnNormalizeRows,
        Shader::KnnSimilarity,
        Shader::KnnTopkSelect,
        Shader::KnnCentroidUpdate,
        Shader::FlowCoupling,
        Shader::FlowGlobalAffine,
        Shader::FlowChannelGather,
        Shader::FlowNll,
    ];

    /// Path relative to `shaders/`.
    pub const fn path(self) -> &'static str {
        match self {
            Shader::ElementwiseBinary => "elementwise/binary.wgsl",
            Shader::ElementwiseUnary => "elementwise/unary.wgsl",
            Shader::ElementwisePrelu => "elementwise/prelu.wgsl",
            Shader::ElementwiseCopyColumns => "elementwise/copy_columns.wgsl",
            Shader::ReduceAxis => "reduce/reduce_axis.wgsl",
            Shader::ReduceMeanVar => "reduce/mean_var.wgsl",
            Shader::ReduceStatsPool => "reduce/stats_pool.wgsl",
            Shader::ReduceStatsPoolBackward => "reduce/stats_pool_backward.wgsl",
            Shader::Softmax => "softmax/softmax.wgsl",
            Shader::Matmul => "matmul/matmul.wgsl",
            Shader::MatmulVec4 => "matmul/matmul_vec4.wgsl",
            Shader::FeaturesLogCompress => "features/log_compress.wgsl",
            Shader::FeaturesMeanNormalize => "features/mean_normalize.wgsl",
            Shader::FeaturesFrameStack => "features/frame_stack.wgsl",
            Shader::FeaturesStandardize => "features/standardize.wgsl",
            Shader::FeaturesMelBanded => "features/mel_banded.wgsl",
            Shader::FftStage => "fft/fft_stage.wgsl",
            Shader::Bluestein => "fft/bluestein.wgsl",
            Shader::RfftPost => "fft/rfft_post.wgsl",
            Shader::RfftWorkgroup => "fft/rfft_workgroup.wgsl",
            Shader::StftFrame => "stft/stft_frame.wgsl",
            Shader::BatchNorm => "batchnorm/batchnorm.wgsl",
            Shader::BatchNormBackward => "batchnorm/batchnorm_backward.wgsl",
            Shader::LossMse => "loss/mse.wgsl",
            Shader::OptimAdam => "optim/adam.wgsl",
            Shader::OptimGradNorm => "optim/grad_norm.wgsl",
            Shader::Conv1d => "conv1d/conv1d.wgsl",
            Shader::Conv1dBackwardInput => "conv1d/conv1d_backward_input.wgsl",
            Shader::Conv1dBackwardWeight => "conv1d/conv1d_backward_weight.wgsl",
            Shader::Conv1dBackwardBias => "conv1d/conv1d_backward_bias.wgsl",
            Shader::Conv2d => "conv2d/conv2d.wgsl",
            Shader::Conv2dBackwardInput => "conv2d/conv2d_backward_input.wgsl",
            Shader::Conv2dBackwardWeight => "conv2d/conv2d_backward_weight.wgsl",
            Shader::Conv2dBackwardBias => "conv2d/conv2d_backward_bias.wgsl",
            Shader::Im2col => "im2col/im2col.wgsl",
            Shader::Col2im => "im2col/col2im.wgsl",
            Shader::SwapBatchChannel => "im2col/swap_batch_channel.wgsl",
            Shader::MaxPool2d => "pool/max_pool2d.wgsl",
            Shader::MaxPool2dBackward => "pool/max_pool2d_backward.wgsl",
            Shader::NormLayerNorm => "norm/layer_norm.wgsl",
            Shader::NormGroupNorm => "norm/group_norm.wgsl",
            Shader::NormPreluGroupNormStats => "norm/prelu_group_norm_stats.wgsl",
            Shader::NormGroupNormFinalize => "norm/group_norm_finalize.wgsl",
            Shader::NormPreluGroupNormApply => "norm/prelu_group_norm_apply.wgsl",
            Shader::ActivationSoftplus => "activation/softplus.wgsl",
            Shader::ActivationBackward => "activation/activation_backward.wgsl",
            Shader::ActivationPreluBackward => "activation/prelu_backward.wgsl",
            Shader::LossL1 => "loss/l1.wgsl",
            Shader::LossBceWithLogits => "loss/bce_with_logits.wgsl",
            Shader::LossCrossEntropy => "loss/cross_entropy.wgsl",
            Shader::LossSiSdr => "loss/si_sdr.wgsl",
            Shader::LossMean => "loss/loss_mean.wgsl",
            Shader::LossMixup => "loss/mixup.wgsl",
            Shader::LossScAdaCos => "loss/sc_adacos.wgsl",
            Shader::LossBatchHardTriplet => "loss/batch_hard_triplet.wgsl",
            Shader::SeparationMaskApply => "separation/mask_apply.wgsl",
            Shader::SeparationMaskApplyBackward => "separation/mask_apply_backward.wgsl",
            Shader::SeparationResizeFrames => "separation/resize_frames.wgsl",
            Shader::KnnNormalizeRows => "knn/normalize_rows.wgsl",
            Shader::KnnSimilarity => "knn/similarity.wgsl",
            Shader::KnnTopkSelect => "knn/topk_select.wgsl",
            Shader::KnnCentroidUpdate => "knn/centroid_update.wgsl",
            Shader::FlowCoupling => "flow/coupling.wgsl",
            Shader::FlowGlobalAffine => "flow/global_affine.wgsl",
            Shader::FlowChannelGather => "flow/channel_gather.wgsl",
            Shader::FlowNll => "flow/nll.wgsl",
        }
    }

    /// The WGSL source with its `#import`s expanded: what the GPU compiles. Expanded once, at
    /// first use.
    pub fn source(self) -> &'static str {
        static EXPANDED: [OnceLock<String>; Shader::ALL.len()] =
            [const { OnceLock::new() }; Shader::ALL.len()];
        EXPANDED[self as usize].get_or_init(|| {
            preprocess::expand(self.path(), self.raw_source(), prelude_source)
                .unwrap_or_else(|e| panic!("shader {} does not expand: {e}", self.path()))
        })
    }

    /// The WGSL source as written in its file, `#import` lines included, compiled into the crate.
    pub const fn raw_source(self) -> &'static str {
        match self {
            Shader::ElementwiseBinary => include_str!("../../shaders/elementwise/binary.wgsl"),
            Shader::ElementwiseUnary => include_str!("../../shaders/elementwise/unary.wgsl"),
            Shader::ElementwisePrelu => include_str!("../../shaders/elementwise/prelu.wgsl"),
            Shader::ElementwiseCopyColumns => {
                include_str!("../../shaders/elementwise/copy_columns.wgsl")
            }
            Shader::ReduceAxis => include_str!("../../shaders/reduce/reduce_axis.wgsl"),
            Shader::ReduceMeanVar => include_str!("../../shaders/reduce/mean_var.wgsl"),
            Shader::ReduceStatsPool => include_str!("../../shaders/reduce/stats_pool.wgsl"),
            Shader::ReduceStatsPoolBackward => {
                include_str!("../../shaders/reduce/stats_pool_backward.wgsl")
            }
            Shader::Softmax => include_str!("../../shaders/softmax/softmax.wgsl"),
            Shader::Matmul => include_str!("../../shaders/matmul/matmul.wgsl"),
            Shader::MatmulVec4 => include_str!("../../shaders/matmul/matmul_vec4.wgsl"),
            Shader::FeaturesLogCompress => include_str!("../../shaders/features/log_compress.wgsl"),
            Shader::FeaturesMeanNormalize => {
                include_str!("../../shaders/features/mean_normalize.wgsl")
            }
            Shader::FeaturesFrameStack => include_str!("../../shaders/features/frame_stack.wgsl"),
            Shader::FeaturesStandardize => include_str!("../../shaders/features/standardize.wgsl"),
            Shader::FeaturesMelBanded => include_str!("../../shaders/features/mel_banded.wgsl"),
            Shader::FftStage => include_str!("../../shaders/fft/fft_stage.wgsl"),
            Shader::Bluestein => include_str!("../../shaders/fft/bluestein.wgsl"),
            Shader::RfftPost => include_str!("../../shaders/fft/rfft_post.wgsl"),
            Shader::RfftWorkgroup => include_str!("../../shaders/fft/rfft_workgroup.wgsl"),
            Shader::StftFrame => include_str!("../../shaders/stft/stft_frame.wgsl"),
            Shader::BatchNorm => include_str!("../../shaders/batchnorm/batchnorm.wgsl"),
            Shader::BatchNormBackward => {
                include_str!("../../shaders/batchnorm/batchnorm_backward.wgsl")
            }
            Shader::LossMse => include_str!("../../shaders/loss/mse.wgsl"),
            Shader::OptimAdam => include_str!("../../shaders/optim/adam.wgsl"),
            Shader::OptimGradNorm => include_str!("../../shaders/optim/grad_norm.wgsl"),
            Shader::Conv1d => include_str!("../../shaders/conv1d/conv1d.wgsl"),
            Shader::Conv1dBackwardInput => {
                include_str!("../../shaders/conv1d/conv1d_backward_input.wgsl")
            }
            Shader::Conv1dBackwardWeight => {
                include_str!("../../shaders/conv1d/conv1d_backward_weight.wgsl")
            }
            Shader::Conv1dBackwardBias => {
                include_str!("../../shaders/conv1d/conv1d_backward_bias.wgsl")
            }
            Shader::Conv2d => include_str!("../../shaders/conv2d/conv2d.wgsl"),
            Shader::Conv2dBackwardInput => {
                include_str!("../../shaders/conv2d/conv2d_backward_input.wgsl")
            }
            Shader::Conv2dBackwardWeight => {
                include_str!("../../shaders/conv2d/conv2d_backward_weight.wgsl")
            }
            Shader::Conv2dBackwardBias => {
                include_str!("../../shaders/conv2d/conv2d_backward_bias.wgsl")
            }
            Shader::Im2col => include_str!("../../shaders/im2col/im2col.wgsl"),
            Shader::Col2im => include_str!("../../shaders/im2col/col2im.wgsl"),
            Shader::SwapBatchChannel => {
                include_str!("../../shaders/im2col/swap_batch_channel.wgsl")
            }
            Shader::MaxPool2d => include_str!("../../shaders/pool/max_pool2d.wgsl"),
            Shader::MaxPool2dBackward => {
                include_str!("../../shaders/pool/max_pool2d_backward.wgsl")
            }
            Shader::NormLayerNorm => include_str!("../../shaders/norm/layer_norm.wgsl"),
            Shader::NormGroupNorm => include_str!("../../shaders/norm/group_norm.wgsl"),
            Shader::NormPreluGroupNormStats => {
                include_str!("../../shaders/norm/prelu_group_norm_stats.wgsl")
            }
            Shader::NormGroupNormFinalize => {
                include_str!("../../shaders/norm/group_norm_finalize.wgsl")
            }
            Shader::NormPreluGroupNormApply => {
                include_str!("../../shaders/norm/prelu_group_norm_apply.wgsl")
            }
            Shader::ActivationSoftplus => include_str!("../../shaders/activation/softplus.wgsl"),
            Shader::ActivationBackward => {
                include_str!("../../shaders/activation/activation_backward.wgsl")
            }
            Shader::ActivationPreluBackward => {
                include_str!("../../shaders/activation/prelu_backward.wgsl")
            }
            Shader::LossL1 => include_str!("../../shaders/loss/l1.wgsl"),
            Shader::LossBceWithLogits => include_str!("../../shaders/loss/bce_with_logits.wgsl"),
            Shader::LossCrossEntropy => include_str!("../../shaders/loss/cross_entropy.wgsl"),
            Shader::LossSiSdr => include_str!("../../shaders/loss/si_sdr.wgsl"),
            Shader::LossMean => include_str!("../../shaders/loss/loss_mean.wgsl"),
            Shader::LossMixup => include_str!("../../shaders/loss/mixup.wgsl"),
            Shader::LossScAdaCos => include_str!("../../shaders/loss/sc_adacos.wgsl"),
            Shader::LossBatchHardTriplet => {
                include_str!("../../shaders/loss/batch_hard_triplet.wgsl")
            }
            Shader::SeparationMaskApply => include_str!("../../shaders/separation/mask_apply.wgsl"),
            Shader::SeparationMaskApplyBackward => {
                include_str!("../../shaders/separation/mask_apply_backward.wgsl")
            }
            Shader::SeparationResizeFrames => {
                include_str!("../../shaders/separation/resize_frames.wgsl")
            }
            Shader::KnnNormalizeRows => include_str!("../../shaders/knn/normalize_rows.wgsl"),
            Shader::KnnSimilarity => include_str!("../../shaders/knn/similarity.wgsl"),
            Shader::KnnTopkSelect => include_str!("../../shaders/knn/topk_select.wgsl"),
            Shader::KnnCentroidUpdate => include_str!("../../shaders/knn/centroid_update.wgsl"),
            Shader::FlowCoupling => include_str!("../../shaders/flow/coupling.wgsl"),
            Shader::FlowGlobalAffine => include_str!("../../shaders/flow/global_affine.wgsl"),
            Shader::FlowChannelGather => include_str!("../../shaders/flow/channel_gather.wgsl"),
            Shader::FlowNll => include_str!("../../shaders/flow/nll.wgsl"),
        }
    }
}

/// Byte size naga computes for the struct `name` in `shader`, so that a test holds each host
/// parameter struct to its WGSL twin ("keep in sync" checked, not just hoped for).
#[cfg(test)]
pub(crate) fn wgsl_struct_size(shader: Shader, name: &str) -> Option<usize> {
    let module = naga::front::wgsl::parse_str(shader.source()).ok()?;
    let size = module.types.iter().find_map(|(_, ty)| match &ty.inner {
        naga::TypeInner::Struct { span, .. } if ty.name.as_deref() == Some(name) => {
            Some(*span as usize)
        }
        _ => None,
    });
    size
}

/// Asserts that the host struct `T` has the byte size naga computes for the WGSL struct `name`
/// in `shader`.
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_params_match<T>(shader: Shader, name: &str) {
    assert_eq!(
        Some(std::mem::size_of::<T>()),
        wgsl_struct_size(shader, name),
        "{} in {shader:?}",
        std::any::type_name::<T>()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_declaration_order() {
        // `source` indexes its cache by the discriminant.
        for (i, shader) in Shader::ALL.iter().enumerate() {
            assert_eq!(*shader as usize, i, "{shader:?}");
        }
    }

    #[test]
    fn every_shader_expands() {
        for shader in Shader::ALL {
            let left = shader.source().lines().find_map(preprocess::import_path);
            assert_eq!(left, None, "{}: an #import line is left", shader.path());
        }
    }
}
