//! The integration tests, one module per kernel family, model or command, linked into one
//! binary: one link and one shared GPU device instead of one per file (47 binaries once
//! filled CI's disk and spent most of its time linking). Run one family with
//! `cargo test --test suite matmul::`.

mod activation;
mod batchnorm;
mod checkpoint;
mod cli_data;
mod cli_features;
mod conv1d;
mod conv2d;
mod conv_gemm;
mod conv_tasnet;
mod conv_tasnet_reference;
mod conv_tasnet_torchaudio;
mod dataset;
mod dataset_split;
mod elementwise;
mod embedding;
mod ensemble;
mod features;
mod fft;
mod flow;
mod frontend;
mod fuzz_loaders;
mod gmm;
mod knn;
mod loss;
mod loss_embedding;
mod matmul;
mod matmul_vec4;
mod metrics;
mod mobilenet;
mod nn;
mod nn_layers;
mod norm;
mod oe;
mod oe_flow;
mod oe_flow_input;
mod oe_gradients;
mod optim;
mod outputs;
mod plain_layout;
mod pool;
mod reduce;
mod runtime;
mod separation;
mod separation_train;
mod shaders;
mod softmax;
mod ssc;
mod stats_knn;
mod stats_pool;
mod stft;
mod synth;
mod wav;
