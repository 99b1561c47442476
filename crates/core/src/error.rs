//! Errors of the domain: almost all are invalid input, named by the field at fault.

/// What kind of failure an error is; the API edge maps each kind to one HTTP status and OMS code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The thing asked for does not exist.
    NotFound,
    /// The thing to create exists already.
    AlreadyExists,
    /// The input breaks a field rule.
    InvalidArgument,
    /// The operation is not legal in the current state.
    InvalidState,
    /// No or bad credentials.
    Unauthenticated,
    /// Valid credentials without the right to this resource.
    Forbidden,
    /// Too many requests.
    RateLimited,
    /// A dependency is down; retrying later may work.
    Unavailable,
    /// A bug or an unexpected failure.
    Internal,
}

/// A domain error.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A field's value is not acceptable.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field's wire name, e.g. `bandwidth_policy[1].start`.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// A state change that the current state does not allow.
    #[error("{0}")]
    InvalidState(String),
    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The database is unreachable or busy; retrying may work.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// An unexpected failure (corrupt row, failed unsealing); the cause is logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Builds an [`Error::InvalidField`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Classifies the error for the API edge.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidField { .. } => ErrorKind::InvalidArgument,
            Error::InvalidState(_) => ErrorKind::InvalidState,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Unavailable(_) => ErrorKind::Unavailable,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }
}

/// Result with the domain error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
