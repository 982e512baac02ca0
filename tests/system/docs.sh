#!/bin/bash
# The manual pages are clean for mandoc's linter and document every
# configuration key the code knows; --help and --check-config answer.
. "$(dirname "$0")/lib.sh"
command -v mandoc >/dev/null || skip_all "mandoc not installed (apt-get install mandoc)"
for page in "$top_srcdir"/man/*.[158]; do
        check "$(basename "$page"): mandoc -Tlint is clean" sh -c "mandoc -Tlint '$page' >'$T/lint' 2>&1; test ! -s '$T/lint'"
done
keys=$(sed -n 's/^ *{ "\([a-z_]*\)", KIND_.*/\1/p' "$top_srcdir/src/config.c" | sort -u)
missing=
for k in $keys; do
        grep -Eq "^\.(B|BR|IR|I) \"?${k}\b" "$top_srcdir/man/pdfspool.yaml.5" || missing="$missing $k"
done
check "pdfspool.yaml(5) documents every key config.c knows ($(echo $keys | wc -w) keys)${missing:+; missing:$missing}" test -z "$missing"
missing=
for k in $keys; do
        grep -Eq "^ *#? *${k}:" "$top_srcdir/etc/pdfspool.yaml" || missing="$missing $k"
done
check "etc/pdfspool.yaml shows every key${missing:+; missing:$missing}" test -z "$missing"
check "pdfspoold --help" sh -c "'$PDFSPOOLD' --help | grep -q -- --check-config"
check "pdfspoolctl --help lists its commands" sh -c "'$PDFSPOOLCTL' --help | grep -q status"
check "pdfspoold --check-config accepts the shipped example" "$PDFSPOOLD" --check-config -c "$top_srcdir/etc/pdfspool.yaml"
printf 'queues:\n  q:\n    inbox: /srv/in\n    outbox: /srv/out\n    setle: 2s\n' > "$T/bad.yaml"
"$PDFSPOOLD" --check-config -c "$T/bad.yaml" 2>"$T/err"; rc=$?
check "--check-config refuses a typo with exit 78" test $rc -eq 78
check "... naming file:line:column" grep -q "bad.yaml:5:5: unknown key \"setle\"" "$T/err"
done_testing
