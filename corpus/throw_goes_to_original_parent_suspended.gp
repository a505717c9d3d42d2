# test_throw.py::ThrowTests::test_throw_goes_to_original_parent, second and third cases: g1 is
# suspended in its try; throwing E5 into g2 (unstarted, then suspended) sends the error to g1,
# which catches it and returns "caught" to main. Both end dead.
def f1 {
  try { switch main "f1 ready to catch" } catch E5 { return "caught" }
  return "normal exit"
}
def f2 {
  switch main "from f2"
}
main {
  spawn g0 f1
  spawn g1 f2 parent g0
  switch g0 none
  throw g1 E5
  observe g1
  observe g0
  spawn g0 f1
  spawn g1 f2 parent g0
  switch g0 none
  switch g1 none
  throw g1 E5
  observe g1
  observe g0
}
