# The introduction example of greenlet's docs (docs/greenlet.rst, "Introduction"; also
# test_greenlet.py-style test_basic): test1 "prints" 12, jumps to test2 which prints 56 and
# jumps back; test1 prints 34 and dies, so control returns to main; 78 is never reached.
# Checks: switching between sibling greenlets, death returns to parent, and the never-finished
# test2 is torn down at the end (GreenletExit thrown, body fails with exit).
def test1 {
  observe current     # "12"
  switch g1 none
  observe current     # "34"
}
def test2 {
  observe current     # "56"
  switch g0 none
  observe current     # "78" never happens
}
main {
  spawn g0 test1
  spawn g1 test2
  switch g0 none
}
