# switchyard finding: corosensei register-corruption
# backend: corosensei
# failure: register-corruption
# detail: register corruption on backend corosensei: mxcsr expected 0x9fc0 saw 0xbfc0 (seen by greenlet #0 after a switch)
# seed: 1
# program: 0
# profile: default
# found by: switchyard fuzz --seed 1 --profile default --backend corosensei
# original program: switchyard gen --seed 1 --start 0 --profile default
# replay: switchyard run --backend corosensei docs/findings/corosensei-register-corruption.gp
# minimize again: switchyard minimize --backend corosensei docs/findings/corosensei-register-corruption.gp
# minimized from 80 to 2 statements in 33 runs
# Found with the corosensei backend declaring every guarantee (Guarantees::ALL), before it
# declared that corosensei keeps neither control word; tests/adapters.rs replays it that way
# (and on the registered backend, which now agrees with the oracle). See the README, "Route 3:
# adapters".
def f0 {}

main {
  spawn g0 f0
  switch g0 none
}
