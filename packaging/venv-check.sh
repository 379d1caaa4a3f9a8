#!/bin/sh
# The Python that make uses, checked before the virtual environment is made or reused.
#
#   sh packaging/venv-check.sh version PYTHON  fail with a sentence unless PYTHON is 3.11
#   sh packaging/venv-check.sh python PYTHON   the same, and it must have the venv module
#                                              (system-deps.sh installs it in between)
#   sh packaging/venv-check.sh venv VENV       remove VENV (saying so) when another Python
#                                              made it or it is broken, so make makes it again
set -eu
WANT=3.11
HOW="Install Python $WANT (Debian/Ubuntu: sudo apt install python3.11 python3.11-venv, \
where the release has it; Fedora: sudo dnf install python3.11; elsewhere: pyenv install $WANT) \
and run make again, naming it if it is not on PATH as python3.11: make run PYTHON=/path/to/python3.11"

version_of() {
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo none
}

case "${1:-}" in
version | python)
    python=${2:-}
    if [ -z "$python" ] || ! command -v "$python" >/dev/null 2>&1; then
        echo "make: no Python found. $HOW" >&2
        exit 1
    fi
    have=$(version_of "$python")
    if [ "$have" != "$WANT" ]; then
        echo "make: Driftless needs Python $WANT, and $python is Python $have. $HOW" >&2
        exit 1
    fi
    if [ "$1" = python ] && ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
        echo "make: $python has no venv module (with ensurepip). Debian/Ubuntu: sudo apt install python3.11-venv" >&2
        exit 1
    fi
    ;;
venv)
    venv=${2:-}
    [ -n "$venv" ] && [ -e "$venv" ] || exit 0
    made=$(version_of "$venv/bin/python")
    if [ "$made" != "$WANT" ]; then
        if [ "$made" = none ]; then what="is broken (its python does not run)"; else what="was made by Python $made"; fi
        echo "make: $venv $what, not Python $WANT: removing it so that it is made again." >&2
        rm -rf "$venv"
    fi
    ;;
*)
    echo "usage: $0 version PYTHON | python PYTHON | venv VENV" >&2
    exit 2
    ;;
esac
