//! The minimizer against synthetic predicates and seeded programs.

use super::*;
use crate::check::registry;
use crate::gen::{self, GenConfig};
use crate::lang::ast::Def;
use crate::lang::parse::parse;

fn generated(seed: u64, pred: impl Fn(&Program) -> bool) -> Vec<Program> {
    (0..3000)
        .map(|i| gen::seeded::program(seed, i, &GenConfig::default()))
        .filter(|p| pred(p))
        .take(5)
        .collect()
}

fn oracle_trace(p: &Program) -> Vec<String> {
    registry::oracle()
        .run(p)
        .map(|t| t.lines)
        .unwrap_or_default()
}

#[test]
fn keeps_a_program_when_nothing_smaller_fails() {
    let p = gen::seeded::program(3, 0, &GenConfig::default());
    let original = print(&p);
    let m = minimize(&p, &Budget::default(), |c| print(c) == original);
    assert_eq!(m.program, p);
}

#[test]
fn every_candidate_is_valid() {
    for index in 0..20 {
        let p = gen::seeded::program(11, index, &GenConfig::deep());
        let budget = Budget {
            max_runs: 300,
            ..Budget::default()
        };
        minimize(&p, &budget, |c| {
            assert!(is_valid(c), "invalid candidate:\n{}", print(c));
            c.defs.len() >= 2
        });
    }
}

/// Static: main spawns into a slot and throws into it before anything else names it.
fn throws_into_unstarted(p: &Program) -> bool {
    fn names(s: &Stmt, k: u8) -> bool {
        match s {
            Stmt::Spawn { slot, parent, .. } => *slot == k || *parent == Some(Ref::Slot(k)),
            Stmt::Switch(r, _) | Stmt::Throw(r, _) | Stmt::Observe(r) => *r == Ref::Slot(k),
            Stmt::Reparent(a, b) => *a == Ref::Slot(k) || *b == Ref::Slot(k),
            other => other
                .children()
                .into_iter()
                .any(|b| b.iter().any(|s| names(s, k))),
        }
    }
    p.main.iter().enumerate().any(|(i, s)| match s {
        Stmt::Spawn { slot, .. } => p.main[i + 1..]
            .iter()
            .find(|t| names(t, *slot))
            .is_some_and(|t| matches!(t, Stmt::Throw(Ref::Slot(k), _) if k == slot)),
        _ => false,
    })
}

#[test]
fn reaches_spawn_then_throw_into_the_unstarted_greenlet() {
    let found = generated(21, throws_into_unstarted);
    assert!(!found.is_empty());
    for p in found {
        let m = minimize(&p, &Budget::default(), throws_into_unstarted);
        let q = &m.program;
        assert_eq!(q.main.len(), 2, "{}", print(q));
        assert!(matches!(
            q.main[0],
            Stmt::Spawn {
                slot: 0,
                parent: None,
                ..
            }
        ));
        assert_eq!(q.main[1], Stmt::Throw(Ref::Slot(0), Error::E(0)));
        assert_eq!(q.defs.len(), 1);
        assert!(q.defs[0].body.is_empty());
        assert_eq!(q.fuel, None);
        assert!(m.statements_before > m.statements_after);
    }
}

#[test]
fn reaches_a_small_program_with_teardown_on_the_oracle() {
    let has_teardown = |p: &Program| oracle_trace(p).iter().any(|l| l.contains("teardown"));
    let found = generated(22, has_teardown);
    assert!(!found.is_empty());
    for p in found {
        let m = minimize(&p, &Budget::default(), has_teardown);
        // The smallest is def f { switch main none } main { spawn g0 f; switch g0 none }:
        // 3 statements. Deleting alone stopped at 5 on one of these programs (a body spawned
        // the greenlet main then switched to); moving statements between bodies and inlining
        // spawned bodies reach 3.
        assert!(
            program_size(&m.program) <= 3,
            "{} runs:\n{}",
            m.runs,
            print(&m.program)
        );
    }
}

#[test]
fn keeps_the_error_a_failure_needs_and_lowers_counts() {
    // Fails when the oracle's trace catches E1 inside 37 or more recurse frames (static).
    fn deep_enough(block: &Block, depth: u32) -> bool {
        block.iter().any(|s| match s {
            Stmt::Recurse(n, b) => deep_enough(b, depth + n),
            Stmt::Try { body, .. } if depth >= 37 => body.contains(&Stmt::Raise(Error::E(1))),
            other => other.children().any(|b| deep_enough(b, depth)),
        })
    }
    let fails = |p: &Program| {
        deep_enough(&p.main, 0) && oracle_trace(p).iter().any(|l| l == "#0 caught E1")
    };
    let mut p = Program {
        fuel: Some(500),
        defs: vec![Def {
            name: "f0".into(),
            body: vec![Stmt::Switch(Ref::Parent, Value::Int(2))],
        }],
        main: vec![
            Stmt::Spawn {
                slot: 3,
                body: "f0".into(),
                parent: None,
            },
            Stmt::Switch(Ref::Slot(3), Value::Str("x".into())),
        ],
        main_position: 1,
    };
    p.main.push(Stmt::Repeat(
        3,
        vec![Stmt::Recurse(
            400,
            vec![
                Stmt::Observe(Ref::Main),
                Stmt::Try {
                    body: vec![
                        Stmt::Switch(Ref::Current, Value::Int(5)),
                        Stmt::Raise(Error::E(1)),
                    ],
                    catch: Catch::Error(Error::E(1)),
                    handler: vec![Stmt::Observe(Ref::Current)],
                },
            ],
        )],
    ));
    p.defs.push(Def {
        name: "unused".into(),
        body: vec![Stmt::Raise(Error::E(4))],
    });
    assert!(is_valid(&p) && fails(&p));
    let m = minimize(&p, &Budget::default(), fails);
    assert_eq!(
        print(&m.program),
        "main {\n  recurse 37 {\n    try {\n      raise E1\n    } catch any {}\n  }\n}\n"
    );
}

#[test]
fn stops_at_the_run_budget() {
    let p = gen::seeded::program(5, 1, &GenConfig::default());
    let budget = Budget {
        max_runs: 10,
        ..Budget::default()
    };
    let mut calls = 0;
    let m = minimize(&p, &budget, |_| {
        calls += 1;
        false
    });
    assert_eq!(calls, 10);
    assert_eq!(m.runs, 10);
    assert!(m.exhausted);
    assert_eq!(m.program, p);
}

fn kills(p: &Program) -> bool {
    oracle_trace(p).iter().any(|l| l.contains(" kill #"))
}

/// Seeded programs that reach a kill on a last reference minimize to the few statements a
/// kill needs (spawn, switch there, suspend back, drop: at most 8 with the spawn inside a body),
/// with the dropped slot renumbered low.
#[test]
fn reaches_a_small_kill_with_drop_renumbered() {
    let found = generated(5, kills);
    assert!(!found.is_empty());
    for p in found {
        let m = minimize(&p, &Budget::default(), kills);
        let q = &m.program;
        let size = count_statements(&q.main)
            + q.defs
                .iter()
                .map(|d| count_statements(&d.body))
                .sum::<usize>();
        assert!(size <= 8, "{size} statements:\n{}", print(q));
        let text = print(q);
        assert!(
            text.contains("drop g0") || text.contains("drop g1"),
            "{text}"
        );
        assert!(kills(q));
    }
}

/// The deepest `recurse` nesting in `block` (the counts on one path added up).
fn recursion_depth(block: &Block) -> u32 {
    block
        .iter()
        .map(|s| match s {
            Stmt::Recurse(n, b) => n + recursion_depth(b),
            other => other.children().map(recursion_depth).max().unwrap_or(0),
        })
        .max()
        .unwrap_or(0)
}

/// The shape of a too-small-stack bug: a greenlet that main spawns (top level) and then
/// switches to (top level) runs a body that recurses 300 frames deep, and the oracle's trace
/// shows a greenlet started.
fn deep_greenlet_runs(p: &Program) -> bool {
    let spawned_then_switched = p.main.iter().enumerate().any(|(i, s)| match s {
        Stmt::Spawn { slot, body, .. } => {
            p.def(body).is_some_and(|d| recursion_depth(&d.body) >= 300)
                && p.main[i + 1..]
                    .iter()
                    .any(|t| matches!(t, Stmt::Switch(Ref::Slot(k), _) if k == slot))
        }
        _ => false,
    });
    spawned_then_switched && oracle_trace(p).iter().any(|l| l.contains(" start "))
}

#[test]
fn merges_nested_recurse_and_repeat_down_to_the_too_small_stack_shape() {
    let p = parse(
        "t.gp",
        b"def f0 {
  observe current
  repeat 3 {
    recurse 100 {
      observe main
      recurse 120 {
        repeat 2 {
          recurse 90 {
            observe parent
          }
        }
        switch parent 1
      }
    }
  }
  return 5
}
def f1 {
  raise E2
}
main {
  spawn g0 f0
  spawn g1 f1
  observe g0
  switch g0 \"x\"
  try { switch g0 2 } catch any { observe g1 }
  switch g1 none
}
",
    )
    .unwrap();
    assert!(deep_greenlet_runs(&p));
    let m = minimize(&p, &Budget::default(), deep_greenlet_runs);
    assert_eq!(
        print(&m.program),
        "def f0 {\n  recurse 300 {}\n}\n\nmain {\n  spawn g0 f0\n  switch g0 none\n}\n",
        "from {} statements in {} runs",
        m.statements_before,
        m.runs
    );
}

#[test]
fn moves_a_statement_between_bodies_and_inlines_spawned_bodies() {
    // Fails when main's trace shows teardown of a greenlet (suspended at the end). The
    // 3-statement answer needs the switch back to main moved into the spawned body, and
    // the middle greenlet of the chain inlined away.
    let has_teardown = |p: &Program| oracle_trace(p).iter().any(|l| l.contains("teardown"));
    let p = parse(
        "t.gp",
        b"def a {
  spawn g1 b
  switch g1 none
}
def b {
  observe main
}
main {
  spawn g0 a
  switch g0 none
  switch g1 none
}
",
    )
    .unwrap();
    let m = minimize(&p, &Budget::default(), has_teardown);
    assert!(
        program_size(&m.program) <= 3,
        "{} runs:\n{}",
        m.runs,
        print(&m.program)
    );
}
