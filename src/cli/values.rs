//! Value parsers for numeric flags: numbers that make no sense (zero epochs, a negative or NaN
//! learning rate, a percentile of 1) are refused while the command line is parsed, so the error
//! names the flag and nothing has run yet.

/// A count that must be at least 1 (epochs, batch sizes, neighbours, layer sizes).
pub fn positive_usize(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a whole number >= 1")),
    }
}

fn finite<T: std::str::FromStr + Into<f64> + Copy>(text: &str) -> Result<T, String> {
    let value: T = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    if value.into().is_finite() {
        Ok(value)
    } else {
        Err(format!("'{text}' is not finite"))
    }
}

/// A finite f32 greater than zero (learning rates, margins, multipliers).
pub fn positive_f32(text: &str) -> Result<f32, String> {
    let value = finite::<f32>(text)?;
    if value > 0.0 {
        Ok(value)
    } else {
        Err(format!("{value} must be greater than 0"))
    }
}

/// A finite f32 of at least zero (loss weights, where 0 turns a term off; weight decay).
pub fn non_negative_f32(text: &str) -> Result<f32, String> {
    let value = finite::<f32>(text)?;
    if value >= 0.0 {
        Ok(value)
    } else {
        Err(format!("{value} must not be negative"))
    }
}

/// A finite f64 greater than zero.
pub fn positive_f64(text: &str) -> Result<f64, String> {
    let value = finite::<f64>(text)?;
    if value > 0.0 {
        Ok(value)
    } else {
        Err(format!("{value} must be greater than 0"))
    }
}

/// A finite f64 of at least zero (frequencies).
pub fn non_negative_f64(text: &str) -> Result<f64, String> {
    let value = finite::<f64>(text)?;
    if value >= 0.0 {
        Ok(value)
    } else {
        Err(format!("{value} must not be negative"))
    }
}

/// A probability or share strictly between 0 and 1 (percentiles, fractions).
pub fn open_unit_f64(text: &str) -> Result<f64, String> {
    let value = finite::<f64>(text)?;
    if value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(format!("{value} must lie strictly between 0 and 1"))
    }
}

/// A probability in [0, 1] (mixup).
pub fn unit_f32(text: &str) -> Result<f32, String> {
    let value = finite::<f32>(text)?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} must lie in [0, 1]"))
    }
}

/// A sample rate in Hz, at least 1.
pub fn sample_rate(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(0) => Err("must be at least 1 Hz".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a sample rate in Hz")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonsense_is_refused_and_sense_kept() {
        assert!(positive_usize("0").is_err());
        assert!(positive_usize("-1").is_err());
        assert_eq!(positive_usize("3"), Ok(3));
        for bad in ["nan", "inf", "-inf", "-1", "0", "x"] {
            assert!(positive_f32(bad).is_err(), "{bad}");
        }
        assert_eq!(positive_f32("1e-3"), Ok(1e-3));
        assert!(non_negative_f32("0").is_ok());
        assert!(non_negative_f32("-0.5").is_err());
        for bad in ["0", "1", "1.5", "-0.1", "NaN"] {
            assert!(open_unit_f64(bad).is_err(), "{bad}");
        }
        assert_eq!(open_unit_f64("0.9"), Ok(0.9));
        assert!(unit_f32("1").is_ok());
        assert!(unit_f32("1.01").is_err());
        assert!(sample_rate("0").is_err());
    }
}
