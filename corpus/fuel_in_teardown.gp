# Fuel running out during teardown: two suspended greenlets catch exit and keep working; the
# first uses up the last fuel in its handler, so teardown records caught fuel for it; the
# second, whose pending switch needs no fuel to return, fails with exit at once.
fuel 30
def busy {
  try { switch main "waiting" } catch exit { repeat 100 { observe current } }
}
def lazy {
  switch main "lazy waiting"
}
main {
  spawn g0 busy
  switch g0 none
  spawn g1 lazy
  switch g1 none
}
