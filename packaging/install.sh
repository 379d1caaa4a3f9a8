#!/bin/sh
# Install Driftless for this user from the unpacked download, or remove it again.
#
#   ./install.sh               copy the app to ~/.local/lib/driftless, the command to
#                              ~/.local/bin/driftless, and the menu entry, icons and AppStream
#                              file to ~/.local/share
#   ./install.sh --uninstall   remove all of that again (your data folder is kept)
#
#   PREFIX=/opt/local ./install.sh   installs under another prefix instead of ~/.local
#
# It needs nothing but this folder: the app, share/ (menu entry, icons, metainfo) and this
# script. Running it again updates an earlier install.
set -eu
HERE=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P)
APP_ID=io.driftless.Driftless
PREFIX=${PREFIX:-$HOME/.local}
LIBDIR=$PREFIX/lib/driftless
SHARE=$PREFIX/share

refresh_caches() {
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database -q "$SHARE/applications" 2>/dev/null || true
    fi
    if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$SHARE/icons/hicolor/index.theme" ]; then
        gtk-update-icon-cache -q -t "$SHARE/icons/hicolor" 2>/dev/null || true
    fi
}

# Only a folder that holds a Driftless build is ever deleted.
remove_app_folder() {
    if [ -d "$LIBDIR" ]; then
        if [ ! -d "$LIBDIR/_internal" ] || [ ! -f "$LIBDIR/driftless" ]; then
            echo "install.sh: $LIBDIR is not a Driftless folder; not touching it." >&2
            exit 1
        fi
        rm -rf "$LIBDIR"
    fi
}

if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$SHARE/applications/$APP_ID.desktop" "$SHARE/metainfo/$APP_ID.metainfo.xml"
    rm -f "$SHARE"/icons/hicolor/*/apps/"$APP_ID".png "$SHARE"/icons/hicolor/*/apps/"$APP_ID".svg
    if [ -L "$PREFIX/bin/driftless" ]; then rm -f "$PREFIX/bin/driftless"; fi
    remove_app_folder
    refresh_caches
    echo "Driftless removed from $PREFIX (your data folder is kept)."
    exit 0
elif [ $# -gt 0 ]; then
    echo "usage: $0 [--uninstall]" >&2
    exit 2
fi

if [ ! -x "$HERE/driftless" ] || [ ! -d "$HERE/share/applications" ]; then
    echo "install.sh: run it from the unpacked Driftless folder (driftless and share/ beside it)." >&2
    exit 1
fi
# Nothing is installed on a system whose glibc cannot run the app (one sentence says why).
sh "$HERE/glibc-check.sh" || exit 1

if [ "$HERE" != "$(cd -- "$LIBDIR" 2>/dev/null && pwd -P || echo -)" ]; then
    mkdir -p "$PREFIX/lib"
    # Copy beside, then swap, so a failed copy leaves an earlier install working.
    rm -rf "$LIBDIR.new"
    cp -RPp "$HERE" "$LIBDIR.new"
    remove_app_folder
    mv "$LIBDIR.new" "$LIBDIR"
fi

mkdir -p "$PREFIX/bin" "$SHARE/applications" "$SHARE/metainfo"
ln -sfn "$LIBDIR/driftless" "$PREFIX/bin/driftless"

# Menus do not always search ~/.local/bin: Exec names the executable itself, quoted as the
# desktop entry spec says (\ " ` $ escaped inside the quotes, then every \ doubled, % as %%),
# so a space or a quote in the path keeps the entry working.
exec_path=$(printf '%s' "$LIBDIR/driftless" | sed -e 's/[\\"`$]/\\&/g' -e 's/\\/\\\\/g' -e 's/%/%%/g')
while IFS= read -r line; do
    case $line in
        Exec=driftless*) printf 'Exec="%s"%s\n' "$exec_path" "${line#Exec=driftless}" ;;
        *) printf '%s\n' "$line" ;;
    esac
done <"$HERE/share/applications/$APP_ID.desktop" >"$SHARE/applications/$APP_ID.desktop"
cp "$HERE/share/metainfo/$APP_ID.metainfo.xml" "$SHARE/metainfo/"
for icon in "$HERE"/share/icons/hicolor/*/apps/"$APP_ID".*; do
    size=$(basename "$(dirname "$(dirname "$icon")")")
    mkdir -p "$SHARE/icons/hicolor/$size/apps"
    cp "$icon" "$SHARE/icons/hicolor/$size/apps/"
done
refresh_caches
echo "Driftless installed in $LIBDIR; it is in the applications menu as Driftless,"
echo "and '$PREFIX/bin/driftless' starts it from a terminal."
