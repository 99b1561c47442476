//! The final report of `tern copy`: text for people, one JSON object for scripts.

use serde::Serialize;
use tern_engine::Summary;

/// One failed object.
#[derive(Debug, Clone, Serialize)]
pub struct FailedObject {
    /// Source key.
    pub key: String,
    /// OMS failure code (`TRF.xxxx`).
    pub code: String,
    /// What went wrong.
    pub reason: String,
}

/// The report; field names are part of the command-line contract (DESIGN.md).
#[derive(Debug, Serialize)]
pub struct Report {
    total_num: u64,
    successful_num: u64,
    skipped_num: u64,
    failed_num: u64,
    total_size: u64,
    successful_size: u64,
    skipped_size: u64,
    failed_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    would_copy_num: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    would_copy_size: Option<u64>,
    failed: Vec<FailedObject>,
}

impl Report {
    /// Builds the report of a run.
    pub fn new(summary: Summary, failed: Vec<FailedObject>, dry_run: bool) -> Self {
        let c = summary.counters;
        Report {
            total_num: c.total_num,
            successful_num: c.successful_num,
            skipped_num: c.skipped_num,
            failed_num: c.failed_num,
            total_size: c.total_size,
            successful_size: c.successful_size,
            skipped_size: c.skipped_size,
            failed_size: c.failed_size,
            would_copy_num: dry_run.then_some(summary.would_copy_num),
            would_copy_size: dry_run.then_some(summary.would_copy_size),
            failed,
        }
    }

    /// Objects that failed.
    pub fn failed_num(&self) -> u64 {
        self.failed_num
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}"))
    }

    /// The report for a terminal, failed keys last.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if let (Some(num), Some(size)) = (self.would_copy_num, self.would_copy_size) {
            out.push_str(&format!(
                "dry run: {} objects listed ({} bytes); would copy {num} ({size} bytes), skip {}, failed {}\n",
                self.total_num, self.total_size, self.skipped_num, self.failed_num
            ));
        } else {
            out.push_str(&format!(
                "{} objects listed ({} bytes): {} copied ({} bytes), {} skipped, {} failed\n",
                self.total_num,
                self.total_size,
                self.successful_num,
                self.successful_size,
                self.skipped_num,
                self.failed_num
            ));
        }
        if !self.failed.is_empty() {
            out.push_str("failed objects:\n");
            for failure in &self.failed {
                out.push_str(&format!(
                    "  {} [{}] {}\n",
                    failure.key, failure.code, failure.reason
                ));
            }
        }
        out
    }
}
