# Throw into an unstarted greenlet (test_throw.py test_throw_goes_to_original_parent;
# greenlet's throw() docs: "if the greenlet has not started, it is killed"): it dies at once, its
# body never runs (no start, no fail), and the error goes to its parent (main here).
# Throwing exit instead hands main the value exit.
def body {
  observe current
  return "never"
}
main {
  spawn g0 body
  observe g0
  try { throw g0 E2 } catch E2 { observe g0 }
  spawn g1 body
  throw g1 exit
  observe g1
  switch g1 7
}
