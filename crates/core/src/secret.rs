//! A string that must never be printed: access keys' secrets, tokens, connection strings.

use std::fmt;

/// A secret value whose `Debug` and `Display` never show it.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Returns the secret itself, for the one place that must send it (request signing).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Tells whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_secret_debug_and_display_hide_value() {
        let secret = Secret::new("very-secret-sk");
        assert_eq!(format!("{secret:?}"), "\"***\"");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(secret.expose(), "very-secret-sk");
    }
}
