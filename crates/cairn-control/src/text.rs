//! Rules for text that comes from outside and is stored or shown: ids, filters, emails, names.
//! No control characters anywhere (PostgreSQL cannot store NUL, a terminal obeys escapes, a log
//! line can be forged with a line break), and in names no bidirectional controls either (they
//! make a name read as another). One place, so the API's extractors and the domain agree.

use crate::{ControlError, ControlResult};

/// Whether `text` holds a C0, DEL or C1 control character.
pub fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// A character a name may not hold: a control character (terminal escapes begin with ESC or
/// CSI) or a bidirectional embedding, override or isolate (U+202A–U+202E, U+2066–U+2069).
pub fn unsafe_in_name(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The 400 of a value holding a control character, naming its field.
pub fn control_character(field: &str) -> ControlError {
    ControlError::invalid_field(
        field,
        "must not contain control characters (such as NUL, line breaks or escapes)",
    )
}

/// Refuses `value` with a 400 naming `field` when it holds a control character.
pub fn refuse_control(field: &str, value: &str) -> ControlResult<()> {
    if has_control(value) {
        return Err(control_character(field));
    }
    Ok(())
}

/// A required name: trimmed, 1 to `max` characters, without control or bidirectional
/// characters.
pub fn checked_name(field: &str, value: &str, max: usize) -> ControlResult<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ControlError::invalid_field(field, "must not be empty"));
    }
    if trimmed.chars().count() > max {
        return Err(ControlError::invalid_field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if trimmed.chars().any(unsafe_in_name) {
        return Err(ControlError::invalid_field(
            field,
            "must not contain control characters (such as escapes or line breaks) or \
             bidirectional overrides (U+202A to U+202E, U+2066 to U+2069)",
        ));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_escapes_and_bidirectional_overrides() {
        assert_eq!(
            checked_name("policyName", "  nightly ", 255).unwrap(),
            "nightly"
        );
        assert_eq!(
            checked_name("policyName", "Ünïcödé ✓", 255).unwrap(),
            "Ünïcödé ✓"
        );
        for bad in [
            "\u{1b}[31mred",
            "a\0b",
            "two\nlines",
            "tab\there",
            "del\u{7f}",
            "csi\u{9b}31m",
            "\u{202e}txt.exe",
            "\u{2066}isolate\u{2069}",
            "\u{202a}embedding",
        ] {
            let err = checked_name("policyName", bad, 255).unwrap_err();
            assert!(
                matches!(&err, ControlError::Invalid { errors, .. } if errors[0].field == "policyName"),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn ids_and_filters_refuse_control_characters_only() {
        assert!(refuse_control("cloudId", "a\u{202e}b").is_ok());
        assert!(refuse_control("cloudId", "a\0b").is_err());
        assert!(refuse_control("cloudId", "a\u{85}b").is_err());
    }
}
