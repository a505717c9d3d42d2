# test_throw.py::ThrowTests::test_class: throwing an exception class into a suspended greenlet
# raises it at its pending switch; the greenlet catches it and switches back "ok".
def f {
  try { switch parent "ok" } catch E0 { switch parent "ok" return none }
  switch parent "fail"
}
main {
  spawn g0 f
  switch g0 none
  throw g0 E0
  observe g0
}
