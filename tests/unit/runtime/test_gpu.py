"""GPU offload's decisions, without a GPU: how many layers, why none, what is recorded.

The Vulkan path itself (the packaged app's libraries on Mesa's lavapipe) is in
tests/test_vulkan.py; these are the choices around it, on made-up devices.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.drift.environment import Environment
from app.core.drift.startup import describe_changes, runtime_changes
from app.core.runtime import gpu
from app.core.runtime.gpu import Device, Offload
from app.core.settings import Settings, SettingsError, gpu_layers_for, parse_gpu_layers

GB = 1_000_000_000
LAVAPIPE = Device(
    name="Vulkan0",
    description="llvmpipe (LLVM 15.0.6, 256 bits)",
    backend="Vulkan",
    kind="gpu",
    memory_free=16 * GB,
    memory_total=16 * GB,
    driver="llvmpipe",
)
RADEON = Device(
    name="Vulkan0",
    description="AMD Radeon 780M (RADV PHOENIX)",
    backend="Vulkan",
    kind="igpu",
    memory_free=2 * GB,
    memory_total=4 * GB,
    driver="radv",
)


@pytest.fixture(autouse=True)
def no_lost_gpu() -> Iterator[None]:
    yield
    gpu._lost = None


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("auto", "auto"), ("ALL", "all"), ("0", "0"), ("cpu", "0"), (" 12 ", "12"), (None, "auto")],
)
def test_gpu_layers_choices(given: str | None, canonical: str) -> None:
    assert parse_gpu_layers(given) == canonical


@pytest.mark.parametrize("bad", ["-1", "half", "1.5", ""])
def test_a_gpu_layers_choice_that_means_nothing_is_a_sentence(bad: str) -> None:
    with pytest.raises(ValueError, match="is not auto, all, 0"):
        parse_gpu_layers(bad)
    with pytest.raises(SettingsError, match="is not auto, all, 0"):
        Settings().with_changes(gpu_layers_per_model={"m": bad})


def test_a_model_s_own_choice_overrides_the_general_one() -> None:
    settings = Settings().with_changes(gpu_layers="all", gpu_layers_per_model={"big": "8"})
    assert gpu_layers_for(settings, "big") == "8"
    assert gpu_layers_for(settings, "small") == "all"


def test_how_many_layers_each_choice_offloads() -> None:
    args = {"block_count": 30, "file_size": 31 * 100_000_000, "context_bytes": 0}
    assert gpu.layers_for("all", device=RADEON, **args)[0] == 31, "and the output layer"
    assert gpu.layers_for("12", device=RADEON, **args)[0] == 12
    assert gpu.layers_for("99", device=RADEON, **args)[0] == 31
    assert gpu.layers_for("0", device=RADEON, **args)[0] == 0
    assert gpu.layers_for("all", device=None, **args)[0] == 0
    # auto: 2 GB free, less 256 MiB headroom, at 100 MB a layer
    layers, why = gpu.layers_for("auto", device=RADEON, **args)
    assert layers == (2 * GB - gpu.HEADROOM) // 100_000_000 == 17
    assert "17 of 31 layers fit" in why
    # the context is counted on the device first
    assert gpu.layers_for("auto", device=RADEON, **{**args, "context_bytes": GB})[0] == 7


def test_auto_never_offloads_to_a_software_device() -> None:
    layers, why = gpu.layers_for(
        "auto", block_count=30, file_size=100, context_bytes=0, device=LAVAPIPE
    )
    assert layers == 0 and "software device" in why
    assert (
        gpu.layers_for("all", block_count=30, file_size=100, context_bytes=0, device=LAVAPIPE)[0]
        == 31
    ), "asked for by name, it is used"


def test_the_device_lines_name_each_driver() -> None:
    lines = [
        "ggml_vulkan: Found 2 Vulkan devices:",
        "ggml_vulkan: 0 = llvmpipe (LLVM 15.0.6, 256 bits) (llvmpipe) | uma: 1 | fp16: 1 | "
        "bf16: 0 | warp size: 8 | shared memory: 32768 | int dot: 0 | matrix cores: none",
        "ggml_vulkan: 1 = AMD Radeon 780M (RADV PHOENIX) (radv) | uma: 1 | fp16: 1",
    ]
    assert gpu._drivers(lines) == {0: "llvmpipe", 1: "radv"}


@pytest.mark.parametrize(
    ("lines", "backends", "library", "expected"),
    [
        ([], ("CPU",), False, "this build of llama.cpp has no GPU backend"),
        (
            [
                "failed to load /app/llama_cpp/lib/libggml-vulkan.so: libvulkan.so.1: "
                "cannot open shared object file: No such file or directory"
            ],
            ("CPU",),
            True,
            "there is no Vulkan loader on this machine (libvulkan.so.1",
        ),
        (
            ["failed to initialize backend from /app/llama_cpp/lib/libggml-vulkan.so"],
            ("CPU",),
            True,
            "Vulkan backend could not start",
        ),
        (
            ["ggml_vulkan: No devices found."],
            ("Vulkan", "CPU"),
            True,
            "Vulkan found no GPU on this machine (software Vulkan devices such as Mesa's "
            "lavapipe are used only when named: GGML_VK_VISIBLE_DEVICES=0)",
        ),
    ],
)
def test_why_the_cpu_only(
    lines: list[str], backends: tuple[str, ...], library: bool, expected: str
) -> None:
    assert expected in gpu.cpu_only_reason(lines, backends, library)


def test_what_an_offload_records() -> None:
    on_gpu = Offload("Vulkan", LAVAPIPE.description, "llvmpipe", 31, 31, "Vulkan0")
    assert on_gpu.label() == (
        "Vulkan (llvmpipe (LLVM 15.0.6, 256 bits), driver llvmpipe): 31/31 layers"
    )
    assert on_gpu.backend_label() == "Vulkan (llvmpipe (LLVM 15.0.6, 256 bits), driver llvmpipe)"
    assert on_gpu.to_json() == {
        "backend": "Vulkan",
        "device": LAVAPIPE.description,
        "driver": "llvmpipe",
        "layers": 31,
        "total_layers": 31,
    }
    assert on_gpu.key == "Vulkan0:31" != Offload().key == "cpu"
    fell_back = Offload(
        note="The model could not be loaded on the GPU (...), so it runs on the CPU."
    )
    assert fell_back.label() == "CPU" and fell_back.layers_label() == "0"
    assert fell_back.to_json()["note"].startswith("The model could not be loaded on the GPU")
    assert fell_back.key == "cpu", "the note does not make other weights"


def test_a_lost_gpu_is_used_by_no_load_of_this_process() -> None:
    sentence = gpu.mark_lost("AMD Radeon 780M", "vk::DeviceLostError")
    assert sentence == (
        "The GPU (AMD Radeon 780M) stopped working (vk::DeviceLostError); models run on "
        "the CPU until Driftless is restarted."
    )
    found = gpu.discover(object())  # no library call: the answer is known
    assert found.devices == () and "stopped working" in found.cpu_only_reason
    assert gpu.expected_backend("all", object()) == "CPU"


def test_a_check_set_recorded_on_the_cpu_is_due_on_the_gpu() -> None:
    recorded = {"llama_cpp": "b1", "backend": "CPU", "gpu_layers": "0"}
    now = {"llama_cpp": "b1", "backend": "Vulkan (AMD Radeon 780M, driver radv)"}
    [change] = runtime_changes(recorded, now)
    assert change.part == "backend" and change.changes_answers
    assert change.sentence() == "backend (CPU, or GPU device and driver): CPU -> " + now["backend"]
    assert runtime_changes(recorded, now, last_checked=now) == [], "checked once"
    assert runtime_changes({"llama_cpp": "b1"}, now) == [], "an older recording: not known"
    layers = Environment({"gpu_layers": "0"}).differences(Environment({"gpu_layers": "31/31"}))
    assert [d.changes_answers for d in layers] == [True]


def test_the_status_line_names_the_backend_change(tmp_path: Path) -> None:
    from app.core.drift.startup import DueCheck

    recorded = {"backend": "CPU"}
    now = {"backend": "Vulkan (llvmpipe, driver llvmpipe)"}
    due = [DueCheck(None, None, tuple(runtime_changes(recorded, now)))]  # type: ignore[arg-type]
    assert describe_changes(due) == (
        "The runtime changed since the behaviour was recorded (the backend CPU -> "
        "Vulkan (llvmpipe, driver llvmpipe))"
    )


def test_the_packaged_apps_ctypes_does_not_hide_why_the_vulkan_library_failed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """PyInstaller's ctypes raises "not found when the application was frozen" from the
    system's error; the reason a user reads is the system's."""
    from app.core.runtime import llama

    class FrozenCDLL:
        def __init__(self, name: str) -> None:
            try:
                raise OSError("libvulkan.so.1: cannot open shared object file")
            except OSError as system:
                raise OSError(f"Failed to load dynlib/dll {name!r}. Most likely ...") from system

    monkeypatch.setattr(llama.ctypes, "CDLL", FrozenCDLL)
    why = llama._why_not_loaded(tmp_path / "libggml-vulkan.so")
    assert why.endswith("libggml-vulkan.so: libvulkan.so.1: cannot open shared object file")
    reason = gpu.cpu_only_reason([why], ("CPU",), gpu_library=True)
    assert reason.startswith("there is no Vulkan loader on this machine"), reason
