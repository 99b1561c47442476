//! Plain aligned text tables for the client verbs (no colours, so pipes stay clean).

/// Renders `rows` under `headers`, each column as wide as its widest cell.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = line(&mut headers.iter().copied());
    out.push('\n');
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
        out.push('\n');
    }
    out
}

/// Key-value lines for one resource, keys aligned.
pub fn render_fields(fields: &[(&str, String)]) -> String {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    fields
        .iter()
        .map(|(key, value)| format!("{key:<width$}  {value}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_columns_align_to_the_widest_cell() {
        let text = render(
            &["ID", "NAME"],
            &[
                vec!["1".into(), "short".into()],
                vec!["12345".into(), "é-long-name".into()],
            ],
        );
        assert_eq!(text, "ID     NAME\n1      short\n12345  é-long-name\n");
    }

    #[test]
    fn test_fields_align_keys() {
        let text = render_fields(&[("id", "7".into()), ("status", "5 succeeded".into())]);
        assert_eq!(text, "id      7\nstatus  5 succeeded\n");
    }
}
