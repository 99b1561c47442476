//! Engine errors: ones that stop a whole run. Per-object failures are outcomes, not errors.

use tern_core::{ErrorKind, FailureCode};

/// An error that ends a run (bad endpoint, unreadable listing); per-object trouble is an outcome.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The node spec or URL cannot be turned into a storage endpoint.
    #[error("invalid {field}: {reason}")]
    InvalidLocation {
        /// The field or URL part at fault.
        field: String,
        /// Why.
        reason: String,
    },
    /// A domain rule was broken.
    #[error(transparent)]
    Core(#[from] tern_core::Error),
    /// Listing the source (or reading a list file) failed after retries.
    #[error("{context}: {source}")]
    Storage {
        /// What the engine was doing.
        context: String,
        /// The OMS failure code the storage error maps to.
        code: FailureCode,
        /// The storage error.
        #[source]
        source: opendal::Error,
    },
    /// The run was cancelled.
    #[error("the run was cancelled")]
    Cancelled,
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidLocation {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Classifies the error for the API edge.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidLocation { .. } => ErrorKind::InvalidArgument,
            Error::Core(err) => err.kind(),
            Error::Storage { source, .. } if source.is_temporary() => ErrorKind::Unavailable,
            Error::Storage { .. } => ErrorKind::InvalidArgument,
            Error::Cancelled => ErrorKind::InvalidState,
        }
    }

    /// The OMS failure code for a task that this error ended.
    pub fn failure_code(&self) -> FailureCode {
        match self {
            Error::Storage { code, .. } => *code,
            _ => FailureCode::Internal,
        }
    }
}

/// Result with the engine error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which side of the migration an error came from; the same storage error maps to different codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The source.
    Source,
    /// The destination.
    Destination,
}

/// Maps a storage error that retries did not cure to the OMS per-object failure code.
pub fn failure_code(side: Side, err: &opendal::Error) -> FailureCode {
    use opendal::ErrorKind as Kind;
    let bucket_missing = err.to_string().contains("NoSuchBucket");
    match (side, err.kind()) {
        (Side::Source, _) if bucket_missing => FailureCode::SourceBucketNotFound,
        (Side::Destination, _) if bucket_missing => FailureCode::DestinationBucketNotFound,
        (Side::Source, Kind::NotFound) => FailureCode::SourceNotFound,
        (Side::Source, Kind::PermissionDenied) => FailureCode::SourcePermissionDenied,
        (Side::Destination, Kind::PermissionDenied) => FailureCode::DestinationPermissionDenied,
        (Side::Destination, Kind::NotFound) => FailureCode::DestinationBucketNotFound,
        (Side::Destination, _) => FailureCode::DestinationError,
        (Side::Source, _) => FailureCode::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_failure_code_depends_on_side() {
        let not_found = opendal::Error::new(opendal::ErrorKind::NotFound, "no such key");
        assert_eq!(
            failure_code(Side::Source, &not_found),
            FailureCode::SourceNotFound
        );
        let denied = opendal::Error::new(opendal::ErrorKind::PermissionDenied, "denied");
        assert_eq!(
            failure_code(Side::Destination, &denied),
            FailureCode::DestinationPermissionDenied
        );
        let bucket = opendal::Error::new(opendal::ErrorKind::NotFound, "NoSuchBucket: gone");
        assert_eq!(
            failure_code(Side::Source, &bucket),
            FailureCode::SourceBucketNotFound
        );
    }
}
