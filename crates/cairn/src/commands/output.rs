//! Printing results: a table for people, JSON for scripts.

use serde::Serialize;

/// Times as the API writes them, so text and `--json` agree.
pub use cairn_api::wire::timestamp;

/// Prints `rows` as a JSON array when `json`, otherwise as an aligned table with `headers`.
pub fn print_list<T: Serialize>(
    json: bool,
    rows: &[T],
    headers: &[&str],
    cells: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(rows)?);
        return Ok(());
    }
    print_table(rows, headers, cells);
    Ok(())
}

/// One page of a list, as the API answers it: `response` (its list shape) when `json`, otherwise
/// a table of `rows` and a line that says where the page sits in `total` and how to get the next.
pub fn print_page<R: Serialize, T>(
    json: bool,
    response: &R,
    rows: &[T],
    total: u64,
    page: &cairn_api::pagination::PageRequest,
    headers: &[&str],
    cells: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(response)?);
        return Ok(());
    }
    print_table(rows, headers, cells);
    let first = page.start * u64::from(page.page_size);
    let shown = first + rows.len() as u64;
    if !rows.is_empty() && (first > 0 || shown < total) {
        let next = if shown < total {
            format!("; next page: --start {}", page.start + 1)
        } else {
            String::new()
        };
        println!("({}-{shown} of {total}{next})", first + 1);
    } else if rows.is_empty() && total > 0 {
        println!("(page {} is past the end: there are {total})", page.start);
    }
    Ok(())
}

/// Text as a terminal should show it: control characters (escape sequences begin with ESC or
/// CSI) and bidirectional controls are written as `\u{1b}` instead of being obeyed, so a stored
/// name cannot rewrite the operator's screen. Line breaks stay when `keep_lines` (the human text
/// of one object is several lines). Every human output goes through here once, in `print_table`
/// and `print_one`; `--json` needs none (JSON escapes control characters).
pub fn printable(text: &str, keep_lines: bool) -> std::borrow::Cow<'_, str> {
    let unsafe_char =
        |c: char| cairn_control::text::unsafe_in_name(c) && !(keep_lines && c == '\n');
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| {
            if unsafe_char(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn print_table<T>(rows: &[T], headers: &[&str], cells: impl Fn(&T) -> Vec<String>) {
    for line in table_lines(rows, headers, cells) {
        println!("{line}");
    }
}

fn table_lines<T>(rows: &[T], headers: &[&str], cells: impl Fn(&T) -> Vec<String>) -> Vec<String> {
    if rows.is_empty() {
        return vec!["(none)".into()];
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            cells(row)
                .into_iter()
                .map(|cell| printable(&cell, false).into_owned())
                .collect()
        })
        .collect();
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            table
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
                .max(h.len())
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    std::iter::once(line(headers.iter().map(|h| h.to_string()).collect()))
        .chain(table.into_iter().map(line))
        .collect()
}

/// Prints one object as JSON when `json`, otherwise the human text.
pub fn print_one<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", printable(&human(), true));
    }
    Ok(())
}

/// `key: value` lines with the values aligned, for showing one object to a person.
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    pairs
        .iter()
        .map(|(k, v)| format!("{:<width$} {v}", format!("{k}:")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Follows a backup or restore until it ends (`--wait`), polling twice a second: `poll` gives
/// its status literal and progress. A progress bar shows on a terminal, never with `--json`.
pub async fn follow<F, Fut>(json: bool, mut poll: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<
            Output = anyhow::Result<(String, Option<cairn_api::wire::management::WorkProgress>)>,
        >,
{
    use std::io::IsTerminal;
    let bar = if json || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} {msg:12} [{bar:30}] {pos}/{len} items, {elapsed}",
        ) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    };
    loop {
        let (status, progress) = poll().await?;
        match &progress {
            Some(p) => {
                bar.set_length(p.items_total.unwrap_or(p.items_done).max(p.items_done));
                bar.set_position(p.items_done);
                bar.set_message(p.phase.clone());
            }
            None => bar.set_message(status.clone()),
        }
        if status != "CREATED" && status != "IN_PROGRESS" {
            bar.finish_and_clear();
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// The error a waited-for run that did not end well exits with (after its state is printed).
pub fn ended_badly(what: &str, status: &str, message: &str) -> anyhow::Result<()> {
    match ended_well(status) {
        false => Err(anyhow::anyhow!("the {what} ended {status}: {message}")),
        true => Ok(()),
    }
}

/// Whether work that ended with this status did its job (`INCOMPLETE` did, naming what it
/// could not do); `FAILED` and `CANCELLED` did not.
pub fn ended_well(status: &str) -> bool {
    !matches!(status, "FAILED" | "CANCELLED")
}

/// Work in flight, for a person: `DOWNLOADING: 120/400 items, 3.2 MB`.
pub fn progress(p: &cairn_api::wire::management::WorkProgress) -> String {
    let total = p
        .items_total
        .map(|t| t.to_string())
        .unwrap_or_else(|| "?".into());
    format!(
        "{}: {}/{total} items, {} bytes",
        p.phase, p.items_done, p.bytes_done
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bidirectional_controls_are_shown_not_obeyed() {
        let name = "\u{1b}]0;owned\u{7}\u{1b}[2Jnightly\u{202e}gpj.exe\u{9b}31m";
        let lines = table_lines(&[name], &["NAME", "ID"], |n| {
            vec![n.to_string(), "p-1".into()]
        });
        assert_eq!(
            lines[1],
            "\\u{1b}]0;owned\\u{7}\\u{1b}[2Jnightly\\u{202e}gpj.exe\\u{9b}31m  p-1"
        );
        assert!(
            lines
                .iter()
                .all(|l| !l.chars().any(cairn_control::text::unsafe_in_name))
        );
        assert_eq!(printable("two\nlines\r", true), "two\nlines\\u{d}");
        assert_eq!(printable("two\nlines", false), "two\\u{a}lines");
        assert!(matches!(
            printable("plain ✓", false),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
