# test_greenlet.py::TestGreenlet::test_two_children: two greenlets running the same body,
# interleaved; each dies when resumed the second time, in the order they were resumed.
def f {
  switch parent "started"
  return "done"
}
main {
  spawn g0 f
  spawn g1 f
  switch g0 none
  switch g1 none
  switch g1 none
  observe g1
  observe g0
  switch g0 none
  observe g0
}
