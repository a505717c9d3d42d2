# Fuel exhaustion inside a child: the statement that finds no fuel raises fuel, which no catch
# (not even any) catches; it fails the child and then every greenlet up the parent chain, and
# main fails with fuel. Teardown costs no fuel (here nothing is left to tear down).
fuel 12
def spin {
  try { repeat 100 { observe current } } catch any { return "never" }
}
main {
  spawn g0 spin
  try { switch g0 none } catch any { observe g0 }
}
