//! Problems found in a configuration, and how they are shown to operators.
//!
//! Every stage (parse, expansion, merge, model, validation) pushes into one [`Diagnostics`]
//! instead of returning at the first error, so `weir validate` can list everything that is
//! wrong in one run. Each [`Diagnostic`] names the dotted key path and, when known, the file
//! and line of that key.

use std::fmt;

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The source name: a file path, `<embedded default>` or `--set`.
    pub file: String,
    /// 1-based line in `file`; for `--set` values, the 1-based index of the `--set` argument.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// How bad a problem is: errors stop Weir from starting, warnings do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem found in a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Dotted key path, e.g. `exporters.otlp/eu.sending_queue.queue_sise`.
    pub path: String,
    /// File and line of that key, when known.
    pub location: Option<Location>,
    /// What is wrong, e.g. "unknown key `queue_sise`".
    pub message: String,
    /// A likely intended spelling, rendered as "did you mean `queue_size`?".
    pub suggestion: Option<String>,
}

impl Diagnostic {
    /// An error at `path` with no location or suggestion yet.
    pub fn error(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            path: path.into(),
            location: None,
            message: message.into(),
            suggestion: None,
        }
    }

    /// A warning at `path` with no location or suggestion yet.
    pub fn warning(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(path, message)
        }
    }

    /// Sets the location.
    pub fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    /// Sets the suggestion.
    pub fn suggest(mut self, suggestion: Option<String>) -> Self {
        self.suggestion = suggestion;
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.severity)?;
        if !self.path.is_empty() {
            write!(f, " {}", self.path)?;
        }
        if let Some(location) = &self.location {
            write!(f, " ({location})")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(suggestion) = &self.suggestion {
            write!(f, "; did you mean `{suggestion}`?")?;
        }
        Ok(())
    }
}

/// All problems found, errors and warnings, in the order they were found.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// True when at least one item is an error.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    /// Appends every item of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// The candidate closest to `word`, if it is close enough to be a likely misspelling.
///
/// Uses Jaro-Winkler similarity (good at transposed and mistyped letters in short identifiers)
/// with a threshold of 0.8; an exact case-insensitive match always wins.
pub fn suggest<'a, I>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = word.to_ascii_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        if candidate == word {
            continue;
        }
        let score = if candidate.to_ascii_lowercase() == lower {
            2.0
        } else {
            strsim::jaro_winkler(&lower, &candidate.to_ascii_lowercase())
        };
        if score >= 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c.to_string())
}

/// Joins key segments into the dotted form used in [`Diagnostic::path`].
pub(crate) fn dotted<S: AsRef<str>>(path: &[S]) -> String {
    path.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_path_location_and_suggestion() {
        let d = Diagnostic::error(
            "exporters.otlp/eu.sending_queue.queue_sise",
            "unknown key `queue_sise`",
        )
        .at(Some(Location {
            file: "weir.yaml".into(),
            line: 12,
        }))
        .suggest(Some("queue_size".into()));
        assert_eq!(
            d.to_string(),
            "error: exporters.otlp/eu.sending_queue.queue_sise (weir.yaml:12): unknown key `queue_sise`; did you mean `queue_size`?"
        );
    }

    #[test]
    fn suggests_close_names_only() {
        let known = ["receivers", "processors", "exporters"];
        assert_eq!(suggest("recievers", known), Some("receivers".into()));
        assert_eq!(suggest("zzz", known), None);
        assert_eq!(suggest("Exporters", known), Some("exporters".into()));
    }

    #[test]
    fn counts_errors_and_warnings() {
        let mut all = Diagnostics::default();
        all.push(Diagnostic::warning("a", "w"));
        assert!(!all.has_errors());
        all.push(Diagnostic::error("b", "e"));
        assert!(all.has_errors());
        assert_eq!(all.errors().count(), 1);
        assert_eq!(all.warnings().count(), 1);
        assert_eq!(all.to_string(), "warning: a: w\nerror: b: e");
    }
}
