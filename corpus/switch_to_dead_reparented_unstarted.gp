# test_greenlet.py::TestGreenlet::test_switch_to_dead_greenlet_reparent: a dead child reparented
# under an unstarted greenlet; switching to the dead child is the same as switching to that
# parent, which starts with the value. Its return value then goes to its own parent (main).
def p_body {
  return "p done"
}
def c_body {
  return 42
}
main {
  spawn g0 p_body
  spawn g1 c_body
  switch g1 none
  reparent g1 g0
  observe g0
  switch g1 "start p"
  observe g0
}
