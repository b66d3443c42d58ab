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

/// Where the data of a `.npy` file starts: after the magic, the version, the header length and
/// the header (NumPy format 1.0 has a 2-byte header length, 2.0 and 3.0 a 4-byte one).
fn data_offset(bytes: &[u8]) -> Option<usize> {
    if bytes.get(..6)? != b"\x93NUMPY" {
        return None;
    }
    let (len, start): (usize, usize) = match bytes.get(6)? {
        1 => (
            usize::from(u16::from_le_bytes([*bytes.get(8)?, *bytes.get(9)?])),
            10,
        ),
        2 | 3 => {
            let raw: [u8; 4] = bytes.get(8..12)?.try_into().ok()?;
            (usize::try_from(u32::from_le_bytes(raw)).ok()?, 12)
        }
        _ => return None,
    };
    len.checked_add(start)
}

/// The dimensions of the `'shape': (a, b, ...)` entry of an npy header, when it reads as such.
fn header_shape(header: &str) -> Option<Vec<u64>> {
    let key = header
        .find("'shape'")
        .or_else(|| header.find("\"shape\""))?;
    let rest = &header[key..];
    let open = rest.find('(')?;
    let close = open + rest[open..].find(')')?;
    rest[open + 1..close]
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.trim_end_matches('L').parse().ok())
        .collect()
}

/// Reads a float32 or float64 C-order `.npy`. The header's shape must account for exactly the
/// data the file holds (checked before anything is allocated): a header claiming more or fewer
/// values than the file stores is an error naming both.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let bad = |reason: String| HarkError::InvalidArgument {
        kernel: "read_npy",
        detail: format!("{}: {reason}", path.display()),
    };
    let bytes = std::fs::read(path).map_err(|source| HarkError::Io {
        path: path.display().to_string(),
        source,
    })?;
    // npyz multiplies the header's dimensions unchecked (an overflow panics in debug builds and
    // wraps in release ones): read the shape and check its product here first.
    let offset = data_offset(&bytes).ok_or_else(|| bad("not an npy header".into()))?;
    let header = bytes
        .get(..offset)
        .and_then(|h| std::str::from_utf8(h.get(10.min(h.len())..)?).ok())
        .unwrap_or("");
    if let Some(shape) = header_shape(header) {
        if shape
            .iter()
            .try_fold(8u64, |acc, &d| acc.checked_mul(d))
            .is_none()
        {
            return Err(HarkError::FileSize {
                path: path.display().to_string(),
                field: "shape".into(),
                value: format!("{shape:?}"),
                reason: "the header's dimensions multiply past 2^64 bytes".into(),
            });
        }
    }
    let file = npyz::NpyFile::new(&bytes[..]).map_err(|e| bad(e.to_string()))?;
    if file.order() != npyz::Order::C {
        return Err(bad("only C-order arrays are read".into()));
    }
    // npyz writes the descr quoted, as in the header ('<f4').
    let descr = file.dtype().descr().trim_matches('\'').to_string();
    let item = match descr.as_str() {
        "<f4" => 4,
        "<f8" => 8,
        other => return Err(bad(format!("dtype {other} is not float32 or float64"))),
    };
    let shape = file
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| bad(format!("dimension {d} is too large"))))
        .collect::<Result<Vec<usize>>>()?;
    let stored = bytes.len().saturating_sub(offset);
    let claimed = shape
        .iter()
        .try_fold(item, |acc: usize, &d| acc.checked_mul(d));
    if claimed != Some(stored) {
        let values = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .map_or_else(|| "more than 2^64".to_string(), |v| v.to_string());
        return Err(HarkError::FileSize {
            path: path.display().to_string(),
            field: "shape".into(),
            value: format!("{shape:?}"),
            reason: format!(
                "the header claims {values} values of {item} bytes, the file holds {stored} \
                 bytes of data ({} values)",
                stored / item
            ),
        });
    }
    let data = match item {
        4 => file.into_vec::<f32>().map_err(|e| bad(e.to_string()))?,
        _ => file
            .into_vec::<f64>()
            .map_err(|e| bad(e.to_string()))?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
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
