# drop: x drops g0; the victim switches to main while handling the kill, leaving x suspended
# inside its drop; main resumes x (the value is discarded) and the victim is left a zombie
# that teardown still visits. docs/experiments/drop/e05 switch_main_byX.
def w {
  try { switch main 10 } catch exit { switch main 20 }
  return "late"
}
def x { drop g0  return "x done" }
main {
  spawn g0 w
  switch g0 1
  spawn g1 x
  switch g1 none
  switch g1 "wake x"
}
