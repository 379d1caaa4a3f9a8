"""A labelled retrieval set the tests build themselves: Python's own module documentation.

Each module's page is rendered by ``pydoc`` (plain text) into ``NAME.txt``; its head (the
name and description, up to ``chars`` characters, without the boilerplate link section)
is kept, so a set indexes in minutes on the starter. ``QUESTIONS`` are paraphrases, written
for this set, that avoid the module's name; the right answer is the module's file.
``DISTRACTORS`` are documented too, with no question of their own.
"""

from __future__ import annotations

import importlib
import pydoc
import re
from pathlib import Path

QUESTIONS: dict[str, str] = {
    "hashlib": "How can I compute a secure message digest of some bytes?",
    "json": "Turn a dictionary into text for a web service and parse such text back",
    "csv": "Reading and writing rows of comma separated spreadsheet files",
    "shutil": "Copy a whole directory tree or move files at a high level",
    "tempfile": "Make a scratch file or folder that is cleaned up automatically",
    "heapq": "A priority queue where the smallest item always comes out first",
    "bisect": "Insert into a sorted list while keeping it in order",
    "textwrap": "Wrap a long paragraph so each line fits a given width",
    "difflib": "Compare two sequences of lines and show what changed",
    "zlib": "Compress bytes with the deflate algorithm",
    "base64": "Encode binary data as printable ASCII characters",
    "fractions": "Exact arithmetic on rational numbers such as one third",
    "decimal": "Decimal arithmetic for money without binary rounding surprises",
    "statistics": "The mean, median and standard deviation of numeric data",
    "random": "Pseudo-random numbers, picking a random element, shuffling",
    "glob": "List every file name matching a pattern like *.txt",
    "fnmatch": "Match a file name against shell-style wildcards",
    "getpass": "Ask the user for a password without echoing what they type",
    "pprint": "Print nested data structures indented so they are readable",
    "timeit": "Measure how long a small snippet of code takes to run",
    "calendar": "Print a month's calendar like the Unix cal program",
    "uuid": "Generate universally unique identifiers",
    "secrets": "Cryptographically strong random tokens for passwords and account security",
    "colorsys": "Convert colours between RGB and HSV coordinates",
    "wave": "Read and write WAV sound files",
    "zipfile": "Read and write ZIP archives",
    "tarfile": "Read and write tape archives, also gzip compressed ones",
    "mimetypes": "Guess the media type of a file from its extension",
    "webbrowser": "Open a web page in the user's browser",
    "sqlite3": "An embedded SQL database kept in a single file",
    "ipaddress": "Work with IPv4 and IPv6 addresses and networks",
    "shlex": "Split a command line string the way a Unix shell would",
    "argparse": "Parse command-line options and positional arguments",
    "logging": "Record events to files with severity levels such as warning and error",
    "queue": "A synchronised queue to hand work between threads",
    "pickle": "Serialise Python objects to bytes and load them back",
    "copy": "Make shallow and deep copies of objects",
    "weakref": "References to objects that do not keep them alive",
    "itertools": "Fast looping building blocks: permutations, combinations, chaining",
    "contextlib": "Helpers for writing with-statement context managers",
}
DISTRACTORS = [
    "os",
    "sys",
    "re",
    "math",
    "cmath",
    "time",
    "datetime",
    "collections",
    "enum",
    "dataclasses",
    "typing",
    "pathlib",
    "io",
    "struct",
    "array",
    "socket",
    "select",
    "signal",
    "platform",
    "locale",
    "gettext",
    "codecs",
    "unicodedata",
    "inspect",
    "dis",
    "ast",
    "tokenize",
    "traceback",
    "warnings",
    "gc",
    "site",
    "pkgutil",
    "subprocess",
    "errno",
    "stat",
    "filecmp",
    "fileinput",
    "linecache",
    "netrc",
    "plistlib",
    "configparser",
    "binascii",
    "quopri",
    "mailbox",
    "smtplib",
    "poplib",
    "imaplib",
    "ftplib",
    "numbers",
    "graphlib",
    "reprlib",
    "types",
    "codeop",
    "code",
    "cmd",
    "bz2",
    "lzma",
    "gzip",
    "string",
    "html",
    "keyword",
    "abc",
    "functools",
    "operator",
    "threading",
    "sched",
    "urllib.parse",
]


def render(module_name: str, chars: int) -> str:
    module = importlib.import_module(module_name)
    text = pydoc.render_doc(module, renderer=pydoc.plaintext)
    text = re.sub(r"\nMODULE REFERENCE\n.*?(?=\n[A-Z][A-Z ]+\n)", "\n", text, flags=re.S)
    if len(text) > chars:
        cut = text.rfind("\n", 0, chars)
        text = text[: cut if cut > chars // 2 else chars]
    return text + "\n"


def build(folder: Path, modules: list[str], *, chars: int = 1200) -> int:
    """Write each module's page to ``folder/NAME.txt``; the bytes written."""
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for name in modules:
        data = render(name, chars).encode()
        (folder / f"{name}.txt").write_bytes(data)
        total += len(data)
    return total


def top_k_hits(sources: list[list[str]], expected: list[str], k: int) -> int:
    """How many queries have their expected file among their first ``k`` sources."""
    return sum(
        f"{want}.txt" in [Path(s).name for s in got[:k]]
        for got, want in zip(sources, expected, strict=True)
    )
