#!/bin/sh
# `make rehearse`: the README's set-up and `make test` on a fresh Debian 12 machine.
#
# Builds a minimal Debian 12 (bookworm) root from Debian's archive with mmdebstrap, holding
# only Python 3.11, make and git (and what they depend on), clones this checkout's HEAD into
# it, and runs `make setup` then `make test` there as root, offscreen, in private mount and
# PID namespaces with the root as "/". Whatever else the set-up needs (Qt's libraries, a
# compiler, fonts, python3.11-venv) must come from packaging/system-deps.sh and the
# Makefile: that is what this finds out. Prints each step's time and "rehearse: passed" or "rehearse: failed".
#
# Needs root (or sudo) and the network (Debian's archive and PyPI). mmdebstrap is installed
# with apt when missing. Only committed work is rehearsed (a clone of HEAD).
#
#   REHEARSE_DIR=/var/tmp/driftless-rehearse   where the root is made (removed first)
#   REHEARSE_CACHES=host                       copy the host's pip cache (its compiled
#                                              llama-cpp-python wheel: about 10 minutes saved)
#                                              and ~/.cache/driftless-build (the packaged app's
#                                              libraries: about 10 more) into the root;
#                                              "none" starts cold, as a new machine does
#   REHEARSE_MIRROR=http://deb.debian.org/debian
#   REHEARSE_TARGETS="setup test"              the make targets run inside, in order ("setup"
#                                              alone times a cold set-up)
#
# One rehearsal at a time per REHEARSE_DIR (a lock beside it): a second one would remove
# the root under the first; it says so and stops instead.
#
# Behind a proxy that re-signs TLS, the host's certificate bundle (PIP_CERT, else
# SSL_CERT_FILE) is copied in and named to pip: a fresh machine's pip trusts only its own.
set -eu
if [ "$(id -u)" != 0 ]; then
    exec sudo --preserve-env=REHEARSE_DIR,REHEARSE_CACHES,REHEARSE_MIRROR,REHEARSE_TARGETS,HOME,PIP_CERT,SSL_CERT_FILE sh "$0" "$@"
fi
CHECKOUT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${REHEARSE_DIR:-/var/tmp/driftless-rehearse}
CACHES=${REHEARSE_CACHES:-host}
MIRROR=${REHEARSE_MIRROR:-http://deb.debian.org/debian}
TARGETS=${REHEARSE_TARGETS:-setup test}
ROOT=$DIR/root
LOG=$DIR/rehearse.log
START=$(date +%s)

say() { echo "rehearse: $*" | tee -a "$LOG" >&2; }
elapsed() { echo "$(($(date +%s) - $1))s"; }

if ! command -v mmdebstrap >/dev/null 2>&1; then
    echo "rehearse: installing mmdebstrap" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
fi

mkdir -p "$(dirname "$DIR")"
exec 9>"$DIR.lock"
if ! flock -n 9; then
    echo "rehearse: another make rehearse is using $DIR; wait for it to end, or rehearse beside it with REHEARSE_DIR=$DIR-2" >&2
    exit 1
fi
rm -rf "$DIR"
mkdir -p "$DIR"
commit=$(git -C "$CHECKOUT" rev-parse HEAD)
say "rehearsing $commit in a fresh Debian 12 root at $ROOT (log: $LOG)"

step=$(date +%s)
mmdebstrap --quiet --variant=minbase --include=python3,make,git bookworm "$ROOT" \
    "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main" >>"$LOG" 2>&1
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
say "root built in $(elapsed "$step"): $(chroot "$ROOT" python3 --version), $(chroot "$ROOT" dpkg-query -W -f='${binary:Package}\n' | wc -l) packages"

git clone --quiet --no-local "$CHECKOUT" "$ROOT/root/driftless"
git -C "$ROOT/root/driftless" checkout --quiet --detach "$commit"
# The labelled sets sit beside the checkout (../shared/data), in CI as here; the tests
# that read them find them at the same place inside (and fall back or skip without them).
if [ -d "$CHECKOUT/../shared/data" ]; then
    mkdir -p "$ROOT/root/shared"
    cp -a "$CHECKOUT/../shared/data" "$ROOT/root/shared/"
    say "copied ../shared/data in beside the clone ($(du -sh "$CHECKOUT/../shared/data" | cut -f1))"
fi
if [ "$CACHES" = host ]; then
    home=${HOME:-/root}
    mkdir -p "$ROOT/root/.cache"
    for cache in pip driftless-build; do
        if [ -d "$home/.cache/$cache" ]; then
            cp -a "$home/.cache/$cache" "$ROOT/root/.cache/"
            # a build another checkout has under way is not a cache yet
            rm -rf "$ROOT/root/.cache/$cache"/llama-build-*
            say "copied the host's ~/.cache/$cache in ($(du -sh "$home/.cache/$cache" | cut -f1))"
        fi
    done
fi

trust=""
bundle=${PIP_CERT:-${SSL_CERT_FILE:-}}
if [ -n "$bundle" ] && [ -r "$bundle" ]; then
    cp "$bundle" "$ROOT/etc/rehearse-ca.pem"
    trust="PIP_CERT=/etc/rehearse-ca.pem"
    say "pip trusts the host's certificates ($bundle)"
fi

# Inside: private mount and PID namespaces (all goes when it ends), the root made "/" with
# pivot_root rather than chroot (the kernel refuses a chrooted process a user namespace, and
# the packaged smoke test runs offline in one: unshare -rn), /proc, /sys, /dev and /dev/shm
# as on a machine (/tmp is on the root's disk, as Debian 12 has it); a clean environment as
# on a new machine; Ctrl-C works (a background make ignores it).
inside() {
    unshare --mount --propagation private --pid --fork --kill-child sh -c '
        mount --rbind "$0" "$0" && mount -t proc proc "$0/proc" &&
        mount --rbind /dev "$0/dev" && mount -t sysfs sysfs "$0/sys" &&
        mount -t tmpfs -o mode=1777 tmpfs "$0/dev/shm" &&
        mkdir -p "$0/.rehearse-host" && cd "$0" && pivot_root . .rehearse-host &&
        umount -l /.rehearse-host && rmdir /.rehearse-host &&
        exec env -i --default-signal=INT HOME=/root LANG=C.UTF-8 TERM=dumb \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            $2 sh -c "cd /root/driftless && $1"' "$ROOT" "$1" "$trust" 9>&-  # the lock stays with this script
}

status=passed
for target in $TARGETS; do
    step=$(date +%s)
    if inside "make $target" >>"$LOG" 2>&1; then
        say "make $target passed in $(elapsed "$step")"
    else
        code=$?
        why="the end of $LOG says why"
        if [ "$code" -gt 128 ]; then
            why="killed by signal $((code - 128)) from outside it; dmesg says whether the OOM killer did it"
        fi
        say "make $target FAILED after $(elapsed "$step"): $why"
        status=failed
        break
    fi
done
grep -E "^(FAILED|ERROR) |[0-9]+ (passed|failed)" "$LOG" | tail -20 >&2 || true
say "$status in $(elapsed "$START") ($commit)"
[ "$status" = passed ]
