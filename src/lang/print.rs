//! The printer: a [`Program`] as canonical text that [`crate::lang::parse::parse`] reads back to an
//! equal `Program`.
//!
//! Layout: `fuel N` on the first line only when the program gives one; then the defs and `main`
//! in their file order (`main_position`), separated by blank lines; two spaces of indentation
//! per block level, one statement per line; an empty block is `{}`. Values, references, errors
//! print with their `Display` from `ast.rs` (so integers are canonical: `-0` prints as `0`).

use crate::lang::ast::{Block, Program, Stmt};
use std::fmt::Write;

/// The canonical text of `program`.
pub fn print(program: &Program) -> String {
    let mut out = String::new();
    if let Some(fuel) = program.fuel {
        let _ = writeln!(out, "fuel {fuel}");
    }
    let main_at = program.main_position.min(program.defs.len());
    let mut first = true;
    let mut item = |out: &mut String, head: &str, body: &Block| {
        if !first {
            out.push('\n');
        }
        first = false;
        out.push_str(head);
        out.push(' ');
        block(out, body, 0);
        out.push('\n');
    };
    for (i, def) in program.defs.iter().enumerate() {
        if i == main_at {
            item(&mut out, "main", &program.main);
        }
        item(&mut out, &format!("def {}", def.name), &def.body);
    }
    if main_at == program.defs.len() {
        item(&mut out, "main", &program.main);
    }
    out
}

/// Writes `{`, the statements one a line at `indent + 1` levels, and `}` at `indent` levels
/// (no newline after the `}`).
fn block(out: &mut String, stmts: &[Stmt], indent: usize) {
    if stmts.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{\n");
    for s in stmts {
        pad(out, indent + 1);
        statement(out, s, indent + 1);
        out.push('\n');
    }
    pad(out, indent);
    out.push('}');
}

fn pad(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push_str("  ");
    }
}

/// Writes one statement whose first line is at `indent` levels (already padded).
fn statement(out: &mut String, stmt: &Stmt, indent: usize) {
    let _ = match stmt {
        Stmt::Spawn { slot, body, parent } => {
            let _ = write!(out, "spawn g{slot} {body}");
            match parent {
                Some(p) => write!(out, " parent {p}"),
                None => Ok(()),
            }
        }
        Stmt::Switch(r, v) => write!(out, "switch {r} {v}"),
        Stmt::Throw(r, e) => write!(out, "throw {r} {e}"),
        Stmt::Return(v) => write!(out, "return {v}"),
        Stmt::Raise(e) => write!(out, "raise {e}"),
        Stmt::Try {
            body,
            catch,
            handler,
        } => {
            out.push_str("try ");
            block(out, body, indent);
            let _ = write!(out, " catch {catch} ");
            block(out, handler, indent);
            Ok(())
        }
        Stmt::Repeat(n, b) => {
            let _ = write!(out, "repeat {n} ");
            block(out, b, indent);
            Ok(())
        }
        Stmt::Recurse(n, b) => {
            let _ = write!(out, "recurse {n} ");
            block(out, b, indent);
            Ok(())
        }
        Stmt::Reparent(a, b) => write!(out, "reparent {a} {b}"),
        Stmt::Observe(r) => write!(out, "observe {r}"),
        Stmt::Drop(k) => write!(out, "drop g{k}"),
    };
}
