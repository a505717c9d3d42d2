//! Fuzz inputs: the one decoding from libFuzzer's bytes to a [`Program`], shared by every fuzz
//! target in `fuzz/` (through [`crate::check::differential::check_or_panic`]) and by the
//! artifact converter (`switchyard artifact FILE`).
//!
//! [`decode`] reads bytes two ways:
//! - UTF-8 text that [`crate::lang::parse::parse`] accepts is that program, so the `.gp` corpus is a
//!   seed corpus as it is, and a text artifact is already readable;
//! - anything else goes through [`FuzzProgram`]'s [`Arbitrary`] implementation, which never
//!   fails: an exhausted [`Unstructured`] yields its lowest choices, so every byte string
//!   decodes to some valid program.
//!
//! [`FuzzProgram`] only builds programs that obey every static rule of
//! `docs/language.md` (slots g0..g15, counts ≤ 1000, blocks nested ≤ 100 deep,
//! `recurse` counts around any statement ≤ 4096, spawns name defined bodies, valid unique
//! names, fuel ≤ 1000000), bounded in size ([`MAX_STATEMENTS`] statements, [`MAX_DEFS`]
//! bodies). Like [`super::seeded`] it is tuned so that programs really switch: main spawns
//! first, references lean on the slots main has filled, bodies switch to `parent` and `main`,
//! throws reach greenlets in every state, greenlets get reparented, switches sometimes sit
//! under deep `recurse` chains, and fuel is sometimes small. The lowest choice of every roll
//! (what an exhausted input gives) is a switch into `g0`, so even short inputs switch.

use super::{builder, Choices, GenConfig};
use crate::lang::ast::Program;
use crate::lang::parse::parse;
use crate::lang::print::print;
use arbitrary::{Arbitrary, Unstructured};

/// Most statements (at any depth) in a program [`FuzzProgram`] builds.
pub const MAX_STATEMENTS: usize = 120;
/// Most bodies (`def`s) in a program [`FuzzProgram`] builds.
pub const MAX_DEFS: usize = 6;
/// The shape of the programs [`FuzzProgram`] builds.
pub fn config() -> GenConfig {
    GenConfig {
        max_defs: MAX_DEFS,
        max_statements: MAX_STATEMENTS,
        deep_percent: 20,
        ..GenConfig::default()
    }
}

/// Choices read from fuzzer bytes; an exhausted input gives the lowest choice every time.
struct BytesChoices<'a, 'b>(&'b mut Unstructured<'a>);

impl Choices for BytesChoices<'_, '_> {
    fn int(&mut self, lo: u32, hi: u32) -> u32 {
        self.0.int_in_range(lo..=hi).unwrap_or(lo)
    }
    fn any_i64(&mut self) -> i64 {
        self.0.arbitrary::<i64>().unwrap_or(i64::MAX)
    }
}

/// A valid program from fuzzer bytes.
fn build(u: &mut Unstructured<'_>) -> Program {
    builder::build(&mut BytesChoices(u), &config())
}

/// A valid program built from fuzzer bytes (a wrapper so that the AST stays free of fuzzing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuzzProgram(pub Program);

impl<'a> Arbitrary<'a> for FuzzProgram {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(FuzzProgram(build(u)))
    }
}

/// The program `bytes` stand for: the program they spell if they are UTF-8 text that parses,
/// otherwise [`FuzzProgram`] built from them. Never fails, never panics.
pub fn decode(bytes: &[u8]) -> Program {
    if std::str::from_utf8(bytes).is_ok() {
        if let Ok(program) = parse("fuzz-input", bytes) {
            return program;
        }
    }
    match FuzzProgram::arbitrary_take_rest(Unstructured::new(bytes)) {
        Ok(FuzzProgram(program)) => program,
        // Unreachable: building never fails; an empty input is the fallback all the same.
        Err(_) => build(&mut Unstructured::new(&[])),
    }
}

/// A fuzz artifact (or any fuzz input) as a readable `.gp` program: [`decode`] then print,
/// under a comment saying where it came from. The text parses back to the same program.
pub fn artifact_to_program_text(bytes: &[u8]) -> String {
    let as_text = std::str::from_utf8(bytes).is_ok() && parse("fuzz-input", bytes).is_ok();
    let how = if as_text {
        "program text"
    } else {
        "bytes decoded by switchyard::gen::bytes::decode"
    };
    format!(
        "# fuzz input of {} bytes ({how})\n{}",
        bytes.len(),
        print(&decode(bytes))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::builder::STEMS;
    use crate::lang::ast::{count_statements, Stmt, MAX_NESTING};
    use crate::lang::parse::is_name;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Checks the static rules the parser enforces, plus the builder's size bounds.
    fn assert_valid(program: &Program, bounded: bool) {
        let text = print(program);
        let back = parse("t", text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(&back, program, "print/parse round trip\n{text}");
        for def in &program.defs {
            assert!(is_name(&def.name), "{}", def.name);
        }
        if bounded {
            let total: usize = count_statements(&program.main)
                + program
                    .defs
                    .iter()
                    .map(|d| count_statements(&d.body))
                    .sum::<usize>();
            assert!(total <= MAX_STATEMENTS, "{total} statements\n{text}");
            assert!(program.defs.len() <= MAX_DEFS);
        }
    }

    #[test]
    fn stems_make_valid_names() {
        for stem in STEMS {
            for i in 0..MAX_DEFS {
                assert!(is_name(&format!("{stem}{i}")), "{stem}{i}");
            }
        }
    }

    /// How deep blocks nest in `block` (a body's own block is 1).
    fn nesting(block: &[Stmt]) -> usize {
        1 + block
            .iter()
            .map(|s| s.children().map(|b| nesting(b)).max().unwrap_or(0))
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn random_bytes_decode_to_valid_programs() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut deepest = 0;
        for i in 0..5000 {
            let len = rng.random_range(0..(if i % 10 == 0 { 4000 } else { 300 }));
            let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            let program = decode(&bytes);
            assert_valid(&program, true);
            deepest = deepest.max(nesting(&program.main));
            for def in &program.defs {
                deepest = deepest.max(nesting(&def.body));
            }
        }
        // Chains reach close to the static nesting limit (which the parser checks above).
        assert!(deepest > MAX_NESTING / 2, "{deepest}");
    }

    #[test]
    fn exhausted_input_gives_a_switching_program() {
        for bytes in [&[][..], &[0], &[0; 3], &[255; 2]] {
            let program = decode(bytes);
            assert_valid(&program, true);
            assert!(matches!(program.main[0], Stmt::Spawn { slot: 0, .. }));
        }
        let program = decode(&[]);
        assert!(program.main.iter().any(|s| matches!(s, Stmt::Switch(..))));
    }

    #[test]
    fn programs_switch_and_spawn() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (mut switches, mut deep) = (0, 0);
        for _ in 0..500 {
            let bytes: Vec<u8> = (0..600).map(|_| rng.random()).collect();
            let text = print(&decode(&bytes));
            switches += text.matches("switch").count();
            deep += usize::from(text.matches("recurse").count() >= 10);
        }
        assert!(switches > 500 * 5, "{switches}");
        assert!(deep > 0);
    }

    #[test]
    fn artifact_text_parses_back_to_the_decoded_program() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            let bytes: Vec<u8> = (0..200).map(|_| rng.random()).collect();
            let text = artifact_to_program_text(&bytes);
            assert!(text.starts_with("# fuzz input of 200 bytes"));
            assert_eq!(parse("t", text.as_bytes()).unwrap(), decode(&bytes));
            // And the artifact text decodes to the same program again.
            assert_eq!(decode(text.as_bytes()), decode(&bytes));
        }
        let gp = b"main { observe main }\n";
        assert!(artifact_to_program_text(gp).contains("(program text)"));
    }
}
