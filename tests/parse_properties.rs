//! Parser and printer properties (proptest): printing then parsing gives the program back, and
//! random bytes, random text, token soup and damaged programs never panic the parser and get an
//! error inside the file. Exact positions and messages are in `tests/parse.rs`.

use proptest::prelude::*;
use switchyard::gen::strategy::program_strategy;
use switchyard::lang::parse::{parse, ParseError};
use switchyard::lang::print::print;

/// Checks an error's position lies within the file (or just past it).
fn check_position(src: &[u8], e: &ParseError) {
    assert!(e.line >= 1 && e.col >= 1, "{e}");
    let lines = src.iter().filter(|&&b| b == b'\n').count() + 1;
    assert!(e.line <= lines, "{e}: file has {lines} lines");
    assert!(!e.message.is_empty());
}

fn token_soup() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        prop::sample::select(
            switchyard::lang::ast::RESERVED
                .iter()
                .copied()
                .chain([
                    "g0",
                    "g15",
                    "g16",
                    "g007",
                    "a",
                    "b",
                    "g12x",
                    "{",
                    "}",
                    ";",
                    "\"",
                    "\"ok\"",
                    "\"Bad\"",
                    "0",
                    "-0",
                    "1000",
                    "1001",
                    "4096",
                    "-9223372036854775808",
                    "9223372036854775808",
                    "#",
                    "@",
                    "\u{e9}",
                    "\x0b",
                    "1observe",
                ])
                .collect::<Vec<_>>(),
        )
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 1..3),
    ];
    let space = prop::sample::select(vec![" ", "  ", "\n", "\r\n", "\t", "\r", "", " # c\n"]);
    prop::collection::vec((token, space), 0..60).prop_map(|parts| {
        let mut out = Vec::new();
        for (t, s) in parts {
            out.extend(t);
            out.extend(s.as_bytes());
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn print_parse_round_trip(p in program_strategy()) {
        let text = print(&p);
        let back = parse("rt.gp", text.as_bytes());
        prop_assert_eq!(back.as_ref(), Ok(&p), "text:\n{}", text);
        // Printing is canonical: the text of the parsed program is the same text.
        prop_assert_eq!(print(&back.unwrap()), text);
    }

    #[test]
    fn random_bytes_never_panic(src in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Err(e) = parse("r.gp", &src) {
            check_position(&src, &e);
        }
    }

    #[test]
    fn random_ascii_never_panics(src in "[ -~\n\t\r]{0,300}") {
        if let Err(e) = parse("r.gp", src.as_bytes()) {
            check_position(src.as_bytes(), &e);
        }
    }

    #[test]
    fn token_soup_never_panics(src in token_soup()) {
        match parse("s.gp", &src) {
            Ok(p) => prop_assert_eq!(parse("s.gp", print(&p).as_bytes()), Ok(p)),
            Err(e) => check_position(&src, &e),
        }
    }

    #[test]
    fn damaged_programs_never_panic(p in program_strategy(), cut in any::<prop::sample::Index>(), junk in prop::collection::vec(any::<u8>(), 0..4)) {
        // A valid program with a few bytes spliced in somewhere.
        let mut src = print(&p).into_bytes();
        let at = cut.index(src.len() + 1);
        src.splice(at..at, junk);
        match parse("d.gp", &src) {
            Ok(q) => prop_assert_eq!(parse("d.gp", print(&q).as_bytes()), Ok(q)),
            Err(e) => check_position(&src, &e),
        }
    }
}
