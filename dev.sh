#!/bin/sh
# dev.sh: build pdfspool from this checkout and run it or its tests.
#
#   ./dev.sh demo    install build dependencies (Debian 12, as root), build, and run
#                    pdfspoold in the foreground on a demo spool under ./demo/
#   ./dev.sh test    install build and test dependencies, build, run the whole test suite
#                    (make check), then make distcheck
#   ./dev.sh deps    only install the Debian packages
#   ./dev.sh build   only build (./configure && make)
set -eu
cd "$(dirname "$0")"
top=$(pwd)

BUILD_DEPS="build-essential autoconf automake pkg-config
        libsystemd-dev libyaml-dev libarchive-dev libjansson-dev libssl-dev libsqlite3-dev
        libmupdf-dev libmujs-dev libgumbo-dev libopenjp2-7-dev libjbig2dec0-dev
        libjpeg-dev libfreetype-dev libharfbuzz-dev mupdf-tools"
TEST_DEPS="jq procps psmisc systemd samba smbclient smbnetfs bindfs fuse3 mandoc zip unzip
        libarchive-tools xz-utils zstd p7zip-full python3 python3-yaml inotify-tools strace chromium python3-pil"

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
       # the suite's result, on one line
       awk '/^# (PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):/ { n[$2] = $3 }
            END { printf "%d passed, %d failed, %d skipped\n", n["PASS:"] + n["XFAIL:"],
                         n["FAIL:"] + n["XPASS:"] + n["ERROR:"], n["SKIP:"] }' test-suite.log ;;
*)     sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 64 ;;
esac
