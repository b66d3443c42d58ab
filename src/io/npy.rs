//! `.npy` arrays (NumPy's format), float32 in C order, through the `npyz` crate.

use std::path::Path;

use npyz::WriterBuilder;

use crate::error::{HarkError, Result};
use crate::io::atomic::write_atomically;

/// An array read from a `.npy` file, widened to f32.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Writes `data` with `shape` as a float32 C-order `.npy`, atomically.
pub fn write_npy(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let numel: usize = shape.iter().product();
    if numel != data.len() {
        return Err(HarkError::shape(
            "write_npy",
            format!("{} values for shape {shape:?}", data.len()),
        ));
    }
    let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    write_atomically(path, |file| {
        let mut writer = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&dims)
            .writer(file)
            .begin_nd()?;
        writer.extend(data.iter().copied())?;
        writer.finish()
    })
}

/// Reads a float32 or float64 C-order `.npy`.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let bad = |reason: String| HarkError::InvalidArgument {
        kernel: "read_npy",
        detail: format!("{}: {reason}", path.display()),
    };
    let bytes = std::fs::read(path).map_err(|source| HarkError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let file = npyz::NpyFile::new(&bytes[..]).map_err(|e| bad(e.to_string()))?;
    if file.order() != npyz::Order::C {
        return Err(bad("only C-order arrays are read".into()));
    }
    let shape: Vec<usize> = file.shape().iter().map(|&d| d as usize).collect();
    // npyz writes the descr quoted, as in the header ('<f4').
    let descr = file.dtype().descr().trim_matches('\'').to_string();
    let data = match descr.as_str() {
        "<f4" => file.into_vec::<f32>().map_err(|e| bad(e.to_string()))?,
        "<f8" => file
            .into_vec::<f64>()
            .map_err(|e| bad(e.to_string()))?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        other => return Err(bad(format!("dtype {other} is not float32 or float64"))),
    };
    Ok(NpyArray { shape, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_a_wrong_count() {
        let dir = std::env::temp_dir().join(format!("hark-npy-{}", std::process::id()));
        let path = dir.join("a.npy");
        let data: Vec<f32> = (0..6).map(|i| i as f32 * 0.5).collect();
        write_npy(&path, &[2, 3], &data).unwrap();
        let back = read_npy(&path).unwrap();
        assert_eq!(back.shape, vec![2, 3]);
        assert_eq!(back.data, data);
        assert!(write_npy(&path, &[4], &data).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
