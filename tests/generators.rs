//! Generated programs are always valid: they print to text the parser accepts and gives back
//! the same program, and the same seed and index always give the same program.

use switchyard::gen::{self, GenConfig};
use switchyard::parse::parse;
use switchyard::print::print;

#[test]
fn seeded_programs_are_valid_and_reproducible() {
    let config = GenConfig::default();
    for index in 0..3000 {
        let program = gen::program(99, index, &config);
        let text = print(&program);
        let parsed = parse("generated.gp", text.as_bytes())
            .unwrap_or_else(|e| panic!("program {index} does not parse: {e}\n{text}"));
        assert_eq!(parsed, program, "program {index} does not round-trip");
        assert_eq!(gen::program(99, index, &config), program);
    }
}
