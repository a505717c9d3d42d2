//! Payloads of every size and alignment cross a switch intact. The runtime moves a switch's
//! value or error through the hub's transfer slot eight bytes at a time when the slot's type
//! is made of whole aligned words and with a plain copy otherwise (`words::copy_value`): these
//! tests send values of 1 to 72+ bytes, 16-byte aligned ones, values with padding and values
//! that own heap memory (a copy that dropped or duplicated one would free it twice or leak it)
//! through switches, throws and a greenlet's start, on every native backend.

#![cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]

mod common;

use common::StackCopy;
use std::fmt::Debug;
use switchyard_impls::greenlet::{Hub, HubConfig, Outcome, Payload};
use switchyard_impls::mmap::Mmap;
use switchyard_impls::runtime::{Runtime, StableStacks};
use switchyard_impls::ucontext::Ucontext;

/// A payload carrying a `T`, or GreenletExit as a value.
#[derive(Clone, Debug, PartialEq)]
enum P<T> {
    V(T),
    Exit,
}

/// Its errors: one carrying a `T` too, so that errors of every size cross as well.
#[derive(Debug, PartialEq)]
enum E<T> {
    Carrying(T),
    Exit,
    Panic(String),
}

impl<T: Send + PartialEq + 'static> Payload for P<T> {
    type Error = E<T>;
    fn exit_error() -> E<T> {
        E::Exit
    }
    fn is_exit(e: &E<T>) -> bool {
        matches!(e, E::Exit)
    }
    fn exit_value() -> Self {
        P::Exit
    }
    fn is_exit_value(&self) -> bool {
        matches!(self, P::Exit)
    }
    fn panic_error(message: String) -> E<T> {
        E::Panic(message)
    }
}

/// Values of a type, to send.
trait Samples: Clone + Debug + PartialEq + Send + 'static {
    fn samples() -> Vec<Self>;
}

impl Samples for u8 {
    fn samples() -> Vec<Self> {
        vec![0, 1, 0x7f, 0xff]
    }
}

impl Samples for [u8; 3] {
    fn samples() -> Vec<Self> {
        vec![[1, 2, 3], [0xff, 0, 0xaa]]
    }
}

impl Samples for u128 {
    fn samples() -> Vec<Self> {
        vec![0, u128::MAX, 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210]
    }
}

/// Padding between and after its fields.
#[derive(Clone, Debug, PartialEq)]
struct Padded(u8, u64, u16);

impl Samples for Padded {
    fn samples() -> Vec<Self> {
        vec![Padded(1, u64::MAX, 2), Padded(0xee, 0x1234_5678, 0xffff)]
    }
}

/// 72 bytes: past the word-by-word copy's 64-byte limit.
impl Samples for [u64; 9] {
    fn samples() -> Vec<Self> {
        vec![
            [1, 2, 3, 4, 5, 6, 7, 8, 9],
            [u64::MAX, 0, u64::MAX, 0, u64::MAX, 0, u64::MAX, 0, 42],
        ]
    }
}

/// Owns heap memory.
impl Samples for String {
    fn samples() -> Vec<Self> {
        vec![String::new(), "a".repeat(100), "greenlet".to_string()]
    }
}

impl Samples for Vec<String> {
    fn samples() -> Vec<Self> {
        vec![vec![], vec!["x".to_string(), "y".repeat(33)]]
    }
}

/// A greenlet that answers every value with itself and every `Carrying` error with its
/// content as a value; its start value comes first. Main checks every answer, then drops it
/// (killed: GreenletExit thrown in).
fn echo<S: StableStacks, T: Samples>() {
    type R<S, T> = Runtime<S, P<T>>;
    let hub = R::<S, T>::new(&HubConfig::default()).expect("hub");
    let main = hub.main();
    let g = hub
        .spawn(
            Box::new(move |h: &R<S, T>, start: Option<P<T>>| -> Outcome<P<T>> {
                let mut answer = start.expect("started with a value");
                loop {
                    answer = match h.switch_ref(&main, answer) {
                        Ok(v) => v,
                        Err(E::Carrying(t)) => P::V(t),
                        Err(e) => return Err(e),
                    };
                }
            }),
            None,
        )
        .expect("spawn");
    let samples = T::samples();
    let first = P::V(samples[0].clone());
    assert_eq!(hub.switch_ref(&g, first.clone()).unwrap(), first, "start");
    for t in samples.iter().chain(samples.iter().rev()) {
        let v = P::V(t.clone());
        assert_eq!(hub.switch_ref(&g, v.clone()).unwrap(), v, "switch_ref");
        assert_eq!(hub.switch(g.clone(), v.clone()).unwrap(), v, "switch");
        assert_eq!(
            hub.throw_ref(&g, E::Carrying(t.clone())).unwrap(),
            v,
            "throw_ref"
        );
    }
    drop(g);
}

macro_rules! payload_tests {
    ($($name:ident: $t:ty;)*) => {
        $(
            mod $name {
                use super::*;
                #[test]
                fn mmap() {
                    echo::<Mmap, $t>();
                }
                #[test]
                fn ucontext() {
                    echo::<Ucontext, $t>();
                }
                #[test]
                fn stack_copy() {
                    // A thread of its own: a stack-copy hub's greenlets run on its stack.
                    std::thread::Builder::new()
                        .stack_size(8 << 20)
                        .spawn(echo::<StackCopy, $t>)
                        .unwrap()
                        .join()
                        .unwrap();
                }
            }
        )*
    };
}

payload_tests! {
    one_byte: u8;
    three_bytes: [u8; 3];
    sixteen_byte_aligned: u128;
    with_padding: Padded;
    seventy_two_bytes: [u64; 9];
    heap_string: String;
    heap_vec_of_strings: Vec<String>;
}

/// A greenlet's result crosses too: it returns the value it was started with.
#[test]
fn a_result_of_every_kind_reaches_the_parent() {
    fn run<S: StableStacks, T: Samples>() {
        type R<S, T> = Runtime<S, P<T>>;
        let hub = R::<S, T>::new(&HubConfig::default()).expect("hub");
        for t in T::samples() {
            let g = hub
                .spawn(
                    Box::new(|_: &R<S, T>, start: Option<P<T>>| Ok(start.unwrap())),
                    None,
                )
                .unwrap();
            let v = P::V(t.clone());
            assert_eq!(hub.switch_ref(&g, v.clone()).unwrap(), v);
            let g = hub
                .spawn(
                    Box::new(|_: &R<S, T>, start: Option<P<T>>| match start {
                        Some(P::V(t)) => Err(E::Carrying(t)),
                        other => panic!("started with {other:?}"),
                    }),
                    None,
                )
                .unwrap();
            assert_eq!(hub.switch_ref(&g, v).unwrap_err(), E::Carrying(t));
        }
    }
    run::<Mmap, String>();
    run::<Mmap, [u64; 9]>();
    run::<Ucontext, Padded>();
    run::<Ucontext, u128>();
}
