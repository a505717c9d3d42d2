//! The parser alone, no backend: any bytes go to `lang::parse::parse`, which must never panic.
//! A rejected input must come back with a well-formed error (a position inside the input, a
//! message); an accepted one must survive the round trip `parse → print → parse` unchanged,
//! and its printed text must be a fixed point of `print ∘ parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::lang::{parse::parse, print::print};

fuzz_target!(|data: &[u8]| {
    let program = match parse("input", data) {
        Ok(program) => program,
        Err(e) => {
            let lines = 1 + data.iter().filter(|&&b| b == b'\n').count();
            assert!(
                (1..=lines).contains(&e.line) && e.col >= 1 && e.col <= data.len() + 1,
                "error position {}:{} outside the input ({lines} lines, {} bytes): {e}",
                e.line,
                e.col,
                data.len()
            );
            assert!(!e.message.is_empty(), "empty error message at {e}");
            return;
        }
    };
    let text = print(&program);
    let again = match parse("printed", text.as_bytes()) {
        Ok(again) => again,
        Err(e) => panic!("the printed program does not parse: {e}\n--- printed:\n{text}"),
    };
    assert_eq!(program, again, "parse(print(p)) != p\n--- printed:\n{text}");
    assert_eq!(
        text,
        print(&again),
        "print is not a fixed point of print ∘ parse"
    );
});
