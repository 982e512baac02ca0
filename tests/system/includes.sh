#!/bin/bash
# The shape of src/: no include cycles between modules (a module is a .c file
# and its .h), and the store (spool.c) includes nothing above it. Calls go
# down only; this keeps it so.
. "$(dirname "$0")/lib.sh"
command -v tsort >/dev/null || skip_all "tsort not installed (coreutils)"

# "module included-module" pairs, one per #include "x.h" line; the module itself is left out.
edges() {
        for f in "$1"/*.c "$1"/*.h; do
                m=$(basename "$f"); m=${m%.[ch]}
                sed -n 's/^#include "\([^"]*\)\.h".*/\1/p' "$f" | while read -r d; do
                        [ "$d" != "$m" ] && echo "$m $d"
                done
        done | sort -u
}

# cycles DIR: prints the modules on a cycle (tsort names them), nothing when there is none
cycles() { edges "$1" | tsort 2>&1 >/dev/null | sed -n 's/^tsort: //p' | grep -v 'input contains a loop'; }

edges "$top_srcdir/src" > "$T/edges"
check "src/ has include edges to check ($(wc -l < "$T/edges") edges)" test -s "$T/edges"
cycles "$top_srcdir/src" > "$T/cycles"
diag "$(tr '\n' ' ' < "$T/cycles")"
check "no include cycle between the modules of src/" test ! -s "$T/cycles"
for above in intake claim register pool watch daemon; do
        check "spool.c (the store) does not include $above.h" sh -c "! grep -q '^#include \"$above.h\"' '$top_srcdir/src/spool.c' '$top_srcdir/src/spool.h'"
done

# The check itself finds a cycle where there is one.
mkdir -p "$T/src"
printf '#include "b.h"\n' > "$T/src/a.c"; printf '#include "c.h"\n' > "$T/src/b.c"; printf '#include "a.h"\n' > "$T/src/c.h"
check "the check finds a cycle a -> b -> c -> a" test -n "$(cycles "$T/src")"
done_testing
