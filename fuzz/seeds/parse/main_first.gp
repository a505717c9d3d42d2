# main before the defs it spawns, fuel first, `;` empty statements, one-line blocks
fuel 5000
main { spawn g0 worker parent current; switch g0 -7 ; observe g0 }
def worker { try { switch parent "x y" } catch any { return none } ; raise E3 }
def _ {}
