# test_greenlet.py::TestGreenlet::test_simple: a child switches to its parent and is resumed
# once more, finishing; the values show the strict alternation 0 1 2 3 4.
def f {
  switch parent 1
  return 3
}
main {
  spawn g0 f
  switch g0 0
  switch g0 2
  observe g0
  return 4
}
