# drop: the killed greenlet's handler raises E3; the error is swallowed (greenlet's
# unraisable hook), main's drop neither receives nor raises anything. docs/experiments/drop/e05 raise_other.
def w {
  try { switch main 10 } catch exit { raise E3 }
}
main {
  spawn g0 w
  switch g0 1
  try { drop g0 } catch any { observe current }
  switch main 5
}
