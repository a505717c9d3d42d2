//! The runtime's own bookkeeping, checked from inside: slot generations and the contexts'
//! chunks. Greenlet semantics are the conformance suite's (`switchyard_greenlet`).

use super::{Rec, Runtime};
use crate::greenlet::{Hub, HubConfig};
use crate::mmap::Mmap;
use crate::test_payload::N;

type Rt = Runtime<Mmap, N>;

fn returns_its_start(hub: &Rt) -> crate::runtime::Greenlet {
    hub.spawn(Box::new(|_: &Rt, v| Ok(v.unwrap_or(N(0)))), None)
        .unwrap()
}

#[test]
fn records_are_32_bytes() {
    assert_eq!(std::mem::size_of::<Rec<Mmap, N>>(), 32);
}

/// A slot is reused with its generation one higher, and a weak handle to the earlier greenlet
/// in it stays dead.
#[test]
fn a_reused_slot_has_a_new_generation() {
    let hub = Rt::new(&HubConfig::default()).unwrap();
    let g = returns_its_start(&hub);
    let slot = g.token.slot;
    let weak = hub.downgrade(&g);
    assert_eq!(hub.switch(g, N(1)), Ok(N(1)));
    let h = returns_its_start(&hub);
    assert_eq!(h.token.slot, slot);
    assert_eq!(hub.downgrade(&h).generation, weak.generation + 1);
    assert_eq!(hub.upgrade(&weak), None);
    assert_eq!(hub.upgrade(&hub.downgrade(&h)).as_ref(), Some(&h));
}

/// A slot whose generation has reached `u32::MAX` is never used again: a weak handle names a
/// greenlet by slot and generation, and a wrapped generation would name a later greenlet.
#[test]
fn a_slot_whose_generation_is_exhausted_is_retired() {
    let hub = Rt::new(&HubConfig::default()).unwrap();
    let g = returns_its_start(&hub);
    let slot = g.token.slot;
    assert_eq!(hub.switch(g, N(1)), Ok(N(1)));
    hub.inner.recs.borrow_mut()[slot as usize].generation = u32::MAX - 1;
    let last = returns_its_start(&hub);
    assert_eq!(last.token.slot, slot);
    let weak = hub.downgrade(&last);
    assert_eq!(weak.generation, u32::MAX);
    assert_eq!(hub.switch(last, N(2)), Ok(N(2)));
    let next = returns_its_start(&hub);
    assert_ne!(next.token.slot, slot, "the exhausted slot was used again");
    assert_eq!(hub.upgrade(&weak), None);
    assert_eq!(hub.switch(next, N(3)), Ok(N(3)));
}

/// Greenlets suspended across many chunks of contexts all resume where they were, in any
/// order, with slots reused between rounds.
#[test]
fn contexts_across_many_chunks_stay_put() {
    let hub = Rt::new(&HubConfig::default()).unwrap();
    let main = hub.main();
    for round in 0..2u64 {
        let gs: Vec<_> = (0..200u64)
            .map(|i| {
                let main = main.clone();
                let g = hub
                    .spawn(
                        Box::new(move |h: &Rt, _| {
                            let back = h.switch_ref(&main, N(i))?;
                            Ok(N(back.0 + i))
                        }),
                        None,
                    )
                    .unwrap();
                assert_eq!(hub.switch_ref(&g, N(0)), Ok(N(i)));
                g
            })
            .collect();
        for (i, g) in gs.iter().enumerate().rev() {
            assert_eq!(hub.switch_ref(g, N(round)), Ok(N(round + i as u64)));
        }
    }
}
