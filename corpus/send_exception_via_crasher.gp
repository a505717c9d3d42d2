# test_greenlet.py::TestGreenlet::test_send_exception (and send_exception()): a "crasher"
# greenlet whose parent is the suspended g1 raises KeyError (E4) at once; the error is raised in
# g1 at its suspension point; g1 does not catch it, so it reaches main (g1's parent).
def fmain {
  switch parent "ready"
  raise E9
}
def crasher {
  raise E4
}
main {
  spawn g0 fmain
  switch g0 none
  spawn g1 crasher parent g0
  try { switch g1 none } catch E4 { observe g0 }
  observe g1
}
