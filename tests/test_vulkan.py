"""The Vulkan path on Mesa's lavapipe: the packaged app's llama.cpp libraries, loaded by the
same code the bundle runs (app.core.runtime.llama), in a child process pointed at them
with ``LLAMA_CPP_LIB_PATH`` (the venv's own llama.cpp is CPU-only).

lavapipe is a software Vulkan device: llama.cpp skips it unless it is named
(``GGML_VK_VISIBLE_DEVICES=0``), which these tests do. They need the portable build with
its Vulkan backend (packaging/llama_libs.py, cached; glslc, libvulkan-dev and
spirv-headers at build time) and lavapipe (mesa-vulkan-drivers): packaging/system-deps.sh
installs all of them, so they are skipped, with the reason, only where it could not.

Each child loads llama.cpp and Vulkan afresh (a second or two) and the starter model. The
two that compute on lavapipe (a chat, a check) spend most of their time in its first
token: lavapipe compiles llama.cpp's compute pipelines through LLVM as they are first
used, 50 CPU-seconds for the starter (2.5 minutes on a busy two-core machine).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAVAPIPE_ICD = Path("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json")
VULKAN = "libggml-vulkan.so"

pytestmark = pytest.mark.slow


def llama_libs() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "driftless_llama_libs", ROOT / "packaging" / "llama_libs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def vulkan_libs() -> Path:
    """The portable llama.cpp with its Vulkan backend (built once, then cached)."""
    libs = llama_libs()
    if not libs.supported():
        pytest.skip("the portable llama.cpp is built on Linux x86-64 only")
    toolchain, why = libs.vulkan_toolchain()
    if toolchain is None:
        pytest.skip(f"no Vulkan build here: {why}")
    if not LAVAPIPE_ICD.is_file():
        pytest.skip("Mesa's lavapipe is not installed (mesa-vulkan-drivers)")
    folder: Path = libs.ensure()
    assert (folder / VULKAN).is_file(), f"the Vulkan build made no {VULKAN} in {folder}"
    return folder


def run_app(
    libs: Path, home: Path, *args: str, lavapipe: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    """``python -m app ARGS`` on the portable libraries, offline, in data folder ``home``."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GGML_VK_", "VK_", "LLAMA_CPP_"))
    }
    environment.update(
        LLAMA_CPP_LIB_PATH=str(libs),
        DRIFTLESS_HOME=str(home),
        HF_ENDPOINT="http://127.0.0.1:9",
        PYTHONPATH=str(ROOT),
    )
    if lavapipe:
        environment["GGML_VK_VISIBLE_DEVICES"] = "0"
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def log_text(home: Path) -> str:
    return (home / "logs" / "driftless.log").read_text(encoding="utf-8", errors="replace")


def test_lavapipe_is_listed_with_its_driver_and_memory(vulkan_libs: Path, tmp_path: Path) -> None:
    done = run_app(vulkan_libs, tmp_path / "h", "models", "devices", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert "Vulkan" in found["backends"] and found["cpu_only_reason"] is None
    [device] = found["devices"]
    assert device["name"] == "Vulkan0" and device["backend"] == "Vulkan"
    assert device["description"].startswith("llvmpipe")
    assert device["driver"] == "llvmpipe" and device["software"] is True
    assert 0 < device["memory_free"] <= device["memory_total"]
    assert found["cpu_kernels"] in llama_libs().VARIANTS
    version = run_app(vulkan_libs, tmp_path / "h", "--version")
    assert "GPU Vulkan0: llvmpipe" in version.stdout, version.stdout


def test_chat_offloads_every_layer_and_names_vulkan(vulkan_libs: Path, tmp_path: Path) -> None:
    home = tmp_path / "h"
    args = ("chat", "--no-save", "--stats", "--temperature", "0", "--max-tokens", "2")
    done = run_app(vulkan_libs, home, *args, "--gpu-layers", "all", "What is 7 times 8?")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "a reply"
    stats = json.loads(done.stderr.strip().splitlines()[-1])
    assert stats["backend"].startswith("Vulkan (llvmpipe"), stats
    assert stats["backend"].endswith("driver llvmpipe): 31/31 layers"), stats
    assert "Running on Vulkan (llvmpipe" in done.stderr
    # auto keeps to the CPU on a software device; so does 0
    auto = run_app(vulkan_libs, home, *args, "What is 7 times 8?")
    assert json.loads(auto.stderr.strip().splitlines()[-1])["backend"] == "CPU", auto.stderr


def test_without_a_vulkan_loader_the_same_libraries_answer_on_the_cpu(
    vulkan_libs: Path, tmp_path: Path
) -> None:
    """A machine with no libvulkan.so.1: the Vulkan library cannot be opened. Simulated on
    a copy whose libggml-vulkan.so needs libvulkan.so.9, a loader that does not exist."""
    libs = tmp_path / "libs"
    shutil.copytree(vulkan_libs, libs, symlinks=True)
    vulkan = libs / VULKAN
    data = vulkan.read_bytes()
    assert data.count(b"libvulkan.so.1\0") == 1
    vulkan.write_bytes(data.replace(b"libvulkan.so.1\0", b"libvulkan.so.9\0"))
    home = tmp_path / "h"
    version = run_app(libs, home, "--version")
    assert "GPU: none (there is no Vulkan loader on this machine (libvulkan.so.1" in (
        version.stdout
    ), version.stdout
    args = ("chat", "--no-save", "--stats", "--temperature", "0", "--max-tokens", "2")
    done = run_app(libs, home, *args, "--gpu-layers", "all", "What is 7 times 8?")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert json.loads(done.stderr.strip().splitlines()[-1])["backend"] == "CPU"
    assert "Note: No GPU is used: there is no Vulkan loader on this machine" in done.stderr
    log = log_text(home)
    said = [line for line in log.splitlines() if "CPU only: there is no Vulkan loader" in line]
    assert len(said) == 1, "said once (--version prints it and logs nothing)"


def test_a_loader_without_a_device_is_a_sentence_and_the_cpu(
    vulkan_libs: Path, tmp_path: Path
) -> None:
    no_driver = {"VK_ICD_FILENAMES": str(tmp_path / "none.json")}
    found = run_app(vulkan_libs, tmp_path / "h", "models", "devices", "--json", **no_driver)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["devices"] == []
    reason = json.loads(found.stdout)["cpu_only_reason"]
    assert "Vulkan backend could not start" in reason or "Vulkan found no GPU" in reason
    # lavapipe there but not named: llama.cpp skips a software device, and says how
    skipped = run_app(vulkan_libs, tmp_path / "h", "models", "devices", "--json", lavapipe=False)
    assert "GGML_VK_VISIBLE_DEVICES=0" in json.loads(skipped.stdout)["cpu_only_reason"]
    args = ("chat", "--no-save", "--stats", "--temperature", "0", "--max-tokens", "2")
    done = run_app(vulkan_libs, tmp_path / "h", *args, "--gpu-layers", "all", "Hi", **no_driver)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr.strip().splitlines()[-1])["backend"] == "CPU"


def test_a_check_set_recorded_on_the_cpu_reports_the_backend_change_on_vulkan(
    vulkan_libs: Path, tmp_path: Path
) -> None:
    home = tmp_path / "h"
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        '{"prompt": "What is the capital of France?"}\n',
        encoding="utf-8",
    )
    record = run_app(
        vulkan_libs,
        home,
        "drift",
        "record",
        "gpu-check",
        "--prompts",
        str(prompts),
        "--max-tokens",
        "3",
        "--gpu-layers",
        "0",
    )
    assert record.returncode == 0, record.stderr
    check = run_app(
        vulkan_libs, home, "drift", "check", "gpu-check", "--json", "--gpu-layers", "all"
    )
    assert check.returncode in (0, 1) and check.stdout.strip(), check.stderr  # 1: answers moved
    report = json.loads(check.stdout)
    changed = {d["part"]: d for d in report["environment"]}
    assert changed["backend"]["before"] == "CPU"
    assert changed["backend"]["after"].startswith("Vulkan (llvmpipe")
    assert changed["gpu_layers"]["before"] == "0" and changed["gpu_layers"]["after"] == "31/31"
