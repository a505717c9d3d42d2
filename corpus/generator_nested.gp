# test_generator_nested.py (test_nested_genlets, Yield(value, level=2)): an outer genlet
# iterates an inner genlet and re-yields to main; the inner one also yields straight to its
# grandparent (main) at level 2, after which main resumes the inner one directly (next() with a
# child set), and the values keep flowing up the nesting until both are exhausted.
def inner {
  switch parent 1
  switch main "inner to grandparent"
  switch parent 3
  return "inner exhausted"
}
def outer {
  spawn g1 inner
  switch g1 none
  switch parent "outer got 1"
  switch g1 none
  switch parent "outer got 3"
  switch g1 none
  return "outer done"
}
main {
  spawn g0 outer
  switch g0 none
  switch g0 none
  switch g1 none
  switch g0 none
  observe g1
}
