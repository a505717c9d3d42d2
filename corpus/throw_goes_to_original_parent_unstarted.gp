# test_throw.py::ThrowTests::test_throw_goes_to_original_parent, first case: g2 (parent g1),
# both unstarted. Throwing IndexError (E5) into g2 kills it without running it; the error then
# reaches the unstarted g1, kills it too without running it, and is raised in main.
# Neither body records any event.
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
  try { throw g1 E5 } catch E5 { observe g1 }
  observe g0
}
