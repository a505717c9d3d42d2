# The spawn limit (64 spawns per program): the 65th spawn raises limit, takes no id and leaves
# the slot as it was; limit is an ordinary error (catch limit / any). The check comes after the
# reference check, so an unbound parent wins over limit.
def idle {
  return none
}
main {
  try { repeat 70 { spawn g3 idle } } catch limit { observe g3 }
  try { spawn g4 idle parent g5 } catch unbound { observe g3 }
  try { spawn g4 idle } catch any { observe g3 }
  try { spawn g4 idle parent g3 } catch limit { switch g3 none }
}
