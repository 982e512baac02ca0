#!/bin/sh
# dev.sh: build pdfspool from this checkout and run it or its tests.
#
#   ./dev.sh demo    install build dependencies (Debian 12, as root), build, and run
#                    pdfspoold in the foreground on a demo spool under ./demo/
#   ./dev.sh test    install build and test dependencies, build, run the whole test suite
#                    (make check), then make distcheck, then the fuzzers (as ./dev.sh fuzz;
#                    FUZZ_SECONDS=0 leaves them out), then the unit tests and the main
#                    system tests built with ASan and UBSan (NO_SANITIZE=1 leaves them out),
#                    and make check-valgrind (NO_VALGRIND=1 leaves it out)
#   ./dev.sh sanitize  the suite (but three load tests) built with --enable-sanitizers, in
#                    build-asan/; ./dev.sh sanitize check-sanitizers-quick: the CI's part of it
#   ./dev.sh fuzz    build the libFuzzer targets with clang in build-fuzz/, run each 60 s
#   ./dev.sh deps    only install the Debian packages
#   ./dev.sh build   only build (./configure && make)
set -eu
cd "$(dirname "$0")"
top=$(pwd)

BUILD_DEPS="build-essential autoconf automake pkg-config
        libsystemd-dev libyaml-dev libarchive-dev libjansson-dev libgcrypt20-dev libsqlite3-dev
        libmupdf-dev libmujs-dev libgumbo-dev libopenjp2-7-dev libjbig2dec0-dev
        libjpeg-dev libfreetype-dev libharfbuzz-dev mupdf-tools libseccomp-dev"
TEST_DEPS="jq procps psmisc systemd samba smbclient smbnetfs bindfs fuse3 mandoc zip unzip
        libarchive-tools xz-utils zstd p7zip-full python3 python3-yaml inotify-tools strace chromium python3-pil
        clang valgrind xfsprogs slurmd slurmctld slurm-client munge"

deps() {
        missing=
        for p in $BUILD_DEPS ${1:-}; do
                dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing="$missing $p"
        done
        [ -z "$missing" ] && return 0
        echo "dev.sh: installing:$missing"
        if [ "$(id -u)" -ne 0 ]; then
                echo "dev.sh: run as root (or install these Debian packages yourself):$missing" >&2
                exit 1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # with recommends: the tests were made on machines set up this way
        # shellcheck disable=SC2086
        apt-get install -y -qq $missing >/dev/null
}

build() {
        [ -x configure ] || autoreconf -fi
        [ -f Makefile ] || ./configure --prefix=/usr --sysconfdir=/etc --localstatedir=/var
        make -j"$(nproc)"
}

# A tree of its own, out of this checkout (which may be configured in place, and
# automake builds out of tree only from an unconfigured source): the tarball that
# make dist makes, unpacked in DIR/src; prints the source directory.
fresh_tree() {
        dir=$1
        [ -f Makefile ] || build >/dev/null
        make dist >/dev/null
        rm -rf "$dir" && mkdir -p "$dir/src"
        tar -xzf pdfspool-*.tar.gz -C "$dir/src" --strip-components=1
        echo "$top/$dir/src"
}

# The suite with ASan and UBSan (all but three load tests: Makefile.am,
# check-sanitizers); every report fails its test (tests/system/lib.sh).
# sanitize [TARGET]: check-sanitizers (the suite but three load tests), or check-sanitizers-quick
sanitize() {
        target=${1:-check-sanitizers}
        src=$(fresh_tree build-asan)
        # corpus.sh finds the shared corpus beside this checkout, not beside build-asan/src
        corpus=
        for c in "$top/../shared/corpus" "$top/../../shared/corpus"; do
                [ -d "$c" ] && { corpus=$(cd "$c" && pwd); break; }
        done
        start=$(date +%s)
        (cd build-asan && "$src/configure" --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
                --enable-sanitizers >/dev/null && make -j"$(nproc)" >/dev/null &&
         PDFSPOOL_CORPUS=$corpus PDFSPOOL_TIME_FACTOR=4 make "$target") || { cat build-asan/test-suite.log; exit 1; }
        echo "dev.sh: $target (ASan and UBSan) took $(( $(date +%s) - start )) s"
}

# Each libFuzzer target 60 s under ASan and UBSan; reproducers land in fuzz-artifacts/.
fuzz() {
        src=$(fresh_tree build-fuzz)
        (cd build-fuzz && "$src/configure" CC=clang --enable-fuzzing --prefix=/usr --sysconfdir=/etc \
                --localstatedir=/var >/dev/null && make -j"$(nproc)" fuzz >/dev/null) || exit 1
        "$src/tests/fuzz/run-fuzzers" build-fuzz "${FUZZ_SECONDS:-60}" "$top/fuzz-artifacts"
}

demo() {
        demo=$top/demo
        mkdir -p "$demo/inbox" "$demo/outbox" "$demo/state"
        cat > "$demo/pdfspool.yaml" <<EOC
# Demo spool made by ./dev.sh demo
state_dir: $demo/state
log: stderr
queues:
  datasheets:
    inbox: $demo/inbox
    outbox: $demo/outbox
    settle: 2s
EOC
        cat <<EOM

pdfspool demo
  inbox:   $demo/inbox     drop folders of PDFs (or single PDFs) here
  outbox:  $demo/outbox    results and status.json files appear here
  list:    src/pdfspoolctl -c $demo/pdfspool.yaml list
  stop:    Ctrl-C

EOM
        exec src/pdfspoold -c "$demo/pdfspool.yaml"
}

case "${1:-}" in
deps)  deps "$TEST_DEPS" ;;
build) deps; build ;;
demo)  deps; build; demo ;;
test)  deps "$TEST_DEPS"; build
       make check || { cat test-suite.log; exit 1; }
       # packaging: a tarball that builds out of tree, installs and uninstalls
       # under its own prefix (the tests ran above, so not again)
       make distcheck TESTS=
       # the fuzzers, a bounded time each (FUZZ_SECONDS, 60 by default; 0: none)
       [ "${FUZZ_SECONDS:-60}" = 0 ] || fuzz
       # the daemon's main system tests with the daemon under valgrind memcheck (errors
       # and definite leaks fail; its own log, so that the suite's stays for the summary)
       [ -n "${NO_VALGRIND:-}" ] || make check-valgrind TEST_SUITE_LOG=test-suite-valgrind.log ||
               { cat test-suite-valgrind.log; exit 1; }
       # the unit tests and the main system tests again, built with ASan and UBSan
       [ -n "${NO_SANITIZE:-}" ] || sanitize check-sanitizers-quick
       # the suite's result, on one line
       awk '/^# (PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):/ { n[$2] = $3 }
            END { printf "%d passed, %d failed, %d skipped\n", n["PASS:"] + n["XFAIL:"],
                         n["FAIL:"] + n["XPASS:"] + n["ERROR:"], n["SKIP:"] }' test-suite.log
       ;;
sanitize) deps "$TEST_DEPS"; sanitize "${2:-}" ;;
fuzz)  deps "clang"; fuzz ;;
*)     sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 64 ;;
esac
