//! Ledger rows: how an outcome is written and read back.

use tern_core::{Error, LedgerEntry, ObjectOutcome, Outcome, OutcomeKind};

use crate::error::from_db;

/// How one outcome is written to the ledger: kind, detail, message and CRC64.
pub(crate) struct LedgerFields {
    pub(crate) kind: OutcomeKind,
    pub(crate) detail: String,
    pub(crate) message: String,
    /// The u64 CRC64 reinterpreted bit-for-bit as `BIGINT`.
    pub(crate) crc64: Option<i64>,
}

impl LedgerFields {
    /// Maps an engine outcome onto ledger columns.
    pub(crate) fn of(outcome: &ObjectOutcome) -> Self {
        match &outcome.outcome {
            Outcome::Succeeded {
                verification,
                crc64,
                path,
            } => LedgerFields {
                kind: OutcomeKind::Succeeded,
                detail: path.record(*verification),
                message: String::new(),
                crc64: crc64.map(u64::cast_signed),
            },
            Outcome::Skipped(reason) => LedgerFields {
                kind: OutcomeKind::Skipped,
                detail: reason.as_str().to_owned(),
                message: String::new(),
                crc64: None,
            },
            Outcome::Failed { code, message } => LedgerFields {
                kind: OutcomeKind::Failed,
                detail: code.as_str().to_owned(),
                message: message.clone(),
                crc64: None,
            },
        }
    }
}

/// The stored code of an outcome kind (migrations SQLite 0009, PostgreSQL 0004). The most
/// common kinds get 0 and 1, which SQLite stores in no byte at all.
pub(crate) fn kind_code(kind: OutcomeKind) -> i16 {
    match kind {
        OutcomeKind::Succeeded => 0,
        OutcomeKind::Skipped => 1,
        OutcomeKind::Failed => 2,
    }
}

/// Parses a stored outcome kind code.
pub(crate) fn kind_from_code(code: i64) -> Result<OutcomeKind, Error> {
    match code {
        0 => Ok(OutcomeKind::Succeeded),
        1 => Ok(OutcomeKind::Skipped),
        2 => Ok(OutcomeKind::Failed),
        other => Err(Error::Internal(format!(
            "stored outcome kind code {other} is unknown"
        ))),
    }
}

/// Rebuilds a ledger entry from stored columns.
pub(crate) fn ledger_entry(
    key: String,
    size: i64,
    kind: OutcomeKind,
    detail: String,
    message: String,
    crc64: Option<i64>,
) -> Result<LedgerEntry, Error> {
    Ok(LedgerEntry {
        key,
        size: from_db(size, "ledger size")?,
        kind,
        detail,
        message,
        crc64: crc64.map(i64::cast_unsigned),
    })
}
