//! The parser and printer against `docs/language.md`: exact error positions and messages and
//! the spec's example (the proptest properties are in `tests/parse_properties.rs`). One test
//! per rule of the language, in the order `docs/language.md` states them, hence its length.

use switchyard::lang::ast::{Catch, Def, Error, Program, Ref, Stmt, Value};
use switchyard::lang::parse::{parse, ParseError};
use switchyard::lang::print::print;

fn ok(src: &str) -> Program {
    match parse("t.gp", src.as_bytes()) {
        Ok(p) => p,
        Err(e) => panic!("{src:?} should parse, got {e}"),
    }
}

fn err_bytes(src: &[u8]) -> String {
    match parse("t.gp", src) {
        Ok(p) => panic!("{src:?} should fail, parsed {p:?}"),
        Err(e) => e.to_string(),
    }
}

fn err(src: &str) -> String {
    err_bytes(src.as_bytes())
}

/// `main { STMT }` with the statement starting at column 8.
fn in_main(stmt: &str) -> String {
    err(&format!("main {{ {stmt} }}"))
}

fn nested(depth: usize) -> String {
    // main's block is depth 1; each `repeat 1 {` adds one.
    let mut s = String::from("main {");
    for _ in 1..depth {
        s.push_str(" repeat 1 {");
    }
    for _ in 0..depth {
        s.push_str(" }");
    }
    s
}

const EXAMPLE: &str = r#"def child {
  switch parent 10
  try { switch main 11 } catch E3 { return "done" }
}
main {
  spawn g0 child
  switch g0 1
  switch g0 2
  throw g0 E3
  observe g0
}
"#;

#[test]
fn spec_example_parses() {
    let p = ok(EXAMPLE);
    assert_eq!(
        p,
        Program {
            fuel: None,
            defs: vec![Def {
                name: "child".into(),
                body: vec![
                    Stmt::Switch(Ref::Parent, Value::Int(10)),
                    Stmt::Try {
                        body: vec![Stmt::Switch(Ref::Main, Value::Int(11))],
                        catch: Catch::Error(Error::E(3)),
                        handler: vec![Stmt::Return(Value::Str("done".into()))],
                    },
                ],
            }],
            main: vec![
                Stmt::Spawn {
                    slot: 0,
                    body: "child".into(),
                    parent: None
                },
                Stmt::Switch(Ref::Slot(0), Value::Int(1)),
                Stmt::Switch(Ref::Slot(0), Value::Int(2)),
                Stmt::Throw(Ref::Slot(0), Error::E(3)),
                Stmt::Observe(Ref::Slot(0)),
            ],
            main_position: 1,
        }
    );
    assert_eq!(
        print(&p),
        EXAMPLE
            .replace("{ switch main 11 }", "{\n    switch main 11\n  }")
            .replace("{ return \"done\" }", "{\n    return \"done\"\n  }")
            .replace("}\nmain", "}\n\nmain")
    );
    assert_eq!(ok(&print(&p)), p);
}

#[test]
fn every_statement_and_form() {
    let p = ok("fuel 0007 # comment\r\n\
         main{;;spawn g15 b parent current;switch g3 -0;throw main exit;return \"a b_9\";\
         raise limit;try{}catch any{};repeat 0{};recurse 1000{};reparent g1 parent;observe main}\
         def b{return none}\tdef g{return -9223372036854775808}");
    assert_eq!(p.fuel, Some(7));
    assert_eq!(p.main_position, 0);
    assert_eq!(p.defs.len(), 2);
    assert_eq!(p.defs[1].name, "g");
    assert_eq!(p.defs[1].body, vec![Stmt::Return(Value::Int(i64::MIN))]);
    assert_eq!(
        p.main,
        vec![
            Stmt::Spawn {
                slot: 15,
                body: "b".into(),
                parent: Some(Ref::Current)
            },
            Stmt::Switch(Ref::Slot(3), Value::Int(0)),
            Stmt::Throw(Ref::Main, Error::Exit),
            Stmt::Return(Value::Str("a b_9".into())),
            Stmt::Raise(Error::Limit),
            Stmt::Try {
                body: vec![],
                catch: Catch::Any,
                handler: vec![]
            },
            Stmt::Repeat(0, vec![]),
            Stmt::Recurse(1000, vec![]),
            Stmt::Reparent(Ref::Slot(1), Ref::Parent),
            Stmt::Observe(Ref::Main),
        ]
    );
    assert_eq!(ok(&print(&p)), p);
    // Canonical integers: leading zeros and -0.
    assert_eq!(
        ok("main { return -000 }").main,
        vec![Stmt::Return(Value::Int(0))]
    );
    assert_eq!(
        ok("main { return 007 }").main,
        vec![Stmt::Return(Value::Int(7))]
    );
    assert_eq!(
        ok("main { return 9223372036854775807 }").main,
        vec![Stmt::Return(Value::Int(i64::MAX))]
    );
    assert_eq!(ok("fuel 1000000 main {}").fuel, Some(1_000_000));
    assert_eq!(ok("fuel 0 main {}").fuel, Some(0));
    assert_eq!(
        ok("main { repeat 01000 {} }").main,
        vec![Stmt::Repeat(1000, vec![])]
    );
    // `g12x` and `g` are names; `spawn ... parent` takes the word `parent` only as the keyword.
    let p = ok("def g12x {} main { spawn g1 g12x parent parent }");
    assert_eq!(
        p.main,
        vec![Stmt::Spawn {
            slot: 1,
            body: "g12x".into(),
            parent: Some(Ref::Parent)
        }]
    );
    // A comment can end a word, and the file can end in a comment without a newline.
    assert_eq!(
        ok("main{observe main#x\n}#end").main,
        vec![Stmt::Observe(Ref::Main)]
    );
}

#[test]
fn error_display_format() {
    let e = parse("dir/x.gp", b"").unwrap_err();
    assert_eq!(
        e,
        ParseError {
            file: "dir/x.gp".into(),
            line: 1,
            col: 1,
            message: "no main".into()
        }
    );
    assert_eq!(e.to_string(), "dir/x.gp:1:1: no main");
    let _: &dyn std::error::Error = &e;
}

#[test]
fn no_main() {
    assert_eq!(err(""), "t.gp:1:1: no main");
    assert_eq!(err("  # only a comment"), "t.gp:1:19: no main");
    assert_eq!(err("\n\n"), "t.gp:3:1: no main");
    assert_eq!(err("def a {}\r\n"), "t.gp:2:1: no main");
    assert_eq!(err("fuel 5"), "t.gp:1:7: no main");
}

#[test]
fn end_of_file_errors_are_past_the_last_byte() {
    assert_eq!(
        err("main {\n  observe g1\n"),
        "t.gp:3:1: unterminated block: expected '}' (the block opened at 1:6)"
    );
    assert_eq!(
        err("main { repeat 2 { observe g1"),
        "t.gp:1:29: unterminated block: expected '}' (the block opened at 1:17)"
    );
    assert_eq!(
        err("main { switch g1"),
        "t.gp:1:17: expected a value (none, an integer or a string), found the end of the file"
    );
    assert_eq!(
        err("main"),
        "t.gp:1:5: expected '{', found the end of the file"
    );
    assert_eq!(
        err("fuel"),
        "t.gp:1:5: expected an amount of fuel (0..=1000000), found the end of the file"
    );
}

#[test]
fn strings_are_reported_at_the_opening_quote() {
    assert_eq!(
        err("main { return \"abc"),
        "t.gp:1:15: unterminated string: expected '\"' before the end of the line"
    );
    assert_eq!(
        err("main {\n  return \"ab\n\" }"),
        "t.gp:2:10: unterminated string: expected '\"' before the end of the line"
    );
    assert_eq!(
        err("main { return \"ab\r\n\" }"),
        "t.gp:1:15: unterminated string: expected '\"' before the end of the line"
    );
    // A lone CR is not a line end.
    assert_eq!(
        in_main("return \"a\rb\""),
        "t.gp:1:15: invalid character '\\r' in string (strings hold only a-z, 0-9, _ and space)"
    );
    assert_eq!(
        in_main("return \"Hello\""),
        "t.gp:1:15: invalid character 'H' in string (strings hold only a-z, 0-9, _ and space)"
    );
    assert_eq!(
        in_main("return \"a\tb\""),
        "t.gp:1:15: invalid character '\\t' in string (strings hold only a-z, 0-9, _ and space)"
    );
    assert_eq!(
        in_main("return \"caf\u{e9}\""),
        "t.gp:1:15: invalid character '\u{e9}' in string (strings hold only a-z, 0-9, _ and space)"
    );
    // A stray quote anywhere.
    assert_eq!(
        err("\""),
        "t.gp:1:1: unterminated string: expected '\"' before the end of the line"
    );
    assert_eq!(
        err("main { } \"x\""),
        "t.gp:1:10: expected 'def' or 'main', found the string \"x\""
    );
    // A string in the wrong place is a syntax error, even when it is well formed.
    assert_eq!(
        in_main("\"x\""),
        "t.gp:1:8: expected a statement, found the string \"x\""
    );
    // The first error wins: a bad string after an earlier error is not reported.
    assert_eq!(
        err("main { swtich \"X"),
        "t.gp:1:8: unknown statement 'swtich'"
    );
}

#[test]
fn non_utf8_is_reported_at_the_first_invalid_byte() {
    assert_eq!(
        err_bytes(b"main {\n  observe g1 \xff }"),
        "t.gp:2:14: the file is not valid UTF-8 (byte 0xff)"
    );
    assert_eq!(
        err_bytes(b"\xc3"),
        "t.gp:1:1: the file is not valid UTF-8 (byte 0xc3)"
    );
    // A truncated multi-byte sequence is reported at its first byte.
    assert_eq!(
        err_bytes(b"main { return \"\xe2\x82\" }"),
        "t.gp:1:16: the file is not valid UTF-8 (byte 0xe2)"
    );
    // UTF-8 is checked first, before any syntax error.
    assert_eq!(
        err_bytes(b"}\n\xfe"),
        "t.gp:2:1: the file is not valid UTF-8 (byte 0xfe)"
    );
}

#[test]
fn words() {
    assert_eq!(
        in_main("swtich g1 1"),
        "t.gp:1:8: unknown statement 'swtich'"
    );
    assert_eq!(
        in_main("1observe g1"),
        "t.gp:1:8: unknown statement '1observe'"
    );
    assert_eq!(in_main("@"), "t.gp:1:8: unknown statement '@'");
    assert_eq!(
        in_main("Observe g1"),
        "t.gp:1:8: unknown statement 'Observe'"
    );
    // Non-ASCII and control characters other than the four whitespace ones are word characters.
    assert_eq!(
        in_main("observe\u{a0}g1"),
        "t.gp:1:8: unknown statement 'observe\u{a0}g1'"
    );
    assert_eq!(
        in_main("observe\x0bg1"),
        "t.gp:1:8: unknown statement 'observe\\u{b}g1'"
    );
    assert_eq!(
        err("main { observe g1\x0c }"),
        "t.gp:1:16: expected a greenlet (g0..g15, main, current or parent), found 'g1\\u{c}'"
    );
    assert_eq!(err("@"), "t.gp:1:1: expected 'def' or 'main', found '@'");
    assert_eq!(err("}"), "t.gp:1:1: unexpected '}'");
    assert_eq!(err("main {} }"), "t.gp:1:9: unexpected '}'");
    assert_eq!(err(";"), "t.gp:1:1: expected 'def' or 'main', found ';'");
    assert_eq!(err("{}"), "t.gp:1:1: expected 'def' or 'main', found '{'");
    assert_eq!(in_main("{ }"), "t.gp:1:8: expected a statement, found '{'");
    assert_eq!(
        err("main observe"),
        "t.gp:1:6: expected '{', found 'observe'"
    );
    // Long words are cut in messages.
    let long = "x".repeat(100);
    assert_eq!(
        in_main(&long),
        format!("t.gp:1:8: unknown statement '{}...'", "x".repeat(40))
    );
}

#[test]
fn slots_and_refs() {
    assert_eq!(
        in_main("spawn g16 a"),
        "t.gp:1:14: expected a slot g0..g15, found 'g16'"
    );
    assert_eq!(
        in_main("spawn g007 a"),
        "t.gp:1:14: expected a slot g0..g15, found 'g007'"
    );
    assert_eq!(
        in_main("spawn main a"),
        "t.gp:1:14: expected a slot g0..g15, found 'main'"
    );
    assert_eq!(
        in_main("observe g01"),
        "t.gp:1:16: expected a slot g0..g15, found 'g01'"
    );
    assert_eq!(
        in_main("observe g99999999999999999999"),
        "t.gp:1:16: expected a slot g0..g15, found 'g99999999999999999999'"
    );
    assert_eq!(
        in_main("reparent g1 gx"),
        "t.gp:1:20: expected a greenlet (g0..g15, main, current or parent), found 'gx'"
    );
    assert_eq!(
        in_main("switch G1 1"),
        "t.gp:1:15: expected a greenlet (g0..g15, main, current or parent), found 'G1'"
    );
    assert_eq!(
        in_main("spawn g1 a parent none"),
        "t.gp:1:26: expected a greenlet (g0..g15, main, current or parent), found 'none'"
    );
}

#[test]
fn names() {
    assert_eq!(
        err("def main {}"),
        "t.gp:1:5: expected a body name after 'def', found 'main', which is a reserved word"
    );
    assert_eq!(
        err("def E3 {}"),
        "t.gp:1:5: expected a body name after 'def', found 'E3', which is a reserved word"
    );
    assert_eq!(
        err("def g12 {}"),
        "t.gp:1:5: expected a body name after 'def', found 'g12', which is a slot"
    );
    assert_eq!(
        err("def g007 {}"),
        "t.gp:1:5: expected a body name after 'def', found 'g007', which is a slot"
    );
    assert_eq!(
        err("def Abc {}"),
        "t.gp:1:5: expected a body name after 'def', found 'Abc'"
    );
    assert_eq!(
        err("def 9a {}"),
        "t.gp:1:5: expected a body name after 'def', found '9a'"
    );
    assert_eq!(
        err("def a-b {}"),
        "t.gp:1:5: expected a body name after 'def', found 'a-b'"
    );
    assert_eq!(
        err("def {}"),
        "t.gp:1:5: expected a body name after 'def', found '{'"
    );
    assert_eq!(
        in_main("spawn g1 fuel"),
        "t.gp:1:17: expected a body name after the slot of 'spawn', found 'fuel', which is a reserved word"
    );
    assert_eq!(
        in_main("spawn g1 g2"),
        "t.gp:1:17: expected a body name after the slot of 'spawn', found 'g2', which is a slot"
    );
    // Valid names close to invalid ones.
    for name in ["g12x", "g", "_", "g_1", "mainx", "e3", "_9", "gg1", "none_"] {
        let p = ok(&format!("def {name} {{}} main {{ spawn g0 {name} }}"));
        assert_eq!(p.defs[0].name, name);
    }
}

#[test]
fn values_and_integers() {
    assert_eq!(
        in_main("return 9223372036854775808"),
        "t.gp:1:15: integer 9223372036854775808 is out of range for i64"
    );
    assert_eq!(
        in_main("return -9223372036854775809"),
        "t.gp:1:15: integer -9223372036854775809 is out of range for i64"
    );
    assert_eq!(
        in_main("return +1"),
        "t.gp:1:15: expected a value (none, an integer or a string), found '+1'"
    );
    assert_eq!(
        in_main("return -"),
        "t.gp:1:15: expected a value (none, an integer or a string), found '-'"
    );
    assert_eq!(
        in_main("return --1"),
        "t.gp:1:15: expected a value (none, an integer or a string), found '--1'"
    );
    assert_eq!(
        in_main("return 1.5"),
        "t.gp:1:15: expected a value (none, an integer or a string), found '1.5'"
    );
    assert_eq!(
        in_main("return exit"),
        "t.gp:1:15: expected a value (none, an integer or a string), found 'exit'"
    );
    assert_eq!(
        in_main("switch g1 ;"),
        "t.gp:1:18: expected a value (none, an integer or a string), found ';'"
    );
}

#[test]
fn errors_and_catch() {
    assert_eq!(
        in_main("raise E10"),
        "t.gp:1:14: expected an error (E0..E9, exit, badparent, unbound or limit), found 'E10'"
    );
    assert_eq!(
        in_main("raise fuel"),
        "t.gp:1:14: expected an error (E0..E9, exit, badparent, unbound or limit), found 'fuel'"
    );
    assert_eq!(
        in_main("throw g1 any"),
        "t.gp:1:17: expected an error (E0..E9, exit, badparent, unbound or limit), found 'any'"
    );
    assert_eq!(
        in_main("try {} catch fuel {}"),
        "t.gp:1:21: expected an error (E0..E9, exit, badparent, unbound, limit) or 'any' after 'catch', found 'fuel'"
    );
    assert_eq!(
        in_main("try {} observe g1"),
        "t.gp:1:15: expected 'catch' after the block of 'try', found 'observe'"
    );
    assert_eq!(
        in_main("try {} catch E1 observe"),
        "t.gp:1:24: expected '{', found 'observe'"
    );
}

#[test]
fn counts_and_fuel() {
    assert_eq!(
        in_main("repeat 1001 {}"),
        "t.gp:1:15: count 1001 is out of range (0..=1000)"
    );
    assert_eq!(
        in_main("recurse 99999999999999999999999 {}"),
        "t.gp:1:16: count 99999999999999999999999 is out of range (0..=1000)"
    );
    assert_eq!(
        in_main("repeat -1 {}"),
        "t.gp:1:15: expected a count (0..=1000), found '-1'"
    );
    assert_eq!(
        in_main("repeat {}"),
        "t.gp:1:15: expected a count (0..=1000), found '{'"
    );
    assert_eq!(
        err("fuel 1000001 main {}"),
        "t.gp:1:6: fuel 1000001 is out of range (0..=1000000)"
    );
    assert_eq!(
        err("fuel x main {}"),
        "t.gp:1:6: expected an amount of fuel (0..=1000000), found 'x'"
    );
    assert_eq!(
        err("main {} fuel 5"),
        "t.gp:1:9: 'fuel' may appear only once, at the start of the file"
    );
    assert_eq!(
        err("fuel 5 fuel 5 main {}"),
        "t.gp:1:8: 'fuel' may appear only once, at the start of the file"
    );
    assert_eq!(
        err("def a {} fuel 5 main {}"),
        "t.gp:1:10: 'fuel' may appear only once, at the start of the file"
    );
}

#[test]
fn nesting_limit() {
    let p = ok(&nested(100));
    assert_eq!(p.main.len(), 1);
    assert_eq!(ok(&print(&p)), p);
    // main's `{` is at column 6, and the `{` of depth 1 + k at column 6 + 11 * k.
    let col = 6 + 11 * 100;
    assert_eq!(
        err(&nested(101)),
        format!("t.gp:1:{col}: blocks nest more than 100 deep")
    );
    // Try blocks and handlers count too; the error is the first deep `{` in the file.
    let mut s = String::from("def d {");
    for _ in 1..100 {
        s.push_str("\ntry {} catch any {");
    }
    s.push_str("\ntry { observe main } catch any {}");
    assert_eq!(err(&s), "t.gp:101:5: blocks nest more than 100 deep");
    // Very deep input is rejected without recursing past the limit.
    let deep = format!("main {{{}", " repeat 1 {".repeat(100_000));
    assert_eq!(
        err(&deep),
        format!("t.gp:1:{col}: blocks nest more than 100 deep")
    );
}

#[test]
fn recurse_limit() {
    let ok_src = "main { recurse 1000 { recurse 1000 { recurse 1000 { recurse 1000 { recurse 96 {} } } } } recurse 1000 {} }";
    let p = ok(ok_src);
    assert_eq!(ok(&print(&p)), p);
    // Siblings do not add up; only the statements around.
    ok("main { recurse 1000 { recurse 1000 {} recurse 1000 {} repeat 9 { recurse 1000 { recurse 1000 { recurse 96 {} } } } } }");
    let bad = "main { recurse 1000 { recurse 1000 { recurse 1000 { recurse 1000 { recurse 97 {} } } } } }";
    let col = bad.find("97").unwrap() + 1;
    assert_eq!(
        err(bad),
        format!(
            "t.gp:1:{col}: the recurse counts around this statement add up to 4097 (at most 4096)"
        )
    );
    // Two bodies each get their own sum.
    ok("def a { recurse 1000 { recurse 1000 { recurse 1000 { recurse 1000 { recurse 96 {} } } } } } main { recurse 1000 { recurse 1000 { recurse 1000 { recurse 1000 { recurse 96 {} } } } } }");
    // Inside a try handler the sum still holds.
    let bad = "main { recurse 4 {} recurse 1000 { recurse 1000 { recurse 1000 { try {} catch any { recurse 1000 { recurse 97 { } } } } } } }";
    let col = bad.find("97").unwrap() + 1;
    assert_eq!(
        err(bad),
        format!(
            "t.gp:1:{col}: the recurse counts around this statement add up to 4097 (at most 4096)"
        )
    );
}

#[test]
fn main_and_defs() {
    assert_eq!(
        err("def a {}\n\nmain {}\ndef b {}\nmain {}"),
        "t.gp:5:1: second main (the first is at 3:1)"
    );
    assert_eq!(
        err("def a {}\ndef  a {}\nmain {}"),
        "t.gp:2:6: second definition of body 'a' (the first is at 1:5)"
    );
    let p = ok("def a {} def b {} main {} def c {}");
    assert_eq!(p.main_position, 2);
    let text = print(&p);
    assert_eq!(text, "def a {}\n\ndef b {}\n\nmain {}\n\ndef c {}\n");
    assert_eq!(ok(&text), p);
    assert_eq!(ok("main {} def a {}").main_position, 0);
    assert_eq!(print(&ok("fuel 9 main {}")), "fuel 9\nmain {}\n");
}

#[test]
fn undefined_bodies_only_after_a_clean_file() {
    assert_eq!(
        err("main { spawn g0 foo\n spawn g1 bar }\ndef bar {}"),
        "t.gp:1:17: spawn names undefined body 'foo'"
    );
    // Bodies can be defined after their use; the first undefined one in file order is reported.
    assert_eq!(
        err("def x { spawn g0 x spawn g2 nope } main { spawn g1 zz } def y {}"),
        "t.gp:1:29: spawn names undefined body 'nope'"
    );
    // Any syntax error, even later in the file, comes first.
    assert_eq!(
        err("main { spawn g0 foo }\ndef x { observe g16 }"),
        "t.gp:2:17: expected a slot g0..g15, found 'g16'"
    );
    assert_eq!(
        err("main { spawn g0 foo }\nmain {}"),
        "t.gp:2:1: second main (the first is at 1:1)"
    );
    assert_eq!(
        err("main { spawn g0 foo }\n\""),
        "t.gp:2:1: unterminated string: expected '\"' before the end of the line"
    );
}

#[test]
fn crlf_and_tabs() {
    assert_eq!(
        err("main {\r\n\tobserve g99\r\n}\r\n"),
        "t.gp:2:10: expected a slot g0..g15, found 'g99'"
    );
    // A lone CR is whitespace, not a line end.
    assert_eq!(
        err("main {\r observe x }"),
        "t.gp:1:17: expected a greenlet (g0..g15, main, current or parent), found 'x'"
    );
}

#[test]
fn drop_takes_one_slot_and_is_reserved() {
    let p = ok("main { drop g0 drop g15 }");
    assert_eq!(p.main, vec![Stmt::Drop(0), Stmt::Drop(15)]);
    assert_eq!(print(&p), "main {\n  drop g0\n  drop g15\n}\n");
    assert_eq!(
        in_main("drop main"),
        "t.gp:1:13: expected a slot g0..g15, found 'main'"
    );
    assert_eq!(
        in_main("drop g16"),
        "t.gp:1:13: expected a slot g0..g15, found 'g16'"
    );
    assert_eq!(
        err("def drop {}"),
        "t.gp:1:5: expected a body name after 'def', found 'drop', which is a reserved word"
    );
    assert_eq!(
        err("main { spawn g0 drop }"),
        "t.gp:1:17: expected a body name after the slot of 'spawn', found 'drop', which is a reserved word"
    );
}
