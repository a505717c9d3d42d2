# drop: a greenlet being killed drops another slot: a nested kill, by the victim (#1 kill #2
# inside #0 kill #1); then a kill from a body (not main). docs/experiments/drop/e05 drop_other.
def victim {
  try { switch main "v" } catch exit { drop g1  return "v done" }
}
def other {
  try { switch main "o" } catch exit { observe current }
}
def killer {
  drop g3
  return "killer done"
}
main {
  spawn g0 victim
  switch g0 none
  spawn g1 other
  switch g1 none
  drop g0
  spawn g3 other
  switch g3 none
  spawn g2 killer
  switch g2 none
}
