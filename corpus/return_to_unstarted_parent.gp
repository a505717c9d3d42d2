# test_greenlet.py::TestGreenlet::test_falling_off_end_switches_to_unstarted_parent_works: a leaf
# whose parent never started returns 42; the return value starts the parent with 42 as its
# argument, and the parent's result reaches main.
def one_arg {
  observe current
  return 24
}
def leaf {
  return 42
}
main {
  spawn g0 one_arg
  spawn g1 leaf parent g0
  switch g1 none
  observe g1
  observe g0
}
