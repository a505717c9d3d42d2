//! proptest strategies for valid programs, shared by the
//! parser's tests and any other test that needs arbitrary well-formed [`Program`]s.
//!
//! Every generated program obeys every static rule of `docs/language.md`: slots
//! g0..g15, counts ≤ 1000, fuel ≤ 1000000, blocks nest at most 100 deep, the `recurse` counts
//! around any statement add up to at most 4096, body names are valid, unique and not reserved,
//! and every `spawn` names a defined body. It does not try to make programs that run well.

use crate::lang::ast::{
    each_stmt_mut, Block, Catch, Def, Error, Program, Ref, Stmt, Value, MAX_COUNT, MAX_FUEL,
    MAX_NESTING, MAX_RECURSION, SLOTS,
};
use crate::lang::parse::is_name;
use proptest::prelude::*;

/// A valid body NAME, with extra weight on names close to reserved words and slots.
pub fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z_][a-z0-9_]{0,8}".prop_filter("a valid name", |n| is_name(n)),
        1 => prop::sample::select(vec![
            "g", "g12x", "g0_", "_", "_0", "mainx", "spawn_", "e0", "exitx", "anyx", "gg1",
        ])
        .prop_map(str::to_string),
    ]
}

pub fn ref_strategy() -> impl Strategy<Value = Ref> {
    prop_oneof![
        4 => (0..SLOTS).prop_map(Ref::Slot),
        1 => Just(Ref::Main),
        1 => Just(Ref::Current),
        1 => Just(Ref::Parent),
    ]
}

pub fn value_strategy() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::None),
        (-5i64..50).prop_map(Value::Int),
        any::<i64>().prop_map(Value::Int),
        prop::sample::select(vec![i64::MIN, i64::MAX, 0]).prop_map(Value::Int),
        "[a-z0-9_ ]{0,12}".prop_map(Value::Str),
    ]
}

pub fn error_strategy() -> impl Strategy<Value = Error> {
    prop::sample::select(Error::ALL.to_vec())
}

pub fn catch_strategy() -> impl Strategy<Value = Catch> {
    prop_oneof![
        3 => error_strategy().prop_map(Catch::Error),
        1 => Just(Catch::Any),
    ]
}

fn count_strategy() -> impl Strategy<Value = u32> {
    prop_oneof![0..4u32, 0..=MAX_COUNT, Just(MAX_COUNT)]
}

/// A statement with no block. `spawn` names are placeholders, fixed up by [`program_strategy`].
fn leaf_strategy() -> impl Strategy<Value = Stmt> {
    prop_oneof![
        (0..SLOTS, name_strategy(), prop::option::of(ref_strategy()))
            .prop_map(|(slot, body, parent)| Stmt::Spawn { slot, body, parent }),
        (ref_strategy(), value_strategy()).prop_map(|(r, v)| Stmt::Switch(r, v)),
        (ref_strategy(), error_strategy()).prop_map(|(r, e)| Stmt::Throw(r, e)),
        value_strategy().prop_map(Stmt::Return),
        error_strategy().prop_map(Stmt::Raise),
        (ref_strategy(), ref_strategy()).prop_map(|(a, b)| Stmt::Reparent(a, b)),
        ref_strategy().prop_map(Stmt::Observe),
        (0..SLOTS).prop_map(Stmt::Drop),
    ]
}

/// A statement, nested at most 4 blocks deep below itself.
fn stmt_strategy() -> impl Strategy<Value = Stmt> {
    leaf_strategy().prop_recursive(4, 48, 4, |inner| {
        let block = || prop::collection::vec(inner.clone(), 0..4);
        prop_oneof![
            (block(), catch_strategy(), block()).prop_map(|(body, catch, handler)| Stmt::Try {
                body,
                catch,
                handler
            }),
            (count_strategy(), block()).prop_map(|(n, b)| Stmt::Repeat(n, b)),
            (count_strategy(), block()).prop_map(|(n, b)| Stmt::Recurse(n, b)),
        ]
    })
}

/// One level of a deep chain of nested blocks.
#[derive(Clone, Debug)]
enum Wrap {
    Repeat(u32),
    Recurse(u32),
    TryBody(Catch),
    TryHandler(Catch),
}

fn wrap_strategy() -> impl Strategy<Value = Wrap> {
    prop_oneof![
        count_strategy().prop_map(Wrap::Repeat),
        count_strategy().prop_map(Wrap::Recurse),
        catch_strategy().prop_map(Wrap::TryBody),
        catch_strategy().prop_map(Wrap::TryHandler),
    ]
}

/// A statement whose blocks nest up to `MAX_NESTING - 1` deep, so that it fits in a body.
fn deep_strategy() -> impl Strategy<Value = Stmt> {
    (
        prop::collection::vec(wrap_strategy(), 1..MAX_NESTING),
        prop::collection::vec(leaf_strategy(), 0..3),
    )
        .prop_map(|(wraps, leaves)| {
            let mut inner: Block = leaves;
            let mut stmt = None;
            for w in wraps.into_iter().rev() {
                let block = match stmt.take() {
                    Some(s) => vec![s],
                    None => std::mem::take(&mut inner),
                };
                stmt = Some(match w {
                    Wrap::Repeat(n) => Stmt::Repeat(n, block),
                    Wrap::Recurse(n) => Stmt::Recurse(n, block),
                    Wrap::TryBody(catch) => Stmt::Try {
                        body: block,
                        catch,
                        handler: vec![],
                    },
                    Wrap::TryHandler(catch) => Stmt::Try {
                        body: vec![Stmt::Raise(Error::E(0))],
                        catch,
                        handler: block,
                    },
                });
            }
            stmt.unwrap_or(Stmt::Observe(Ref::Main))
        })
}

fn body_strategy() -> impl Strategy<Value = Block> {
    prop::collection::vec(stmt_strategy(), 0..6)
}

/// An arbitrary valid program.
pub fn program_strategy() -> impl Strategy<Value = Program> {
    (
        prop::option::of(prop_oneof![0..100u64, 0..=MAX_FUEL, Just(MAX_FUEL)]),
        prop::collection::vec((name_strategy(), body_strategy()), 0..4),
        body_strategy(),
        prop::option::of(deep_strategy()),
        any::<usize>(),
    )
        .prop_map(|(fuel, defs, mut main, deep, position)| {
            let mut defs = unique_defs(defs);
            if let Some(deep) = deep {
                main.push(deep);
            }
            let names: Vec<String> = defs.iter().map(|d| d.name.clone()).collect();
            fix_block(&mut main, &names, MAX_RECURSION);
            for def in &mut defs {
                fix_block(&mut def.body, &names, MAX_RECURSION);
            }
            let main_position = position % (defs.len() + 1);
            Program {
                fuel,
                defs,
                main,
                main_position,
            }
        })
}

/// Makes every `spawn` name a defined body (or become an `observe` when there are none), and
/// cuts `recurse` counts to fit in `budget`.
fn fix_block(block: &mut Block, names: &[String], budget: u32) {
    for stmt in block.iter_mut() {
        match stmt {
            Stmt::Spawn { slot, body, .. } => {
                if names.is_empty() {
                    *stmt = Stmt::Observe(Ref::Slot(*slot));
                } else if !names.contains(body) {
                    *body = names[body.len() % names.len()].clone();
                }
            }
            Stmt::Try { body, handler, .. } => {
                fix_block(body, names, budget);
                fix_block(handler, names, budget);
            }
            Stmt::Repeat(_, b) => fix_block(b, names, budget),
            Stmt::Recurse(n, b) => {
                *n = (*n).min(budget);
                fix_block(b, names, budget - *n);
            }
            _ => {}
        }
    }
}

/// References of [`switching_program_strategy`]: mostly the four slots its main fills first
/// (main has no parent, so main's own statements do not name `parent`).
fn live_ref_strategy(in_main: bool) -> BoxedStrategy<Ref> {
    if in_main {
        prop_oneof![
            8 => (0..4u8).prop_map(Ref::Slot),
            1 => Just(Ref::Main),
            1 => Just(Ref::Current),
        ]
        .boxed()
    } else {
        prop_oneof![
            6 => (0..4u8).prop_map(Ref::Slot),
            2 => Just(Ref::Parent),
            1 => Just(Ref::Main),
            1 => Just(Ref::Current),
        ]
        .boxed()
    }
}

/// A block-free statement of a switching program (mostly switches and throws; in main, no
/// `return` and few `raise`s, so that main goes on driving its greenlets).
fn switching_leaf_strategy(in_main: bool) -> BoxedStrategy<Stmt> {
    let r = move || live_ref_strategy(in_main);
    let ends = if in_main { 0 } else { 1 };
    prop_oneof![
        1 => (0..4u8, name_strategy(), prop::option::of(r()))
            .prop_map(|(slot, body, parent)| Stmt::Spawn { slot, body, parent }),
        8 => (r(), value_strategy()).prop_map(|(r, v)| Stmt::Switch(r, v)),
        2 => (r(), error_strategy()).prop_map(|(r, e)| Stmt::Throw(r, e)),
        ends => value_strategy().prop_map(Stmt::Return),
        ends => error_strategy().prop_map(Stmt::Raise),
        1 => (r(), r()).prop_map(|(a, b)| Stmt::Reparent(a, b)),
        1 => r().prop_map(Stmt::Observe),
        1 => (0..4u8).prop_map(Stmt::Drop),
    ]
    .boxed()
}

/// A statement of a switching program: small loops, `try` around switches (main catches
/// `any`, so that errors from its greenlets do not end it), and `recurse` around switches,
/// now and then hundreds of frames deep.
fn switching_stmt_strategy(in_main: bool) -> BoxedStrategy<Stmt> {
    switching_leaf_strategy(in_main)
        .prop_recursive(3, 24, 4, move |inner| {
            let block = || prop::collection::vec(inner.clone(), 1..4);
            let catch = move || {
                if in_main {
                    Just(Catch::Any).boxed()
                } else {
                    catch_strategy().boxed()
                }
            };
            prop_oneof![
                3 => (block(), catch(), block()).prop_map(|(body, catch, handler)| Stmt::Try {
                    body,
                    catch,
                    handler
                }),
                1 => (0..4u32, block()).prop_map(|(n, b)| Stmt::Repeat(n, b)),
                2 => (prop_oneof![3 => 0..20u32, 1 => 100..=MAX_COUNT], block())
                    .prop_map(|(n, b)| Stmt::Recurse(n, b)),
            ]
        })
        .boxed()
}

/// Valid programs that really switch, for differential property tests: main first spawns
/// greenlets into g0.. (up to g3), then switches, throws, reparents, observes and drops mostly
/// through those slots, `parent` and `main`. Shrinking makes a failing program small.
pub fn switching_program_strategy() -> impl Strategy<Value = Program> {
    (
        prop::collection::vec(
            (
                name_strategy(),
                prop::collection::vec(switching_stmt_strategy(false), 1..6),
            ),
            1..4,
        ),
        1..=4u8,
        prop::collection::vec(switching_stmt_strategy(true), 1..10),
        any::<usize>(),
    )
        .prop_map(|(defs, spawns, rest, position)| {
            let mut defs = unique_defs(defs);
            let names: Vec<String> = defs.iter().map(|d| d.name.clone()).collect();
            let mut main: Block = (0..spawns)
                .map(|slot| Stmt::Spawn {
                    slot,
                    body: names[slot as usize % names.len()].clone(),
                    parent: None,
                })
                .collect();
            main.extend(rest);
            fix_block(&mut main, &names, MAX_RECURSION);
            only_slots_below(&mut main, spawns);
            for def in &mut defs {
                fix_block(&mut def.body, &names, MAX_RECURSION);
                only_slots_below(&mut def.body, spawns);
            }
            let main_position = position % (defs.len() + 1);
            Program {
                fuel: None,
                defs,
                main,
                main_position,
            }
        })
}

/// Makes every slot a statement names (spawned into or referred to) one of g0 .. g{n-1}.
fn only_slots_below(block: &mut Block, n: u8) {
    each_stmt_mut(block, &mut |stmt| {
        for k in stmt.slots_mut() {
            *k %= n;
        }
    });
}

/// Definitions from (name, body) pairs, keeping the first of each name.
fn unique_defs(pairs: Vec<(String, Block)>) -> Vec<Def> {
    let mut seen = std::collections::HashSet::new();
    pairs
        .into_iter()
        .filter(|(name, _)| seen.insert(name.clone()))
        .map(|(name, body)| Def { name, body })
        .collect()
}
