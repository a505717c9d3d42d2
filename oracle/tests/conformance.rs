//! The hub conformance suite (switchyard-greenlet's `conformance` feature) on the thread oracle,
//! and the oracle's own answers to what the greenlet trait leaves to each backend.

use switchyard_greenlet::conformance::ConformancePayload;
use switchyard_oracle::ThreadHub;

switchyard_greenlet::conformance_tests!(thread_oracle, ThreadHub<ConformancePayload>);

/// Behaviour the trait leaves open, as the oracle does it.
mod oracle_specific {
    use std::time::Duration;

    use switchyard_greenlet::conformance::{body, Log, Setup, Val};
    use switchyard_greenlet::Hub;
    use switchyard_oracle::ThreadHub;

    type H = ThreadHub<Val>;

    fn hub() -> H {
        Setup::new().hub::<H>()
    }

    /// Ids count from main (0) in spawn order, and a handle's `Debug` shows the id.
    #[test]
    fn ids_count_from_main_in_spawn_order_and_show_in_debug() {
        let hub = hub();
        assert_eq!(hub.main().id(), 0);
        let g = hub
            .spawn(body(|h: &H, _| Ok(Val::Int(h.current().id() as i64))), None)
            .unwrap();
        assert_eq!(hub.switch(g.clone(), Val::None), Ok(Val::Int(1)));
        assert_eq!(format!("{g:?}"), "Greenlet#1");
        assert_eq!(format!("{:?}", hub.main()), "Greenlet#0");
    }

    /// A second `Hub::new` on the same thread makes an independent hub.
    #[test]
    fn a_second_hub_on_the_same_thread_is_independent() {
        let hub1 = hub();
        let hub2 = hub();
        assert_ne!(hub1.main(), hub2.main());
        let g = hub2.spawn(body(|_, v| Ok(v.unwrap())), None).unwrap();
        assert_eq!(hub2.switch(g.clone(), Val::Int(3)), Ok(Val::Int(3)));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = hub1.switch(g.clone(), Val::None);
        }));
        let msg = switchyard_greenlet::panic_message(&*r.unwrap_err());
        assert!(msg.contains("another hub"), "{msg}");
    }

    /// The hub going away makes exactly one kill pass: a greenlet resisting every GreenletExit
    /// gets one more and is then released without running more of its body.
    #[test]
    fn a_greenlet_resisting_its_kill_gets_exactly_one_more_exit_from_teardown() {
        let hub = hub();
        let log = Log::default();
        let l = log.clone();
        let g = hub
            .spawn(
                body(move |h: &H, _| {
                    let main = h.main();
                    loop {
                        let r = h.switch(main.clone(), Val::Int(1));
                        l.push(format!("recv {r:?}"));
                    }
                }),
                None,
            )
            .unwrap();
        hub.switch(g.clone(), Val::None).unwrap();
        drop(g);
        assert_eq!(log.take(), vec!["recv Err(Exit)"]);
        drop(hub); // teardown throws exit once more, then releases the thread
        assert_eq!(log.take(), vec!["recv Err(Exit)"]);
        std::thread::sleep(Duration::from_millis(50));
        assert!(log.take().is_empty());
    }
}
