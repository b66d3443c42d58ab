//! Launcher for `shaders/elementwise/copy_columns.wgsl`: a block of columns copied between two
//! row-major matrices, and on it the concatenation of two `[rows, d]` matrices along columns
//! and its inverse, the split (a concat layer's forward and backward).

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::kernels::to_u32;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/elementwise/copy_columns.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct CopyColumnsParams {
    rows: u32,
    cols: u32,
    src_stride: u32,
    src_offset: u32,
    dst_stride: u32,
    dst_offset: u32,
}

/// One thread per copied element.
const WORKGROUP: u32 = 256;

static KERNEL: Kernel = Kernel {
    name: "copy_columns",
    shader: Shader::ElementwiseCopyColumns,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite],
};

/// Which columns: `cols` columns from `src_offset` of the source to `dst_offset` of the
/// destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnBlock {
    pub src_offset: usize,
    pub dst_offset: usize,
    pub cols: usize,
}

/// `[rows, cols]` of a matrix: dim 0 and the product of the rest.
fn rows_cols(what: &str, t: &Tensor) -> Result<(usize, usize)> {
    match t.shape() {
        [rows, rest @ ..] if !rest.is_empty() => Ok((*rows, rest.iter().product())),
        _ => Err(HarkError::shape(
            KERNEL.name,
            format!("{what} {:?} must be [rows, ...]", t.shape()),
        )),
    }
}

/// `dst[r, block.dst_offset + c] = src[r, block.src_offset + c]` for `c < block.cols`; both
/// matrices `[rows, ...]` (trailing axes flattened) with the same rows. Other columns of `dst`
/// are left unchanged. Errors: rows that differ, a block past either matrix's columns.
pub fn copy_columns(
    rec: &mut Recorder,
    src: &Tensor,
    dst: &Tensor,
    block: ColumnBlock,
) -> Result<()> {
    src.expect_dtype(KERNEL.name, DType::F32)?;
    dst.expect_dtype(KERNEL.name, DType::F32)?;
    let (rows, src_cols) = rows_cols("src", src)?;
    let (dst_rows, dst_cols) = rows_cols("dst", dst)?;
    if rows != dst_rows {
        return Err(HarkError::shape(
            KERNEL.name,
            format!(
                "src {:?} and dst {:?} differ in rows",
                src.shape(),
                dst.shape()
            ),
        ));
    }
    if block.src_offset + block.cols > src_cols || block.dst_offset + block.cols > dst_cols {
        return Err(HarkError::shape(
            KERNEL.name,
            format!(
                "{block:?} does not fit src {:?} and dst {:?}",
                src.shape(),
                dst.shape()
            ),
        ));
    }
    let n = to_u32(KERNEL.name, rows * block.cols)?;
    if n == 0 {
        return Ok(());
    }
    to_u32(KERNEL.name, rows * src_cols.max(dst_cols))?;
    let params = CopyColumnsParams {
        rows: rows as u32,
        cols: block.cols as u32,
        src_stride: src_cols as u32,
        src_offset: block.src_offset as u32,
        dst_stride: dst_cols as u32,
        dst_offset: block.dst_offset as u32,
    };
    rec.dispatch(Launch::new(
        &KERNEL,
        &params,
        &[src, dst],
        grid_1d(n.div_ceil(WORKGROUP)),
    ))
}

/// `out = [a | b]` along columns: `a` `[rows, da]`, `b` `[rows, db]`, `out` `[rows, da + db]`.
pub fn concat_columns(rec: &mut Recorder, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<()> {
    let (_, da) = rows_cols("a", a)?;
    let (_, db) = rows_cols("b", b)?;
    let (_, d) = rows_cols("out", out)?;
    if d != da + db {
        return Err(HarkError::shape(
            KERNEL.name,
            format!(
                "out {:?} must have the columns of a {:?} and b {:?}",
                out.shape(),
                a.shape(),
                b.shape()
            ),
        ));
    }
    copy_columns(
        rec,
        a,
        out,
        ColumnBlock {
            src_offset: 0,
            dst_offset: 0,
            cols: da,
        },
    )?;
    copy_columns(
        rec,
        b,
        out,
        ColumnBlock {
            src_offset: 0,
            dst_offset: da,
            cols: db,
        },
    )
}

/// The inverse of [`concat_columns`]: `x` `[rows, da + db]` into `a` `[rows, da]` and `b`
/// `[rows, db]`.
pub fn split_columns(rec: &mut Recorder, x: &Tensor, a: &Tensor, b: &Tensor) -> Result<()> {
    let (_, da) = rows_cols("a", a)?;
    let (_, db) = rows_cols("b", b)?;
    let (_, d) = rows_cols("x", x)?;
    if d != da + db {
        return Err(HarkError::shape(
            KERNEL.name,
            format!(
                "x {:?} must have the columns of a {:?} and b {:?}",
                x.shape(),
                a.shape(),
                b.shape()
            ),
        ));
    }
    copy_columns(
        rec,
        x,
        a,
        ColumnBlock {
            src_offset: 0,
            dst_offset: 0,
            cols: da,
        },
    )?;
    copy_columns(
        rec,
        x,
        b,
        ColumnBlock {
            src_offset: da,
            dst_offset: 0,
            cols: db,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<CopyColumnsParams>(
            Shader::ElementwiseCopyColumns,
            "Params",
        );
    }
}
