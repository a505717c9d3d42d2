# test_greenlet.py::TestGreenlet::test_two_recursive_children: a greenlet creates and starts a
# nested greenlet (whose default parent is its creator); the inner one switches to its parent,
# then the outer one finishes. The inner one is left suspended and is torn down at the end.
def inner {
  observe current
  switch parent "b"
}
def outer {
  spawn g1 inner
  switch g1 "a"
  observe g1
  return "c"
}
main {
  spawn g0 outer
  switch g0 none
  observe g1
}
