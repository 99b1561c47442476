//! Parsing sizes (`8M`, `1.5G`) and times (`2024-01-02T03:04:05Z`, Unix seconds) on the command line.

use anyhow::{anyhow, Result};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Parses a byte count with an optional binary suffix: `4096`, `512K`, `8M`, `1.5G`.
pub fn parse_size(text: &str) -> Result<u64> {
    let trimmed = text.trim();
    let (number, multiplier) = match trimmed.char_indices().last() {
        Some((index, suffix)) if suffix.is_ascii_alphabetic() => {
            let multiplier: u64 = match suffix.to_ascii_uppercase() {
                'B' => 1,
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => {
                    return Err(anyhow!(
                        "unknown size suffix in {text:?} (use K, M, G or T)"
                    ))
                }
            };
            (&trimmed[..index], multiplier)
        }
        _ => (trimmed, 1),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| anyhow!("{text:?} is not a size like 8M or 1048576"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(anyhow!("{text:?} is not a positive size"));
    }
    Ok((value * multiplier as f64) as u64)
}

/// Parses `--since`: RFC 3339 (`2024-01-02T03:04:05Z`), a date (`2024-01-02`, UTC midnight) or Unix seconds.
pub fn parse_since_ms(text: &str) -> Result<i64> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds.saturating_mul(1000));
    }
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    let time = OffsetDateTime::parse(&full, &Rfc3339).map_err(|err| {
        anyhow!("--since {text:?} is not RFC 3339, a date or Unix seconds: {err}")
    })?;
    Ok((time.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_size_suffixes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("8M").unwrap(), 8 << 20);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert!(parse_size("8Q").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn test_parse_since_forms() {
        assert_eq!(parse_since_ms("1700000000").unwrap(), 1_700_000_000_000);
        assert_eq!(
            parse_since_ms("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(parse_since_ms("1970-01-02").unwrap(), 86_400_000);
        assert!(parse_since_ms("yesterday").is_err());
    }
}
