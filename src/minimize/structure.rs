//! The minimizer's structural reductions: changes to the program's shape that deleting and
//! simplifying cannot make, each a candidate the predicate judges like any other.
//!
//! - [`Minimizer::merge_nested`]: a `recurse`/`repeat` directly inside one of the same kind
//!   merges into it (`recurse a { .. recurse b { X } .. }` becomes `recurse a+b { .. X .. }`;
//!   `repeat` multiplies), so nested loops that only add up to a depth shrink to one;
//! - [`Minimizer::move_statements`]: a statement moves out of its block to just before or
//!   after the block's statement, or from one body (main or a def) to the start or end of
//!   another;
//! - [`Minimizer::inline_spawns`]: a `spawn gK NAME` is replaced by NAME's body (alone, and
//!   with the statements of the same block that name gK), and a spawn names another def.
//!
//! Contract: every walk over nested blocks goes through [`Stmt::children`] /
//! [`Stmt::children_mut`] (via the places of the parent module), so a new statement kind
//! needs no change here unless it has blocks of its own that should merge.

use super::{block_at, BlockPath, Minimizer};
use crate::lang::ast::{Block, Program, Stmt, MAX_COUNT};

/// Which loop a statement is, with its count and block.
fn as_loop(s: &Stmt) -> Option<(bool, u32, &Block)> {
    match s {
        Stmt::Recurse(n, b) => Some((true, *n, b)),
        Stmt::Repeat(n, b) => Some((false, *n, b)),
        _ => None,
    }
}

fn make_loop(recurse: bool, n: u32, b: Block) -> Stmt {
    if recurse {
        Stmt::Recurse(n, b)
    } else {
        Stmt::Repeat(n, b)
    }
}

/// The top-level statements of a block that name slot `k` (as a target, a parent or the slot
/// filled).
/// How many `spawn` statements in `p` (main and every def) run the def called `name`.
fn spawns_of(p: &Program, name: &str) -> usize {
    fn count(block: &Block, name: &str) -> usize {
        block
            .iter()
            .map(|s| {
                let here = usize::from(matches!(s, Stmt::Spawn { body, .. } if body == name));
                here + s.children().map(|b| count(b, name)).sum::<usize>()
            })
            .sum()
    }
    count(&p.main, name) + p.defs.iter().map(|d| count(&d.body, name)).sum::<usize>()
}

fn names_slot(s: &Stmt, k: u8) -> bool {
    s.clone().slots_mut().into_iter().any(|j| *j == k)
}

impl Minimizer<'_> {
    /// Merges every `recurse`/`repeat` with the loops of the same kind directly in its block.
    pub(super) fn merge_nested(&mut self) {
        self.each_statement(|s| {
            let Some((recurse, n, block)) = as_loop(s) else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for (j, inner) in block.iter().enumerate() {
                let Some((inner_recurse, m, inner_block)) = as_loop(inner) else {
                    continue;
                };
                if inner_recurse != recurse {
                    continue;
                }
                let count = if recurse {
                    n.saturating_add(m)
                } else {
                    n.saturating_mul(m)
                }
                .min(MAX_COUNT);
                let mut merged = block.clone();
                merged.splice(j..j + 1, inner_block.iter().cloned());
                out.push(vec![make_loop(recurse, count, merged)]);
            }
            out
        });
    }

    /// Moves statements out of their block (to just before or after the statement that holds
    /// the block) and between top-level bodies.
    pub(super) fn move_statements(&mut self) {
        self.each_place(|m, place, stmt| {
            let (path, i) = place;
            let mut targets: Vec<(BlockPath, usize)> = Vec::new();
            if let Some((&(outer, _), rest)) = path.steps.split_last() {
                let parent = BlockPath {
                    root: path.root,
                    steps: rest.to_vec(),
                };
                targets.push((parent.clone(), outer));
                targets.push((parent, outer + 1));
            } else {
                let roots = std::iter::once(None).chain((0..m.best.defs.len()).map(Some));
                for root in roots.filter(|r| *r != path.root) {
                    let to = BlockPath {
                        root,
                        steps: Vec::new(),
                    };
                    let len = block_at(&mut m.best.clone(), &to).map_or(0, |b| b.len());
                    targets.push((to.clone(), 0));
                    if len > 0 {
                        targets.push((to, len));
                    }
                }
            }
            for (to, at) in targets {
                let mut c = m.best.clone();
                // Insert first (the target is outside the source block or at an earlier
                // index of an enclosing block), then remove from the source, whose place
                // shifts by one when the insertion came before it in the same block.
                let Some(dest) = block_at(&mut c, &to) else {
                    continue;
                };
                if at > dest.len() {
                    continue;
                }
                dest.insert(at, stmt.clone());
                let mut source = path.clone();
                if source.root == to.root && source.steps.len() > to.steps.len() {
                    let depth = to.steps.len();
                    if source.steps[..depth] == to.steps[..] && source.steps[depth].0 >= at {
                        source.steps[depth].0 += 1;
                    }
                }
                let Some(block) = block_at(&mut c, &source) else {
                    continue;
                };
                if *i >= block.len() || block[*i] != stmt {
                    continue;
                }
                block.remove(*i);
                if m.attempt(c) {
                    break;
                }
            }
        });
    }

    /// Replaces a `spawn gK NAME` by NAME's body (then also without the statements of the same
    /// block that name gK), and tries every other def as the spawned body.
    pub(super) fn inline_spawns(&mut self) {
        let defs: Vec<(String, Block)> = self
            .best
            .defs
            .iter()
            .map(|d| (d.name.clone(), d.body.clone()))
            .collect();
        self.each_place(|m, place, stmt| {
            let Stmt::Spawn { slot, body, parent } = &stmt else {
                return;
            };
            for (name, _) in defs.iter().filter(|(n, _)| n != body) {
                let other = Stmt::Spawn {
                    slot: *slot,
                    body: name.clone(),
                    parent: *parent,
                };
                if m.replaced(place, vec![other]).is_some_and(|c| m.attempt(c)) {
                    return;
                }
            }
            // Only a body spawned here alone: its def then goes unused and is dropped, so the
            // program does not grow (inlining a body spawned in several places copies it).
            if spawns_of(&m.best, body) != 1 {
                return;
            }
            let Some((_, inlined)) = defs.iter().find(|(n, _)| n == body) else {
                return;
            };
            if let Some(c) = m.replaced(place, inlined.clone()) {
                if m.attempt(c) {
                    return;
                }
            }
            // The body inlined, and the block's later statements that name the slot gone.
            let mut c = m.best.clone();
            let Some(block) = block_at(&mut c, &place.0) else {
                return;
            };
            let tail: Block = block
                .drain(place.1 + 1..)
                .filter(|s| !names_slot(s, *slot))
                .collect();
            block.truncate(place.1);
            block.extend(inlined.iter().cloned());
            block.extend(tail);
            m.attempt(c);
        });
    }
}
