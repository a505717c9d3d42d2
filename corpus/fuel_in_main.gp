# Fuel exhaustion in main, with a child left suspended: main fails with fuel, then teardown
# (free of charge) throws exit into the child, whose next statement raises fuel: teardown records
# it as caught fuel.
fuel 6
def child {
  try { switch parent 1 } catch exit { observe current }
}
main {
  spawn g0 child
  switch g0 none
  repeat 10 { observe g0 }
}
