# An error reaching an unstarted greenlet (test_greenlet.py::
# test_falling_off_end_switches_to_unstarted_parent_raises_error and
# test_switch_to_dead_greenlet_with_unstarted_perverse_parent): a child with an unstarted
# parent raises; the parent is killed without running its body and the error goes on up to
# main. A later switch to the dead child then goes to main itself.
def never {
  observe current
}
def leaf {
  raise E3
}
main {
  spawn g0 never
  spawn g1 leaf parent g0
  try { switch g1 "go" } catch E3 { observe g0 }
  observe g1
  switch g1 "dead chain"
}
