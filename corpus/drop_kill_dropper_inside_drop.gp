# drop: a dropper suspended inside its own drop is killed there by main's drop; the exit is
# swallowed inside the drop and it finishes. docs/experiments/drop/e07; language.md section 15.
def v { try { switch main 1 } catch exit { reparent current main  switch main 2 } }
def x { drop g0  return "x done" }
main { spawn g0 v  switch g0 none  spawn g1 x  switch g1 none  drop g1  observe main }
