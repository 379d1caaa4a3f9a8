"""GPU devices: which llama.cpp found, how many layers go to one, and what a load ran on.

The packaged app's llama.cpp (packaging/llama_libs.py) carries its Vulkan backend as one
more dynamically loaded library, ``libggml-vulkan.so``, loaded at run time beside the CPU
kernels (:func:`app.core.runtime.llama.import_llama_cpp`). It needs the system's Vulkan
loader (``libvulkan.so.1``) and a Vulkan driver; where either is missing the app runs on
the CPU and :func:`discover` says why, once, in the log. A developer's venv is built
CPU-only: it has no GPU backend at all.

llama.cpp skips software Vulkan devices (Mesa's lavapipe, "llvmpipe") unless they are
named in ``GGML_VK_VISIBLE_DEVICES`` (``GGML_VK_VISIBLE_DEVICES=0``): on a real machine
they are slower than its CPU kernels. Tests and the measurements in the README name it.

The device list comes from ggml's backend device API, through the same loaded library
(``ggml_backend_dev_*``); the driver's name from the line the Vulkan backend logs for
each device it uses. :class:`Offload` is what a loaded model records: backend, device,
driver and the layers on it, for replies' provenance, the API's headers and check sets.
"""

from __future__ import annotations

import ctypes
import logging
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger(__name__)

DEVICE_TYPES = {0: "cpu", 1: "gpu", 2: "igpu", 3: "accel", 4: "meta"}
SOFTWARE_DEVICES_HINT = (
    "software Vulkan devices such as Mesa's lavapipe are used only when named: "
    "GGML_VK_VISIBLE_DEVICES=0"
)
_VULKAN_DEVICE_LINE = re.compile(r"^ggml_vulkan: (\d+) = (.*) \(([^()]*)\) \| uma: (\d)")


@dataclass(frozen=True)
class Device:
    """One device llama.cpp can offload to (never the CPU itself)."""

    name: str
    """ggml's name for it: ``Vulkan0``."""
    description: str
    """What the driver calls it: ``llvmpipe (LLVM 15.0.6, 256 bits)``, ``AMD Radeon 780M``."""
    backend: str
    """``Vulkan``."""
    kind: str
    """``gpu`` (own memory) or ``igpu`` (shares the computer's)."""
    memory_free: int
    memory_total: int
    driver: str = ""
    """The Vulkan driver's name (``llvmpipe``, ``radv``, ``NVIDIA``), when it said."""

    @property
    def software(self) -> bool:
        """A device that is the CPU underneath (lavapipe): correct, never faster."""
        return self.driver.lower() in ("llvmpipe", "lavapipe", "swiftshader")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "software": self.software}


@dataclass(frozen=True)
class Backends:
    """What this process's llama.cpp can run on besides the CPU, and why not when nothing."""

    devices: tuple[Device, ...]
    cpu_only_reason: str
    """Why no device is used ("" when one is): one sentence."""
    loaded: tuple[str, ...] = ()
    """The backends registered: ``CPU``, ``Vulkan``."""

    @property
    def summary(self) -> str:
        if self.devices:
            names = "; ".join(f"{d.name}: {d.description}" for d in self.devices)
            return f"GPU offload available ({names})"
        return f"CPU only: {self.cpu_only_reason}"

    def to_json(self) -> dict[str, Any]:
        return {
            "devices": [d.to_json() for d in self.devices],
            "backends": list(self.loaded),
            "cpu_only_reason": self.cpu_only_reason or None,
        }


@dataclass(frozen=True)
class Offload:
    """What a model's weights run on, as provenance records it."""

    backend: str = "CPU"
    """``CPU`` or the GPU backend's name (``Vulkan``)."""
    device: str = ""
    """The device's description; empty on the CPU."""
    driver: str = ""
    layers: int = 0
    """Layers offloaded (the output layer counts as one, as llama.cpp counts)."""
    total_layers: int = 0
    device_name: str = ""
    """ggml's name for the device (``Vulkan0``)."""
    note: str = field(default="", compare=False)
    """Why the model runs on the CPU although a GPU was asked for (a failed GPU load)."""

    @property
    def on_gpu(self) -> bool:
        return self.backend != "CPU" and self.layers > 0

    @property
    def key(self) -> str:
        """What makes two loads of one file the same weights: where they were put."""
        if not self.on_gpu:
            return "cpu"
        return f"{self.device_name or self.backend}:{self.layers}"

    def label(self) -> str:
        """``CPU``, ``Vulkan (llvmpipe (LLVM 15.0.6, 256 bits), driver llvmpipe): 31/31
        layers``."""
        if not self.on_gpu:
            return "CPU"
        return f"{self.backend_label()}: {self.layers}/{self.total_layers} layers"

    def backend_label(self) -> str:
        """The backend and device without the layer count: ``CPU``, ``Vulkan (llvmpipe
        (LLVM 15.0.6, 256 bits), driver llvmpipe)``; a check set's ``backend`` part."""
        if not self.on_gpu:
            return "CPU"
        driver = f", driver {self.driver}" if self.driver else ""
        return f"{self.backend} ({self.device}{driver})"

    def layers_label(self) -> str:
        """``0`` on the CPU, ``31/31`` offloaded: a check set's ``gpu_layers`` part."""
        return f"{self.layers}/{self.total_layers}" if self.on_gpu else "0"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"backend": self.backend}
        if self.on_gpu:
            data.update(
                device=self.device,
                driver=self.driver,
                layers=self.layers,
                total_layers=self.total_layers,
            )
        if self.note:
            data["note"] = self.note
        return data


CPU = Offload()


# --- discovery, on the loaded library ----------------------------------------------------

_state_lock = threading.Lock()
_load_lines: list[str] = []
_backends: Backends | None = None
_said = False
_lost: str | None = None


def mark_lost(device: str, reason: str) -> str:
    """The GPU failed while in use (a driver reset, a device that vanished): no load of this
    process offloads again. Returns the sentence, which is also logged once."""
    global _lost
    sentence = (
        f"The GPU ({device}) stopped working ({reason.rstrip('.')}); "
        "models run on the CPU until Driftless is restarted."
    )
    with _state_lock:
        first = _lost is None
        _lost = sentence
    if first:
        log.warning("%s", sentence)
    return sentence


def lost() -> str | None:
    """The sentence of :func:`mark_lost`, once a GPU failed in this process."""
    return _lost


def note_load_log(lines: list[str]) -> None:
    """What ggml logged while its backends were loaded (called by the loading code)."""
    global _backends
    with _state_lock:
        _load_lines[:] = lines
        _backends = None


def _bind(lib: Any) -> Any:
    """ggml's device functions, typed, through llama_cpp's library handle."""
    lib.ggml_backend_dev_count.restype = ctypes.c_size_t
    lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
    lib.ggml_backend_dev_get.restype = ctypes.c_void_p
    for name in ("ggml_backend_dev_name", "ggml_backend_dev_description"):
        getattr(lib, name).argtypes = [ctypes.c_void_p]
        getattr(lib, name).restype = ctypes.c_char_p
    lib.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
    lib.ggml_backend_dev_type.restype = ctypes.c_int
    lib.ggml_backend_dev_memory.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_size_t),
        ctypes.POINTER(ctypes.c_size_t),
    ]
    lib.ggml_backend_dev_memory.restype = None
    lib.ggml_backend_dev_backend_reg.argtypes = [ctypes.c_void_p]
    lib.ggml_backend_dev_backend_reg.restype = ctypes.c_void_p
    lib.ggml_backend_reg_name.argtypes = [ctypes.c_void_p]
    lib.ggml_backend_reg_name.restype = ctypes.c_char_p
    lib.ggml_backend_reg_count.restype = ctypes.c_size_t
    lib.ggml_backend_reg_get.argtypes = [ctypes.c_size_t]
    lib.ggml_backend_reg_get.restype = ctypes.c_void_p
    return lib


def _text(value: bytes | None) -> str:
    return (value or b"").decode("utf-8", "replace")


def _drivers(lines: list[str]) -> dict[int, str]:
    found = {}
    for line in lines:
        if match := _VULKAN_DEVICE_LINE.match(line.strip()):
            found[int(match.group(1))] = match.group(3)
    return found


def list_devices(llama: Any) -> tuple[tuple[Device, ...], tuple[str, ...]]:
    """The offload devices ggml registered, with their memory now, and the backends."""
    lib = _bind(llama.llama_cpp._lib)
    with _state_lock:
        drivers = _drivers(_load_lines)
    backends = tuple(
        _text(lib.ggml_backend_reg_name(lib.ggml_backend_reg_get(i)))
        for i in range(lib.ggml_backend_reg_count())
    )
    devices = []
    for i in range(lib.ggml_backend_dev_count()):
        dev = lib.ggml_backend_dev_get(i)
        kind = DEVICE_TYPES.get(lib.ggml_backend_dev_type(dev), "other")
        if kind not in ("gpu", "igpu"):
            continue
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        lib.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
        name = _text(lib.ggml_backend_dev_name(dev))
        backend = _text(lib.ggml_backend_reg_name(lib.ggml_backend_dev_backend_reg(dev)))
        number = re.search(r"(\d+)$", name)
        driver = drivers.get(int(number.group(1)), "") if number and backend == "Vulkan" else ""
        devices.append(
            Device(
                name=name,
                description=_text(lib.ggml_backend_dev_description(dev)),
                backend=backend,
                kind=kind,
                memory_free=int(free.value),
                memory_total=int(total.value),
                driver=driver,
            )
        )
    return tuple(devices), backends


def cpu_only_reason(lines: list[str], backends: tuple[str, ...], gpu_library: bool) -> str:
    """Why no GPU device is used, from what loading the backends logged."""
    text = "\n".join(lines)
    if not gpu_library:
        return "this build of llama.cpp has no GPU backend (the packaged app has Vulkan)"
    failed = re.search(r"failed to load \S*libggml-vulkan\S*: (.*)", text)
    if failed:
        why = failed.group(1).strip()
        if "libvulkan" in why:
            return (
                "there is no Vulkan loader on this machine (libvulkan.so.1: install the "
                "graphics driver's Vulkan support, on Debian and Ubuntu libvulkan1 and "
                f"mesa-vulkan-drivers); {why}"
            )
        return f"llama.cpp's Vulkan backend could not be loaded: {why}"
    if "Vulkan" not in backends:
        return "llama.cpp's Vulkan backend could not start (no usable Vulkan driver)"
    if "ggml_vulkan: No devices found" in text:
        return f"Vulkan found no GPU on this machine ({SOFTWARE_DEVICES_HINT})"
    return "no GPU device was found"


def discover(llama: Any | None = None, *, refresh: bool = False) -> Backends:
    """The devices and backends of this process's llama.cpp (imported if need be).

    The first call says in the log, once, whether a GPU is used and why not.
    """
    global _backends, _said
    if llama is None:
        from app.core.runtime.llama import import_llama_cpp

        llama = import_llama_cpp()
    with _state_lock:
        if _lost is not None:
            return Backends((), _lost.removesuffix("."), ())
        if _backends is not None and not refresh:
            return _backends
        lines = list(_load_lines)
    from app.core.runtime.llama import gpu_library_present

    devices, backends = list_devices(llama)
    reason = "" if devices else cpu_only_reason(lines, backends, gpu_library_present())
    found = Backends(devices, reason, backends)
    with _state_lock:
        _backends = found
        if not _said:
            _said = True
            log.info("llama.cpp: %s", found.summary)
    return found


def device_named(name: str, llama: Any | None = None) -> Device | None:
    """The device called ``name`` (``Vulkan0``) with its free memory now, or None."""
    for device in discover(llama, refresh=True).devices:
        if device.name == name:
            return device
    return None


# --- how many layers ---------------------------------------------------------------------

AUTO = "auto"
ALL = "all"
HEADROOM = 256 * 1024 * 1024
"""Device memory left free by "auto": the driver's own, the compute buffers' growth."""


def layers_for(
    choice: str,
    *,
    block_count: int,
    file_size: int,
    context_bytes: int,
    device: Device | None,
) -> tuple[int, str]:
    """How many layers to offload for ``choice`` and why, in a few words.

    A model has ``block_count`` repeating layers and an output layer; llama.cpp offloads
    the last n of those ``block_count + 1``. "auto" offloads what fits the device's free
    memory after the context (counted on the device too) and some headroom, and nothing
    to a software device (lavapipe computes on the CPU, more slowly than the CPU kernels).
    """
    total = block_count + 1
    if device is None or choice == "0":
        return 0, "no GPU" if device is None else "GPU layers 0"
    if choice == ALL:
        return total, "all layers asked for"
    if choice != AUTO:
        return min(int(choice), total), f"{choice} layers asked for"
    if device.software:
        return 0, f"auto: {device.description} is a software device, slower than the CPU"
    per_layer = max(1, file_size // total)
    room = device.memory_free - context_bytes - HEADROOM
    layers = max(0, min(total, room // per_layer))
    return int(layers), f"auto: {layers} of {total} layers fit the device's free memory"


def expected_backend(choice: str, llama: Any | None = None) -> str:
    """The ``backend`` part a load with the "GPU layers" ``choice`` would record now, without
    loading anything (checks at start compare it with a recording's): ``CPU`` or the
    device that would be used. "auto" counts as the GPU unless it is a software device."""
    if choice == "0":
        return "CPU"
    found = discover(llama)
    if not found.devices:
        return "CPU"
    device = max(found.devices, key=lambda d: d.memory_free)
    if choice == AUTO and device.software:
        return "CPU"
    return Offload(
        backend=device.backend, device=device.description, driver=device.driver, layers=1
    ).backend_label()
