#!/bin/sh
# Install the built app (dist/Driftless) for this user, with its menu entry, icon and
# AppStream metadata; or remove it again.
#
#   make package && sh packaging/install-linux.sh        # into ~/.local
#   sh packaging/install-linux.sh --uninstall
#   sudo PREFIX=/usr/local sh packaging/install-linux.sh # for everyone
#
# The data folder (~/.local/share/Driftless) is never touched.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
APP_ID=io.driftless.Driftless
PREFIX=${PREFIX:-$HOME/.local}
LIBDIR=$PREFIX/lib/driftless
SHARE=$PREFIX/share

if [ "${1:-}" = "--uninstall" ]; then
    rm -rf "$LIBDIR"
    rm -f "$PREFIX/bin/driftless" "$SHARE/applications/$APP_ID.desktop" \
        "$SHARE/metainfo/$APP_ID.metainfo.xml" "$SHARE/icons/hicolor/scalable/apps/$APP_ID.svg"
    rm -f "$SHARE"/icons/hicolor/*/apps/"$APP_ID.png"
    echo "Driftless removed from $PREFIX (your data folder is kept)."
    exit 0
fi

if [ ! -x "$ROOT/dist/Driftless/driftless" ]; then
    echo "No build in dist/Driftless: run 'make package' first." >&2
    exit 1
fi
rm -rf "$LIBDIR"
mkdir -p "$LIBDIR" "$PREFIX/bin" "$SHARE/applications" "$SHARE/metainfo" \
    "$SHARE/icons/hicolor/scalable/apps"
cp -R "$ROOT/dist/Driftless/." "$LIBDIR/"
ln -sf "$LIBDIR/driftless" "$PREFIX/bin/driftless"
# Menus do not always search ~/.local/bin: point the entry at the executable itself.
sed "s|^Exec=driftless|Exec=$LIBDIR/driftless|" "$HERE/$APP_ID.desktop" \
    >"$SHARE/applications/$APP_ID.desktop"
cp "$HERE/$APP_ID.metainfo.xml" "$SHARE/metainfo/"
cp "$ROOT/resources/icons/$APP_ID.svg" "$SHARE/icons/hicolor/scalable/apps/"
for dir in "$ROOT"/resources/icons/hicolor/*/apps; do
    size=$(basename "$(dirname "$dir")")
    mkdir -p "$SHARE/icons/hicolor/$size/apps"
    cp "$dir/$APP_ID.png" "$SHARE/icons/hicolor/$size/apps/"
done
command -v update-desktop-database >/dev/null 2>&1 \
    && update-desktop-database -q "$SHARE/applications" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 \
    && gtk-update-icon-cache -q -t "$SHARE/icons/hicolor" || true
echo "Driftless installed in $LIBDIR; it is in the applications menu as Driftless."
