//! Traces: the lines a run records, and the comparison of two traces that names the first
//! difference.

use std::fmt;

/// A program's trace: one event a line, `end` last.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    pub lines: Vec<String>,
}

impl Trace {
    /// Parses trace text (one event a line; a trailing newline is optional).
    pub fn from_text(text: &str) -> Trace {
        Trace {
            lines: text.lines().map(str::to_string).collect(),
        }
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// The first place where an actual trace differs from the expected one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// 1-based line number.
    pub line: usize,
    /// The expected line, `None` when the expected trace had already ended.
    pub expected: Option<String>,
    /// The actual line, `None` when the actual trace had already ended.
    pub actual: Option<String>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |l: &Option<String>| match l {
            Some(l) => l.clone(),
            None => "(trace ended)".to_string(),
        };
        write!(
            f,
            "line {}: expected `{}`, got `{}`",
            self.line,
            show(&self.expected),
            show(&self.actual)
        )
    }
}

/// The first difference between `expected` and `actual`, if any.
pub fn diff(expected: &Trace, actual: &Trace) -> Option<Divergence> {
    let n = expected.lines.len().max(actual.lines.len());
    (0..n).find_map(|i| {
        let e = expected.lines.get(i);
        let a = actual.lines.get(i);
        (e != a).then(|| Divergence {
            line: i + 1,
            expected: e.cloned(),
            actual: a.cloned(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_first_difference_and_length_mismatches() {
        let a = Trace::from_text("x\ny\nend\n");
        let b = Trace::from_text("x\nz\nend\n");
        assert_eq!(diff(&a, &a), None);
        let d = diff(&a, &b).unwrap();
        assert_eq!(
            (d.line, d.expected.as_deref(), d.actual.as_deref()),
            (2, Some("y"), Some("z"))
        );
        let short = Trace::from_text("x\n");
        let d = diff(&a, &short).unwrap();
        assert_eq!((d.line, d.actual.clone()), (2, None));
        assert_eq!(d.to_string(), "line 2: expected `y`, got `(trace ended)`");
    }
}
