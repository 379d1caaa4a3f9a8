#!/bin/sh
# ./driftless in the download: checks the system's glibc first (glibc-check.sh), then runs
# the app (driftless-app beside it) with the same arguments. Also the command that
# install.sh links into ~/.local/bin, so the link is followed to find the folder.
HERE=$(dirname -- "$(readlink -f -- "$0")")
sh "$HERE/glibc-check.sh" || exit 1
exec "$HERE/driftless-app" "$@"
