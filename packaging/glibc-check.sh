#!/bin/sh
# Is this system's glibc new enough for the bundled app? Run by the download's launcher
# (./driftless) before the app, and by install.sh before it copies anything: a system
# that is too old gets one sentence instead of "GLIBC_2.35 not found" from the loader.
# Exit 0 when it is; 1, with the sentence on stderr, when it is not or cannot be told.
# NEED is the floor (packaging/glibc_floor.py); dist.py writes the build's own need in.
NEED=2.35
# `getconf GNU_LIBC_VERSION` says "glibc 2.36"; ldd's first line ends in the version.
have=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed -n 's/^glibc \([0-9][0-9.]*\).*/\1/p')
if [ -z "$have" ]; then
    have=$(ldd --version 2>/dev/null | sed -n '1s/.* \([0-9][0-9]*\.[0-9][0-9]*\)[^ ]*$/\1/p')
fi
if [ -z "$have" ]; then
    echo "Driftless needs glibc $NEED or newer (Ubuntu 22.04, Debian 12, Fedora 36 and later), and this system's C library is not glibc or could not be identified." >&2
    exit 1
fi
major() { echo "${1%%.*}"; }
minor() { rest=${1#*.}; echo "${rest%%.*}"; }
if [ "$(major "$have")" -lt "$(major "$NEED")" ] ||
    { [ "$(major "$have")" -eq "$(major "$NEED")" ] && [ "$(minor "$have")" -lt "$(minor "$NEED")" ]; }; then
    echo "Driftless needs glibc $NEED or newer (Ubuntu 22.04, Debian 12, Fedora 36 and later), and this system has glibc $have." >&2
    exit 1
fi
