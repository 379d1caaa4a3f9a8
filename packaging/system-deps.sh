#!/bin/sh
# What `make setup` needs from the system: Qt's libraries (for the window on X11/Wayland),
# a C/C++ compiler and cmake (llama-cpp-python compiles from source) and Python's venv module; on
# Debian/Ubuntu also what `make dist` and its tests use (readelf, desktop-file-validate,
# appstreamcli).
#
# On Debian/Ubuntu (dpkg and apt) it installs what is missing, with sudo when not root.
# Elsewhere it names the packages for Fedora, Arch or openSUSE and installs nothing.
# Exit status 0: everything is there (or installed); 1: something is missing, said above,
# and `make` then does not mark the set-up done, so the next run tries again.
set -eu
PYTHON=${PYTHON:-python3.11}
DEBIAN="libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 \
libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 \
libxcb-render-util0 libxcb-image0 fonts-dejavu-core fonts-wqy-microhei \
cmake ninja-build libpython3.11 binutils desktop-file-utils appstream \
glslc libvulkan-dev spirv-headers mesa-vulkan-drivers"
# (fonts-wqy-microhei draws Chinese, Japanese and Korean text, which DejaVu lacks: label
# names and messages in those scripts would otherwise be empty boxes; cmake and ninja build
# the packaged app's portable llama.cpp libraries (packaging/llama_libs.py), for `make test`
# and `make package`; libpython3.11 is the shared library PyInstaller bundles (`make
# package`); binutils, desktop-file-utils and appstream for `make dist` and its tests:
# readelf, and the desktop file checkers; glslc, libvulkan-dev and spirv-headers build
# llama.cpp's Vulkan backend into those libraries (without them they are CPU-only), and
# mesa-vulkan-drivers brings lavapipe, the software Vulkan device its tests run on)
FEDORA="mesa-libEGL mesa-libGL libxkbcommon-x11 fontconfig dbus-libs xcb-util-cursor \
xcb-util-wm xcb-util-keysyms xcb-util-renderutil xcb-util-image dejavu-sans-fonts \
google-noto-sans-cjk-fonts gcc-c++ cmake ninja-build \
python3.11 glslc vulkan-loader-devel spirv-headers-devel mesa-vulkan-drivers"
ARCH="libglvnd libxkbcommon-x11 fontconfig dbus xcb-util-cursor xcb-util-wm xcb-util-keysyms \
xcb-util-renderutil xcb-util-image ttf-dejavu noto-fonts-cjk base-devel cmake ninja \
shaderc vulkan-headers vulkan-icd-loader spirv-headers vulkan-swrast"
OPENSUSE="libEGL1 libGL1 libxkbcommon-x11-0 fontconfig libdbus-1-3 libxcb-cursor0 \
libxcb-icccm4 libxcb-keysyms1 libxcb-render-util0 libxcb-image0 dejavu-fonts \
noto-sans-cjk-fonts gcc-c++ cmake ninja python311 shaderc vulkan-devel spirv-headers \
libvulkan_lvp"

compiler_missing() {
    ! { command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || command -v clang >/dev/null 2>&1; } ||
        ! { command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || command -v clang++ >/dev/null 2>&1; }
}

venv_missing() {
    ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1
}

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    family=""
    release=${OS_RELEASE:-/etc/os-release}
    if [ -r "$release" ]; then
        family=$(. "$release" && echo "${ID:-} ${ID_LIKE:-}")
    fi
    case " $family " in
    *" fedora "* | *" rhel "* | *" centos "*) hint="sudo dnf install $FEDORA" ;;
    *" arch "*) hint="sudo pacman -S --needed $ARCH" ;;
    *" suse "* | *" opensuse "*) hint="sudo zypper install $OPENSUSE" ;;
    *) hint="" ;;
    esac
    echo "system-deps: this is not a Debian/Ubuntu system (no dpkg and apt), so nothing is installed here." >&2
    if [ -n "$hint" ]; then
        echo "system-deps: Qt's libraries, a C/C++ compiler and Python 3.11 come from: $hint" >&2
    else
        echo "system-deps: install the equivalents of these Debian packages: $DEBIAN build-essential python3.11-venv" >&2
    fi
    status=0
    if compiler_missing; then
        echo "system-deps: no C/C++ compiler (cc and c++) found; llama-cpp-python cannot be built." >&2
        status=1
    fi
    if venv_missing; then
        echo "system-deps: $PYTHON has no venv module." >&2
        status=1
    fi
    exit $status
fi

missing=""
for pkg in $DEBIAN; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if compiler_missing; then missing="$missing build-essential"; fi
if venv_missing; then
    # python3.11-venv where the system's Python is 3.11 (pyenv's and others' carry venv)
    missing="$missing python3.11-venv"
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "system-deps: these system packages are missing:$missing (install them with apt-get as root)." >&2
    exit 1
fi
echo "system-deps: installing$missing" >&2
if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null; }; then
    echo "system-deps: could not install$missing; the window may not open on X11, and the set-up is not marked done." >&2
    exit 1
fi
