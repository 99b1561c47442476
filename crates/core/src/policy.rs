//! Per-task policies: overwrite, consistency check and bandwidth windows (REFERENCE.md §1.2).

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// What to do when the destination already holds a key (`object_overwrite_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverwriteMode {
    /// Skip any key that exists at the destination.
    NoOverwrite,
    /// Overwrite when sizes differ or the destination is older than the source.
    #[default]
    SizeLastModified,
    /// Compare CRC64 metadata; fall back to size and last-modified when either side lacks it.
    Crc64,
    /// Always overwrite.
    FullOverwrite,
}

impl OverwriteMode {
    /// The OMS wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            OverwriteMode::NoOverwrite => "NO_OVERWRITE",
            OverwriteMode::SizeLastModified => "SIZE_LAST_MODIFIED_COMPARISON_OVERWRITE",
            OverwriteMode::Crc64 => "CRC64_COMPARISON_OVERWRITE",
            OverwriteMode::FullOverwrite => "FULL_OVERWRITE",
        }
    }
}

impl FromStr for OverwriteMode {
    type Err = Error;

    /// Parses the OMS value, or the short CLI forms `no`, `size`, `crc64`, `full`.
    fn from_str(value: &str) -> Result<Self, Error> {
        match value {
            "NO_OVERWRITE" | "no" => Ok(OverwriteMode::NoOverwrite),
            "SIZE_LAST_MODIFIED_COMPARISON_OVERWRITE" | "size" => {
                Ok(OverwriteMode::SizeLastModified)
            }
            "CRC64_COMPARISON_OVERWRITE" | "crc64" => Ok(OverwriteMode::Crc64),
            "FULL_OVERWRITE" | "full" => Ok(OverwriteMode::FullOverwrite),
            _ => Err(Error::invalid(
                "object_overwrite_mode",
                format!("unknown value {value:?}"),
            )),
        }
    }
}

impl fmt::Display for OverwriteMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a copied object is checked (`consistency_check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsistencyCheck {
    /// Same size and destination not older than source.
    #[default]
    SizeLastModified,
    /// CRC64 of the bytes read equals the source's CRC64; falls back to size and last-modified.
    Crc64,
    /// No check (meant for HTTP sources without Content-Length).
    NoCheck,
}

impl ConsistencyCheck {
    /// The OMS wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsistencyCheck::SizeLastModified => "size_last_modified",
            ConsistencyCheck::Crc64 => "crc64",
            ConsistencyCheck::NoCheck => "no_check",
        }
    }
}

impl FromStr for ConsistencyCheck {
    type Err = Error;

    /// Parses the OMS value; `transmission` is the sync-task spelling of `no_check`.
    fn from_str(value: &str) -> Result<Self, Error> {
        match value {
            "size_last_modified" => Ok(ConsistencyCheck::SizeLastModified),
            "crc64" => Ok(ConsistencyCheck::Crc64),
            "no_check" | "transmission" => Ok(ConsistencyCheck::NoCheck),
            _ => Err(Error::invalid(
                "consistency_check",
                format!("unknown value {value:?}"),
            )),
        }
    }
}

impl fmt::Display for ConsistencyCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lowest `max_bandwidth` OMS accepts, bytes/s (1 MiB/s).
pub const MIN_BANDWIDTH: u64 = 1_048_576;
/// Highest `max_bandwidth` OMS accepts, bytes/s (200 MiB/s).
pub const MAX_BANDWIDTH: u64 = 209_715_200;
/// Most windows one policy may hold.
pub const MAX_WINDOWS: usize = 5;
const MINUTES_PER_DAY: u16 = 24 * 60;

/// One rate-limit window: from `start` (inclusive) to `end` (exclusive), minutes after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BandwidthWindow {
    /// Minute of day the window opens.
    pub start: u16,
    /// Minute of day the window closes; smaller than `start` means it runs past midnight.
    pub end: u16,
    /// Limit in bytes per second.
    pub max_bandwidth: u64,
}

impl BandwidthWindow {
    /// Parses and checks one OMS window; `index` names it in errors.
    pub fn parse(index: usize, start: &str, end: &str, max_bandwidth: u64) -> Result<Self, Error> {
        let field = |name: &str| format!("bandwidth_policy[{index}].{name}");
        let start_minute = parse_hh_mm(start).ok_or_else(|| {
            Error::invalid(field("start"), format!("{start:?} is not a time hh:mm"))
        })?;
        let end_minute = parse_hh_mm(end)
            .ok_or_else(|| Error::invalid(field("end"), format!("{end:?} is not a time hh:mm")))?;
        if start_minute == end_minute {
            return Err(Error::invalid(
                field("end"),
                "the window is empty: end equals start",
            ));
        }
        if !(MIN_BANDWIDTH..=MAX_BANDWIDTH).contains(&max_bandwidth) {
            return Err(Error::invalid(
                field("max_bandwidth"),
                format!("{max_bandwidth} is outside {MIN_BANDWIDTH}..={MAX_BANDWIDTH} bytes/s"),
            ));
        }
        Ok(BandwidthWindow {
            start: start_minute,
            end: end_minute,
            max_bandwidth,
        })
    }

    /// Tells whether the window covers a minute of the day.
    pub fn covers(&self, minute_of_day: u16) -> bool {
        if self.start < self.end {
            (self.start..self.end).contains(&minute_of_day)
        } else {
            minute_of_day >= self.start || minute_of_day < self.end
        }
    }

    /// Formats a minute of day as OMS's `hh:mm`.
    pub fn format_minute(minute_of_day: u16) -> String {
        format!("{:02}:{:02}", minute_of_day / 60, minute_of_day % 60)
    }
}

fn parse_hh_mm(text: &str) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    // Digits only: `u16::from_str` would also take a sign (`+1:00`).
    let two_digits = |part: &str| part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(hours) || !two_digits(minutes) {
        return None;
    }
    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    (hours < 24 && minutes < 60).then_some(hours * 60 + minutes)
}

/// A task's bandwidth policy: up to five non-overlapping windows; outside them there is no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BandwidthPolicy {
    windows: Vec<BandwidthWindow>,
}

impl BandwidthPolicy {
    /// Checks the count and that no two windows share a minute.
    pub fn new(windows: Vec<BandwidthWindow>) -> Result<Self, Error> {
        if windows.len() > MAX_WINDOWS {
            return Err(Error::invalid(
                "bandwidth_policy",
                format!(
                    "{} windows given, at most {MAX_WINDOWS} allowed",
                    windows.len()
                ),
            ));
        }
        for (later_index, later) in windows.iter().enumerate() {
            for earlier in &windows[..later_index] {
                if (0..MINUTES_PER_DAY).any(|m| later.covers(m) && earlier.covers(m)) {
                    return Err(Error::invalid(
                        format!("bandwidth_policy[{later_index}]"),
                        "the window overlaps an earlier one",
                    ));
                }
            }
        }
        Ok(BandwidthPolicy { windows })
    }

    /// The windows, in the order given.
    pub fn windows(&self) -> &[BandwidthWindow] {
        &self.windows
    }

    /// The limit in force at a minute of the day, if any window covers it.
    pub fn limit_at(&self, minute_of_day: u16) -> Option<u64> {
        self.windows
            .iter()
            .find(|w| w.covers(minute_of_day))
            .map(|w| w.max_bandwidth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_overwrite_mode_parses_oms_and_short_forms() {
        for mode in [
            OverwriteMode::NoOverwrite,
            OverwriteMode::SizeLastModified,
            OverwriteMode::Crc64,
            OverwriteMode::FullOverwrite,
        ] {
            assert_eq!(mode.as_str().parse::<OverwriteMode>(), Ok(mode));
        }
        assert_eq!(
            "full".parse::<OverwriteMode>(),
            Ok(OverwriteMode::FullOverwrite)
        );
        assert!("ALWAYS".parse::<OverwriteMode>().is_err());
    }

    #[test]
    fn test_consistency_check_accepts_transmission_as_no_check() {
        assert_eq!(
            "transmission".parse::<ConsistencyCheck>(),
            Ok(ConsistencyCheck::NoCheck)
        );
        assert!("md5".parse::<ConsistencyCheck>().is_err());
    }

    #[test]
    fn test_bandwidth_window_bounds() {
        assert!(BandwidthWindow::parse(0, "00:01", "23:59", MIN_BANDWIDTH).is_ok());
        assert!(BandwidthWindow::parse(0, "00:01", "23:59", MAX_BANDWIDTH).is_ok());
        let too_low = BandwidthWindow::parse(0, "00:01", "23:59", MIN_BANDWIDTH - 1).unwrap_err();
        assert!(too_low
            .to_string()
            .contains("bandwidth_policy[0].max_bandwidth"));
        assert!(BandwidthWindow::parse(0, "00:01", "23:59", MAX_BANDWIDTH + 1).is_err());
        assert!(BandwidthWindow::parse(2, "24:00", "23:59", MIN_BANDWIDTH)
            .unwrap_err()
            .to_string()
            .contains("bandwidth_policy[2].start"));
        assert!(BandwidthWindow::parse(0, "1:00", "23:59", MIN_BANDWIDTH).is_err());
        assert!(BandwidthWindow::parse(0, "10:00", "10:00", MIN_BANDWIDTH).is_err());
    }

    #[test]
    fn test_bandwidth_policy_rejects_overlap_and_too_many_windows() {
        let window = |s: &str, e: &str| BandwidthWindow::parse(0, s, e, MIN_BANDWIDTH).unwrap();
        assert!(
            BandwidthPolicy::new(vec![window("00:00", "06:00"), window("06:00", "12:00")]).is_ok()
        );
        let overlap =
            BandwidthPolicy::new(vec![window("00:00", "06:00"), window("05:59", "12:00")]);
        assert!(overlap
            .unwrap_err()
            .to_string()
            .contains("bandwidth_policy[1]"));
        let wraps = BandwidthPolicy::new(vec![window("22:00", "02:00"), window("01:00", "03:00")]);
        assert!(wraps.is_err());
        let six: Vec<_> = (0..6)
            .map(|h| window(&format!("0{h}:00"), &format!("0{h}:30")))
            .collect();
        assert!(BandwidthPolicy::new(six).is_err());
    }

    #[test]
    fn test_bandwidth_policy_limit_at_minute() {
        let policy = BandwidthPolicy::new(vec![
            BandwidthWindow::parse(0, "22:00", "02:00", 2 * MIN_BANDWIDTH).unwrap(),
            BandwidthWindow::parse(1, "09:00", "17:00", MIN_BANDWIDTH).unwrap(),
        ])
        .unwrap();
        assert_eq!(policy.limit_at(23 * 60), Some(2 * MIN_BANDWIDTH));
        assert_eq!(policy.limit_at(60), Some(2 * MIN_BANDWIDTH));
        assert_eq!(policy.limit_at(2 * 60), None);
        assert_eq!(policy.limit_at(9 * 60), Some(MIN_BANDWIDTH));
        assert_eq!(policy.limit_at(17 * 60), None);
    }
}
