//! Front-end feature design shared by the GPU and CPU paths: the mel filterbank (librosa's
//! Slaney and HTK conventions). The kernels that apply it live in `kernels::features`.

pub mod mel;
