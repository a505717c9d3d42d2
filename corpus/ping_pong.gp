# Ping-pong between two greenlets (docs/greenlet.rst "Switching" example: values passed by
# switch() become the return value of the other side's switch()); 4 rounds, then ping returns
# to its parent (main) and pong, still suspended, is torn down.
def ping {
  repeat 4 { switch g1 "ping" }
  return "ping done"
}
def pong {
  repeat 10 { switch g0 "pong" }
}
main {
  spawn g0 ping
  spawn g1 pong
  switch g0 "serve"
}
