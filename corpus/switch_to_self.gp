# Switching to the current greenlet (greenlet: g.switch() on getcurrent() returns its argument
# at once): in main and in a child, directly and via current; no other greenlet runs.
def child {
  switch current "self"
  switch g0 "self via slot"
  switch parent "to main"
}
main {
  switch main 1
  switch current -0
  spawn g0 child
  switch g0 007
}
