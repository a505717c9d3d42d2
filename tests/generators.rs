//! Generated programs are always valid: they print to text the parser accepts and gives back
//! the same program, and the same seed and index always give the same program.

use switchyard::gen::{self, GenConfig};
use switchyard::lang::parse::parse;
use switchyard::lang::print::print;

#[test]
fn seeded_programs_are_valid_and_reproducible() {
    let config = GenConfig::default();
    for index in 0..3000 {
        let program = gen::seeded::program(99, index, &config);
        let text = print(&program);
        let parsed = parse("generated.gp", text.as_bytes())
            .unwrap_or_else(|e| panic!("program {index} does not parse: {e}\n{text}"));
        assert_eq!(parsed, program, "program {index} does not round-trip");
        assert_eq!(gen::seeded::program(99, index, &config), program);
    }
}

/// The deep profile really recurses deeply with switches inside the recursion.
#[test]
fn deep_profile_switches_inside_deep_recursion() {
    use switchyard::lang::ast::{Block, Stmt};
    fn deepest_switch(block: &Block, depth: u32) -> Option<u32> {
        block
            .iter()
            .filter_map(|s| match s {
                Stmt::Switch(..) | Stmt::Throw(..) => Some(depth),
                Stmt::Recurse(n, b) => deepest_switch(b, depth + n),
                Stmt::Repeat(_, b) => deepest_switch(b, depth),
                Stmt::Try { body, handler, .. } => {
                    deepest_switch(body, depth).max(deepest_switch(handler, depth))
                }
                _ => None,
            })
            .max()
    }
    let config = GenConfig::deep();
    let deep = (0..1000)
        .filter(|&i| {
            let p = gen::seeded::program(5, i, &config);
            let all = std::iter::once(&p.main).chain(p.defs.iter().map(|d| &d.body));
            all.filter_map(|b| deepest_switch(b, 0)).max() >= Some(200)
        })
        .count();
    assert!(
        deep >= 200,
        "only {deep} of 1000 deep programs switch 200+ frames down"
    );
}

/// The proptest strategy's programs really switch: most start a greenlet and receive values.
#[test]
fn proptest_switching_programs_switch() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;
    let strategy = switchyard::gen::strategy::switching_program_strategy();
    let mut runner = TestRunner::deterministic();
    let (mut started, mut recvs) = (0, 0);
    for _ in 0..300 {
        let program = strategy.new_tree(&mut runner).unwrap().current();
        let trace = switchyard::check::registry::oracle().run(&program).unwrap();
        started += usize::from(trace.lines.iter().any(|l| l.contains(" start ")));
        recvs += trace.lines.iter().filter(|l| l.contains(" recv ")).count();
    }
    assert!(
        started >= 200,
        "only {started} of 300 programs started a greenlet"
    );
    assert!(recvs >= 600, "only {recvs} recv events in 300 programs");
    eprintln!("{started} of 300 started a greenlet; {recvs} recv events");
}
