# drop: dropping an empty slot raises unbound; dead and unstarted greenlets are freed
# silently. docs/experiments/drop/e08 unstarted, dead.
def q { return 3 }
main {
  spawn g0 q
  switch g0 none
  drop g0
  try { drop g0 } catch unbound { spawn g1 q  drop g1 }
}
