//! Test-case minimization: delta debugging over the program's syntax tree that keeps a failure.
//!
//! Contract: it depends on [`crate::lang`] only and runs nothing itself; whether a candidate
//! fails is the caller's predicate (the campaign runs candidates in worker processes,
//! [`crate::campaign::minimize`]). Its tests are in `tests.rs`.
//!
//! [`minimize`] takes a failing program and an oracle, `FnMut(&Program) -> bool`, that says
//! whether a candidate still fails *the same way* (the campaign's oracle runs the candidate in
//! a child process on one backend and compares the failure kind; tests use synthetic
//! predicates in-process). It repeats these passes until a whole round changes nothing or the
//! [`Budget`] is spent:
//!
//! 1. remove `def`s that no `spawn` names;
//! 2. ddmin over every block's statement list: remove chunks of half the block, then quarters,
//!    ... then single statements;
//! 3. replace a compound statement by its body (`try` by its body or by its handler, `repeat`
//!    and `recurse` by their block);
//! 4. merge a `repeat`/`recurse` with the loops of the same kind directly inside it
//!    (`structure.rs`);
//! 5. lower `repeat`/`recurse` counts (binary search for the smallest count that still fails);
//! 6. inline a spawned body in place of its `spawn`, or spawn another def instead; move a
//!    statement out of its block, or from one body to another (`structure.rs`);
//! 7. simplify atoms: values to `none` (then integers to 0), errors to `E0`, `catch E` to
//!    `catch any`, slots to lower slots, `spawn ... parent R` to no parent, spawned bodies to
//!    earlier bodies, references to `main`;
//! 8. renumber slots: a slot renamed everywhere to a lower unused one;
//! 9. remove the `fuel` line.
//!
//! Every candidate is a valid program: each one is printed and parsed back, and one that does
//! not give back the same program (a static rule broken) is skipped without running it. A
//! candidate already tried (same printed text) is not run again.

use crate::lang::ast::{count_statements, Block, Catch, Error, Program, Ref, Stmt, Value, SLOTS};
use crate::lang::parse::parse;
use crate::lang::print::print;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// When to stop minimizing.
#[derive(Clone, Debug)]
pub struct Budget {
    /// Most oracle calls.
    pub max_runs: usize,
    /// Most wall time.
    pub max_time: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_runs: 2000,
            max_time: Duration::from_secs(60),
        }
    }
}

/// What minimization gave.
#[derive(Clone, Debug)]
pub struct Minimized {
    /// The smallest failing program found (the input itself when nothing smaller failed).
    pub program: Program,
    /// Oracle calls made.
    pub runs: usize,
    /// Statements before and after.
    pub statements_before: usize,
    pub statements_after: usize,
    /// Whether the budget ran out before a fixpoint.
    pub exhausted: bool,
}

/// Minimizes `program`, which `fails` must accept. Returns the smallest program found that
/// `fails` accepted.
pub fn minimize(
    program: &Program,
    budget: &Budget,
    fails: impl FnMut(&Program) -> bool,
) -> Minimized {
    let mut m = Minimizer {
        best: program.clone(),
        fails: Box::new(fails),
        tried: HashSet::new(),
        runs: 0,
        budget: budget.clone(),
        started: Instant::now(),
    };
    m.tried.insert(print(program));
    loop {
        let before = print(&m.best);
        m.remove_unused_defs();
        m.ddmin_blocks();
        m.unwrap_compounds();
        m.merge_nested();
        m.lower_counts();
        m.inline_spawns();
        m.move_statements();
        m.simplify_atoms();
        m.renumber_slots();
        m.remove_fuel();
        m.remove_unused_defs();
        if m.out_of_budget() || print(&m.best) == before {
            break;
        }
    }
    Minimized {
        statements_before: program_size(program),
        statements_after: program_size(&m.best),
        exhausted: m.out_of_budget(),
        runs: m.runs,
        program: m.best,
    }
}

/// Statements in main and every def.
pub fn program_size(p: &Program) -> usize {
    count_statements(&p.main)
        + p.defs
            .iter()
            .map(|d| count_statements(&d.body))
            .sum::<usize>()
}

/// Whether `p` obeys every static rule of the language (it prints to text that parses back to
/// the same program).
pub fn is_valid(p: &Program) -> bool {
    parse("candidate.gp", print(p).as_bytes()).is_ok_and(|q| q == *p)
}

struct Minimizer<'a> {
    best: Program,
    fails: Box<dyn FnMut(&Program) -> bool + 'a>,
    tried: HashSet<String>,
    runs: usize,
    budget: Budget,
    started: Instant,
}

/// Where a block is: main or a def's body, then (statement index, which block of it) steps.
#[derive(Clone, Debug)]
struct BlockPath {
    /// `None`: main; `Some(i)`: def i.
    root: Option<usize>,
    steps: Vec<(usize, u8)>,
}

fn block_paths(p: &Program) -> Vec<BlockPath> {
    fn walk(block: &Block, path: &BlockPath, out: &mut Vec<BlockPath>) {
        out.push(path.clone());
        for (i, s) in block.iter().enumerate() {
            for (k, child) in s.children().enumerate() {
                let mut deeper = path.clone();
                deeper.steps.push((i, k as u8));
                walk(child, &deeper, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &p.main,
        &BlockPath {
            root: None,
            steps: Vec::new(),
        },
        &mut out,
    );
    for (d, def) in p.defs.iter().enumerate() {
        walk(
            &def.body,
            &BlockPath {
                root: Some(d),
                steps: Vec::new(),
            },
            &mut out,
        );
    }
    out
}

fn block_at<'p>(p: &'p mut Program, path: &BlockPath) -> Option<&'p mut Block> {
    let mut block = match path.root {
        None => &mut p.main,
        Some(d) => &mut p.defs.get_mut(d)?.body,
    };
    for &(i, k) in &path.steps {
        let stmt = block.get_mut(i)?;
        block = stmt.children_mut().nth(k as usize)?;
    }
    Some(block)
}

/// Every statement's place: (block path, index in that block), in pre-order.
fn statement_places(p: &Program) -> Vec<(BlockPath, usize)> {
    let mut out = Vec::new();
    for path in block_paths(p) {
        let mut q = p.clone();
        let len = block_at(&mut q, &path).map_or(0, |b| b.len());
        for i in 0..len {
            out.push((path.clone(), i));
        }
    }
    out
}

/// Whether some `spawn` in `block` names `name`.
fn spawns(block: &Block, name: &str) -> bool {
    block.iter().any(|s| match s {
        Stmt::Spawn { body, .. } => body == name,
        other => other.children().any(|b| spawns(b, name)),
    })
}

impl Minimizer<'_> {
    fn out_of_budget(&self) -> bool {
        self.runs >= self.budget.max_runs || self.started.elapsed() >= self.budget.max_time
    }

    /// Tries a candidate; keeps it (as the new best) when it still fails.
    fn attempt(&mut self, candidate: Program) -> bool {
        if self.out_of_budget() {
            return false;
        }
        let text = print(&candidate);
        if !self.tried.insert(text) || !is_valid(&candidate) {
            return false;
        }
        self.runs += 1;
        if (self.fails)(&candidate) {
            self.best = candidate;
            true
        } else {
            false
        }
    }

    fn remove_unused_defs(&mut self) {
        let mut d = 0;
        while d < self.best.defs.len() && !self.out_of_budget() {
            let name = self.best.defs[d].name.clone();
            let used = spawns(&self.best.main, &name)
                || self.best.defs.iter().any(|def| spawns(&def.body, &name));
            if !used {
                let mut c = self.best.clone();
                c.defs.remove(d);
                if c.main_position > d {
                    c.main_position -= 1;
                }
                if self.attempt(c) {
                    continue;
                }
            }
            d += 1;
        }
    }

    /// ddmin over every block: chunks of half the block, then smaller, then singles.
    fn ddmin_blocks(&mut self) {
        let mut b = 0;
        loop {
            let paths = block_paths(&self.best);
            let Some(path) = paths.get(b).cloned() else {
                break;
            };
            if self.out_of_budget() {
                break;
            }
            self.ddmin_block(&path);
            b += 1;
        }
    }

    fn ddmin_block(&mut self, path: &BlockPath) {
        let len = |p: &Program| {
            let mut q = p.clone();
            block_at(&mut q, path).map_or(0, |b| b.len())
        };
        let n = len(&self.best);
        if n == 0 {
            return;
        }
        // The whole block first, then halves, quarters, ... singles.
        let mut chunk = n;
        loop {
            let mut i = 0;
            while i < len(&self.best) && !self.out_of_budget() {
                let mut c = self.best.clone();
                let Some(block) = block_at(&mut c, path) else {
                    return;
                };
                let end = (i + chunk).min(block.len());
                block.drain(i..end);
                if !self.attempt(c) {
                    i += chunk;
                }
            }
            if chunk == 1 || self.out_of_budget() {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
    }

    /// Replaces the statement at `place` by `with` (spliced in).
    fn replaced(&self, place: &(BlockPath, usize), with: Vec<Stmt>) -> Option<Program> {
        let mut c = self.best.clone();
        let block = block_at(&mut c, &place.0)?;
        if place.1 >= block.len() {
            return None;
        }
        block.splice(place.1..place.1 + 1, with);
        Some(c)
    }

    fn stmt_at(&self, place: &(BlockPath, usize)) -> Option<Stmt> {
        let mut c = self.best.clone();
        block_at(&mut c, &place.0)?.get(place.1).cloned()
    }

    /// Calls `f` on every statement place in pre-order, with the statement there. Places are
    /// recomputed after each call (`f` may have changed the program); stops when the budget
    /// is spent.
    fn each_place(&mut self, mut f: impl FnMut(&mut Self, &(BlockPath, usize), Stmt)) {
        let mut at = 0;
        loop {
            if self.out_of_budget() {
                return;
            }
            let places = statement_places(&self.best);
            let Some(place) = places.get(at).cloned() else {
                return;
            };
            at += 1;
            let Some(stmt) = self.stmt_at(&place) else {
                return;
            };
            f(self, &place, stmt);
        }
    }

    /// Runs `f` over every statement place in pre-order; `f` offers replacements, tried in
    /// order until one still fails. Places are recomputed after every accepted change.
    fn each_statement(&mut self, mut f: impl FnMut(&Stmt) -> Vec<Vec<Stmt>>) {
        self.each_place(|m, place, stmt| {
            for with in f(&stmt) {
                if let Some(c) = m.replaced(place, with) {
                    if m.attempt(c) {
                        break;
                    }
                }
            }
        });
    }

    fn unwrap_compounds(&mut self) {
        self.each_statement(|s| s.children().cloned().collect());
    }

    /// Binary search for the smallest count of each `repeat`/`recurse` that still fails.
    fn lower_counts(&mut self) {
        self.each_place(|m, place, stmt| {
            let (n, with_count): (u32, Box<dyn Fn(u32) -> Stmt>) = match stmt {
                Stmt::Repeat(n, b) => (n, Box::new(move |k| Stmt::Repeat(k, b.clone()))),
                Stmt::Recurse(n, b) => (n, Box::new(move |k| Stmt::Recurse(k, b.clone()))),
                _ => return,
            };
            // Invariant: count `hi` fails (the current best); look for the smallest in lo..=hi.
            let (mut lo, mut hi) = (0u32, n);
            while lo < hi && !m.out_of_budget() {
                let mid = lo + (hi - lo) / 2;
                let Some(c) = m.replaced(place, vec![with_count(mid)]) else {
                    break;
                };
                if m.attempt(c) {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
        });
    }

    fn simplify_atoms(&mut self) {
        let names: Vec<String> = self.best.defs.iter().map(|d| d.name.clone()).collect();
        self.each_statement(|s| {
            let mut out = Vec::new();
            let mut push = |stmt: Stmt| {
                if stmt != *s {
                    out.push(vec![stmt]);
                }
            };
            match s {
                Stmt::Spawn { slot, body, parent } => {
                    if parent.is_some() {
                        push(Stmt::Spawn {
                            slot: *slot,
                            body: body.clone(),
                            parent: None,
                        });
                    }
                    if let Some(p) = parent {
                        for r in simpler_refs(*p) {
                            push(Stmt::Spawn {
                                slot: *slot,
                                body: body.clone(),
                                parent: Some(r),
                            });
                        }
                    }
                    for name in names.iter().take_while(|n| *n != body) {
                        push(Stmt::Spawn {
                            slot: *slot,
                            body: name.clone(),
                            parent: *parent,
                        });
                    }
                    for k in 0..*slot {
                        push(Stmt::Spawn {
                            slot: k,
                            body: body.clone(),
                            parent: *parent,
                        });
                    }
                }
                Stmt::Switch(r, v) => {
                    for v2 in simpler_values(v) {
                        push(Stmt::Switch(*r, v2));
                    }
                    for r2 in simpler_refs(*r) {
                        push(Stmt::Switch(r2, v.clone()));
                    }
                }
                Stmt::Throw(r, e) => {
                    for e2 in simpler_errors(*e) {
                        push(Stmt::Throw(*r, e2));
                    }
                    for r2 in simpler_refs(*r) {
                        push(Stmt::Throw(r2, *e));
                    }
                }
                Stmt::Return(v) => {
                    for v2 in simpler_values(v) {
                        push(Stmt::Return(v2));
                    }
                }
                Stmt::Raise(e) => {
                    for e2 in simpler_errors(*e) {
                        push(Stmt::Raise(e2));
                    }
                }
                Stmt::Try {
                    body,
                    catch,
                    handler,
                } => {
                    let catches = match catch {
                        Catch::Any => Vec::new(),
                        Catch::Error(e) => std::iter::once(Catch::Any)
                            .chain(simpler_errors(*e).into_iter().map(Catch::Error))
                            .collect(),
                    };
                    for c in catches {
                        push(Stmt::Try {
                            body: body.clone(),
                            catch: c,
                            handler: handler.clone(),
                        });
                    }
                }
                Stmt::Reparent(a, b) => {
                    for a2 in simpler_refs(*a) {
                        push(Stmt::Reparent(a2, *b));
                    }
                    for b2 in simpler_refs(*b) {
                        push(Stmt::Reparent(*a, b2));
                    }
                }
                Stmt::Observe(r) => {
                    for r2 in simpler_refs(*r) {
                        push(Stmt::Observe(r2));
                    }
                }
                Stmt::Drop(k) => {
                    for k2 in 0..*k {
                        push(Stmt::Drop(k2));
                    }
                }
                Stmt::Repeat(..) | Stmt::Recurse(..) => {}
            }
            out
        });
    }

    /// Renames a slot everywhere to a lower slot the program does not use.
    fn renumber_slots(&mut self) {
        for k in (1..SLOTS).rev() {
            let used = used_slots(&self.best);
            if !used.contains(&k) {
                continue;
            }
            if let Some(j) = (0..k).find(|j| !used.contains(j)) {
                let mut c = self.best.clone();
                rename_slot(&mut c, k, j);
                self.attempt(c);
            }
        }
    }

    fn remove_fuel(&mut self) {
        if self.best.fuel.is_some() {
            let mut c = self.best.clone();
            c.fuel = None;
            self.attempt(c);
        }
    }
}

fn used_slots(p: &Program) -> HashSet<u8> {
    let mut used = HashSet::new();
    p.clone()
        .each_stmt_mut(|s| used.extend(s.slots_mut().into_iter().map(|k| *k)));
    used
}

fn rename_slot(p: &mut Program, from: u8, to: u8) {
    p.each_stmt_mut(|s| {
        for k in s.slots_mut() {
            if *k == from {
                *k = to;
            }
        }
    });
}

fn simpler_values(v: &Value) -> Vec<Value> {
    match v {
        Value::None => Vec::new(),
        Value::Int(0) => vec![Value::None],
        Value::Int(_) => vec![Value::None, Value::Int(0)],
        Value::Str(_) => vec![Value::None, Value::Int(0)],
    }
}

fn simpler_errors(e: Error) -> Vec<Error> {
    if e == Error::E(0) {
        Vec::new()
    } else {
        vec![Error::E(0)]
    }
}

/// Simpler references: lower slots, then `main`.
fn simpler_refs(r: Ref) -> Vec<Ref> {
    match r {
        Ref::Slot(k) => (0..k).map(Ref::Slot).chain([Ref::Main]).collect(),
        Ref::Current | Ref::Parent => vec![Ref::Main],
        Ref::Main => Vec::new(),
    }
}

mod structure;
#[cfg(test)]
mod tests;
