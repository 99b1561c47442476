//! Query-string parameters checked by hand, so each error names its parameter.

use std::collections::HashMap;

use crate::error::{ApiError, Result};

/// An optional integer parameter within `min..=max`.
pub fn int_param(
    query: &HashMap<String, String>,
    name: &str,
    min: i64,
    max: i64,
) -> Result<Option<i64>> {
    let Some(raw) = query.get(name) else {
        return Ok(None);
    };
    let value: i64 = raw
        .trim()
        .parse()
        .map_err(|_| ApiError::invalid(name, format!("{raw:?} is not an integer")))?;
    if !(min..=max).contains(&value) {
        return Err(ApiError::invalid(
            name,
            format!("{value} is outside {min}..{max}"),
        ));
    }
    Ok(Some(value))
}

/// An optional text parameter whose length (in characters) is within `min..=max`.
pub fn text_param(
    query: &HashMap<String, String>,
    name: &str,
    min: usize,
    max: usize,
) -> Result<Option<String>> {
    let Some(raw) = query.get(name) else {
        return Ok(None);
    };
    let length = raw.chars().count();
    if !(min..=max).contains(&length) {
        return Err(ApiError::invalid(
            name,
            format!("length {length} is outside {min}..{max}"),
        ));
    }
    Ok(Some(raw.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_int_param_names_the_parameter() {
        let query: HashMap<String, String> = [("limit".to_owned(), "101".to_owned())].into();
        let err = int_param(&query, "limit", 1, 100).unwrap_err();
        assert!(err.to_string().contains("limit"));
        assert_eq!(int_param(&query, "offset", 0, 10).unwrap(), None);
    }
}
