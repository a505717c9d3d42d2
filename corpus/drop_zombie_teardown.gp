# drop: the killed greenlet switches to its parent (the dropper) instead of dying: a zombie,
# never killed again, thrown into by teardown. docs/experiments/drop/e05 switch_parent.
def w {
  try { switch main 10 } catch exit { switch parent 20 }
  return "zombie done"
}
main {
  spawn g0 w
  switch g0 1
  drop g0
  spawn g1 w
  switch g1 2
}
