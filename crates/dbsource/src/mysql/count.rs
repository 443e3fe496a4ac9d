//! [`InsertCounter`]: counts the rows of each table in a `mysqldump`/`mariadb-dump` stream as
//! it passes, so MySQL row counts come from the dump's own snapshot (the dump tool's
//! transaction cannot be shared with another connection).
//!
//! The dump writes each table as `CREATE TABLE \`t\` (` and its rows as statements
//! `INSERT INTO \`t\` VALUES (...),(...);` (MariaDB 10.11 puts each row on a line of its own)
//! where strings are single-quoted with backslash escapes; a statement ends at the first `;`
//! outside strings and parentheses. Routine, trigger and event bodies come between
//! `DELIMITER ;;` and `DELIMITER ;` and are skipped, so an `INSERT` inside a procedure is not
//! counted.

use std::collections::BTreeMap;

use crate::info::TableRows;

const INSERT: &[u8] = b"INSERT INTO `";
const CREATE: &[u8] = b"CREATE TABLE `";
const DELIMITER: &[u8] = b"DELIMITER ";
/// A line head longer than this is not one we look for.
const HEAD_MAX: usize = 1024;

/// Counts tables and rows in a dump fed to it in arbitrary pieces.
#[derive(Debug, Default)]
pub(crate) struct InsertCounter {
    tables: BTreeMap<String, u64>,
    state: State,
    head: Vec<u8>,
    in_routines: bool,
}

#[derive(Debug, Default)]
enum State {
    /// At the start of a line, collecting its head in `head`.
    #[default]
    Head,
    /// Skipping to the end of the line.
    Skip,
    /// In the `VALUES` of an insert into this table.
    Values {
        table: String,
        depth: u32,
        in_string: bool,
        escaped: bool,
    },
}

enum Head {
    NeedMore,
    Other,
    Insert(String, usize),
    Create(String),
}

/// A backquoted name starting at `s` (after the opening quote): the name and the bytes used,
/// counting the closing quote. `None` if it does not end within `s`.
fn quoted(s: &[u8]) -> Option<(String, usize)> {
    let mut name = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'`' {
            if s.get(i + 1) == Some(&b'`') {
                name.push(b'`');
                i += 2;
                continue;
            }
            if i + 1 == s.len() {
                return None; // could still be a doubled quote
            }
            return Some((String::from_utf8_lossy(&name).into_owned(), i + 1));
        }
        name.push(s[i]);
        i += 1;
    }
    None
}

fn classify(head: &[u8], complete_line: bool) -> Head {
    for (prefix, insert) in [(INSERT, true), (CREATE, false)] {
        let n = prefix.len().min(head.len());
        if head[..n] != prefix[..n] {
            continue;
        }
        if head.len() < prefix.len() {
            return if complete_line {
                Head::Other
            } else {
                Head::NeedMore
            };
        }
        let Some((name, used)) = quoted(&head[prefix.len()..]) else {
            return if complete_line {
                Head::Other
            } else {
                Head::NeedMore
            };
        };
        if !insert {
            return Head::Create(name);
        }
        return Head::Insert(name, prefix.len() + used);
    }
    Head::Other
}

impl InsertCounter {
    /// Feeds the next piece of the dump.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.state {
                State::Skip => match bytes.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        bytes = &bytes[i + 1..];
                        self.state = State::Head;
                    }
                    None => return,
                },
                State::Head => {
                    let end = bytes.iter().position(|&b| b == b'\n');
                    let take = end.map_or(bytes.len(), |i| i + 1);
                    self.head.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    self.decide(end.is_some());
                }
                State::Values {
                    table,
                    depth,
                    in_string,
                    escaped,
                } => {
                    let mut line_end = None;
                    for (i, &b) in bytes.iter().enumerate() {
                        if *in_string {
                            if *escaped {
                                *escaped = false;
                            } else if b == b'\\' {
                                *escaped = true;
                            } else if b == b'\'' {
                                *in_string = false;
                            }
                            continue;
                        }
                        match b {
                            b'\'' => *in_string = true,
                            b'(' => {
                                if *depth == 0 {
                                    *self.tables.entry(table.clone()).or_default() += 1;
                                }
                                *depth += 1;
                            }
                            b')' => *depth = depth.saturating_sub(1),
                            b';' if *depth == 0 => {
                                line_end = Some(i);
                                break;
                            }
                            _ => {}
                        }
                    }
                    match line_end {
                        Some(i) => {
                            bytes = &bytes[i + 1..];
                            self.state = State::Skip;
                        }
                        None => return,
                    }
                }
            }
        }
    }

    /// Looks at the collected line head; moves on when it can tell what the line is.
    fn decide(&mut self, line_complete: bool) {
        let head = std::mem::take(&mut self.head);
        let trimmed = head.strip_suffix(b"\n").unwrap_or(&head);
        let n = DELIMITER.len().min(trimmed.len());
        if trimmed[..n] == DELIMITER[..n] {
            if line_complete && n == DELIMITER.len() {
                self.in_routines = trimmed != b"DELIMITER ;";
                self.state = State::Head;
                return;
            }
            if !line_complete && head.len() < HEAD_MAX {
                self.head = head;
                return;
            }
        }
        let verdict = if self.in_routines {
            Head::Other
        } else {
            classify(&head, line_complete)
        };
        match verdict {
            Head::NeedMore if head.len() < HEAD_MAX => {
                self.head = head;
            }
            Head::NeedMore | Head::Other => {
                self.state = if line_complete {
                    State::Head
                } else {
                    State::Skip
                };
            }
            Head::Create(name) => {
                self.tables.entry(name).or_default();
                self.state = if line_complete {
                    State::Head
                } else {
                    State::Skip
                };
            }
            Head::Insert(table, used) => {
                self.tables.entry(table.clone()).or_default();
                self.state = State::Values {
                    table,
                    depth: 0,
                    in_string: false,
                    escaped: false,
                };
                let rest = head[used..].to_vec();
                self.feed(&rest);
            }
        }
    }

    /// The tables seen and their row counts, sorted by name.
    pub fn finish(self) -> Vec<TableRows> {
        self.tables
            .into_iter()
            .map(|(name, rows)| TableRows { name, rows })
            .collect()
    }
}

#[cfg(test)]
#[path = "count_tests.rs"]
mod tests;
