"""The oldest glibc the packaged app runs on, checked in every ELF file of the bundle.

    python packaging/glibc_floor.py dist/Driftless     # exit 1 if a file needs more

A Linux binary names the symbol versions it needs from each library in its
``.gnu.version_r`` section: ``arc4random`` from ``libc.so.6`` at ``GLIBC_2.36``, say.
The loader refuses to start a program when the system's glibc lacks one of them, so the
highest ``GLIBC_x.y`` over the bundle is the oldest system it starts on. The sections
are read here directly (ELF64, little-endian, as on x86-64 and arm64), so the check needs
neither binutils nor a package from PyPI.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Ubuntu 22.04, Debian 12, Mint 21, Fedora 36 and later. Not RHEL 9 (2.34): the
# bundled libpython already needs 2.35.
GLIBC_FLOOR = (2, 35)

ELF_MAGIC = b"\x7fELF"
SHT_DYNSYM = 11
SHT_GNU_VERNEED = 0x6FFFFFFE
SHT_GNU_VERSYM = 0x6FFFFFFF


@dataclass(frozen=True)
class Need:
    """One versioned dependency of one file: ``libc.so.6`` ``GLIBC_2.36`` (``arc4random``)."""

    library: str
    version: str
    symbols: tuple[str, ...]

    def numbered(self, namespace: str) -> tuple[int, ...] | None:
        """(3, 4, 30) for GLIBCXX_3.4.30 in namespace "GLIBCXX"; None for another one."""
        prefix, _, number = self.version.rpartition("_")
        if prefix != namespace:
            return None
        try:
            return tuple(int(part) for part in number.split("."))
        except ValueError:  # GLIBC_PRIVATE
            return None

    @property
    def glibc(self) -> tuple[int, ...] | None:
        """(2, 36) for GLIBC_2.36; None for other namespaces (GLIBCXX_, GCC_, ...)."""
        return self.numbered("GLIBC")


def _c_string(data: bytes, offset: int) -> str:
    end = data.index(b"\0", offset)
    return data[offset:end].decode("utf-8", "replace")


def is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == ELF_MAGIC
    except OSError:
        return False


def version_needs(path: Path) -> list[Need]:
    """The symbol versions an ELF file needs, each with the symbols that use it."""
    data = path.read_bytes()
    if data[:4] != ELF_MAGIC:
        raise ValueError(f"{path} is not an ELF file")
    if data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path}: only 64-bit little-endian ELF files are read")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = []
    for index in range(shnum):
        fields = struct.unpack_from("<IIQQQQIIQQ", data, shoff + index * shentsize)
        sections.append(fields)  # name, type, flags, addr, offset, size, link, info, align, entsize

    def body(section: tuple[int, ...]) -> bytes:
        return data[section[4] : section[4] + section[5]]

    verneed = next((s for s in sections if s[1] == SHT_GNU_VERNEED), None)
    if verneed is None:
        return []
    strings = body(sections[verneed[6]])
    by_index: dict[int, tuple[str, str]] = {}  # version index -> (library, version)
    table, offset = body(verneed), 0
    for _ in range(verneed[7]):  # sh_info: the number of Verneed entries
        _, count, file_name, aux, following = struct.unpack_from("<HHIII", table, offset)
        library = _c_string(strings, file_name)
        aux_offset = offset + aux
        for _ in range(count):
            _, _, other, name, next_aux = struct.unpack_from("<IHHII", table, aux_offset)
            by_index[other] = (library, _c_string(strings, name))
            aux_offset += next_aux
        if not following:
            break
        offset += following

    users: dict[int, list[str]] = {index: [] for index in by_index}
    versym = next((s for s in sections if s[1] == SHT_GNU_VERSYM), None)
    dynsym = next((s for s in sections if s[1] == SHT_DYNSYM), None)
    if versym is not None and dynsym is not None:
        symbol_names = body(sections[dynsym[6]])
        symbols, indexes = body(dynsym), body(versym)
        for number in range(len(indexes) // 2):
            index = struct.unpack_from("<H", indexes, number * 2)[0] & 0x7FFF
            if index in users:
                name_offset = struct.unpack_from("<I", symbols, number * 24)[0]
                users[index].append(_c_string(symbol_names, name_offset))
    return [
        Need(library, version, tuple(sorted(users[index])))
        for index, (library, version) in sorted(by_index.items())
    ]


def elf_files(folder: Path) -> Iterator[Path]:
    """Every ELF file under ``folder`` (symbolic links are skipped: their target is seen)."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and is_elf(path):
            yield path


def format_version(version: Iterable[int]) -> str:
    return ".".join(str(part) for part in version)


def highest_glibc(folder: Path, namespace: str = "GLIBC") -> tuple[tuple[int, ...], Path | None]:
    """The highest version of ``namespace`` any file needs, and the first file needing it."""
    best: tuple[int, ...] = (0,)
    where: Path | None = None
    for path in elf_files(folder):
        for need in version_needs(path):
            version = need.numbered(namespace)
            if version is not None and version > best:
                best, where = version, path
    return best, where


def violations(folder: Path, floor: tuple[int, ...] = GLIBC_FLOOR) -> list[str]:
    """One sentence per file and symbol version above the floor; empty when all is well."""
    problems = []
    for path in elf_files(folder):
        for need in version_needs(path):
            if need.glibc is not None and need.glibc > floor:
                symbols = ", ".join(need.symbols) or "no named symbol"
                problems.append(
                    f"{path.relative_to(folder)} needs {need.version} from {need.library} "
                    f"({symbols}): above the floor of glibc {format_version(floor)}"
                )
    return problems


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else Path("dist/Driftless")
    problems = violations(folder)
    for problem in problems:
        print(f"glibc floor: {problem}", file=sys.stderr)
    for namespace in ("GLIBC", "GLIBCXX"):
        highest, where = highest_glibc(folder, namespace)
        print(
            f"glibc floor: the bundle needs {namespace}_{format_version(highest)} at most "
            f"({where.relative_to(folder) if where else 'nothing'})",
            file=sys.stderr,
        )
    print(f"glibc floor: {format_version(GLIBC_FLOOR)}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
