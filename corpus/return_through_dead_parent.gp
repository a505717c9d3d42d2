# Return through dead parents (docs/greenlet.rst "Parents": a dying greenlet's value goes to its
# parent, skipping dead ones; test_greenlet.py::test_switch_to_dead_greenlet_reparent): the
# child's parent #1 has died by the time the child finishes, so the value goes on to #1's parent
# (main). Then an error from a child of a dead parent also skips it.
def short {
  spawn g1 child
  switch g1 "child start"
  return "short done"
}
def child {
  switch main "parked"
  return "through dead parent"
}
def failing {
  switch main "parked again"
  raise E2
}
main {
  spawn g0 short
  switch g0 none
  switch g0 "let short die"
  observe g0
  switch g1 "resume child"
  spawn g2 failing parent g0
  switch g2 none
  try { switch g2 none } catch E2 { observe g2 }
}
