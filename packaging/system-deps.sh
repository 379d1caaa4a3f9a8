#!/bin/sh
# The system libraries Qt needs on Debian/Ubuntu, installed only when missing.
# Elsewhere (or without root and sudo) it prints what to install and carries on.
set -eu
PACKAGES="libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 \
libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 \
libxcb-render-util0 libxcb-image0 fonts-dejavu-core"

command -v dpkg-query >/dev/null 2>&1 || exit 0
missing=""
for pkg in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "Qt needs these system packages:$missing (install them with apt-get)." >&2
    exit 0
fi
echo "Installing Qt's system libraries:$missing" >&2
# A failure here is a warning: the tests run offscreen without the X11 libraries.
if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null; }; then
    echo "Warning: could not install$missing; the window may not open on X11." >&2
fi
