# Lifecycle states as greenlet reports them (docs/api "gr_frame", "dead", "__bool__";
# test_greenlet.py TestRepr::test_initial/test_main_while_running/test_main_in_background/
# test_dead): unstarted (pending), running (current), suspended (started, active, not current),
# dead; main is running or suspended and its parent prints as -. Finally an E1 thrown into an
# unstarted greenlet comes straight back to main, which fails with it.
def child {
  observe current
  observe main
  observe parent
  switch main "paused"
}
main {
  spawn g0 child
  observe g0
  switch g0 none
  observe g0
  observe main
  switch g0 none
  observe g0
  spawn g1 child
  throw g1 E1
}
