"""A labelled retrieval set the tests build themselves: Python's own module documentation.

Each module's page is rendered by ``pydoc`` (plain text) into ``NAME.txt``; its head (the
name and description, up to ``chars`` characters, without the boilerplate link section)
is kept, so a set indexes in minutes on the starter. ``QUESTIONS`` are paraphrases, written
for this set, that avoid the module's name; the right answer is the module's file.
``DISTRACTORS`` are documented too; ``HELD_OUT`` asks about 30 of them, a set kept for
checking what was tuned on ``QUESTIONS``.
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
HELD_OUT: dict[str, str] = {
    "re": "Search text with patterns and substitute every match",
    "math": "Square roots, logarithms and trigonometric functions of real numbers",
    "cmath": "Trigonometric and exponential functions for complex numbers",
    "datetime": "Represent a calendar date together with a time of day and a time zone",
    "collections": "A dictionary subclass that counts hashable items, and a double-ended queue",
    "enum": "Define a set of symbolic names bound to unique constant values",
    "dataclasses": "Generate __init__ and __repr__ automatically for classes that hold fields",
    "pathlib": "Filesystem paths as objects with methods instead of plain strings",
    "struct": "Pack numbers into C-style binary records and unpack them again",
    "socket": "Low-level network connections between hosts",
    "signal": "Install handlers for asynchronous events such as an interrupt from the keyboard",
    "platform": "Find out which operating system and processor the interpreter runs on",
    "unicodedata": "Look up the official name and category of a Unicode character",
    "inspect": "Get the source code and the signature of a live function",
    "dis": "Disassemble bytecode to see the instructions the interpreter runs",
    "traceback": "Format and print the stack of an exception",
    "warnings": "Alert the user about deprecated features, and filter such alerts",
    "gc": "Control the collector that frees reference cycles",
    "subprocess": "Run another program, connect to its input and output pipes, get its exit code",
    "filecmp": "Compare two directories or two files for equality",
    "configparser": "Read settings from INI-style configuration files with sections",
    "smtplib": "Send an e-mail through a mail server",
    "ftplib": "Upload and download files with the file transfer protocol",
    "bz2": "Compress and decompress data in the bzip2 format",
    "string": "Constants such as all ASCII letters and digits, and template substitution",
    "functools": "Cache the results of a function, and partial function application",
    "operator": "The standard operators as functions, like itemgetter and add",
    "threading": "Run code concurrently in threads with locks and events",
    "sched": "A general purpose event scheduler that runs tasks at given times",
    "urllib.parse": "Split a URL into its components and encode query strings",
}
"""Held out: questions about 30 of the distractors, written before any result was seen
and never used to choose a setting (bench/bench_docs.py reports them apart)."""
HELD_OUT_2: dict[str, str] = {
    "array": "A compact sequence of numbers all of one C kind, smaller in memory than a list",
    "locale": "Format numbers and amounts of money the way people in a given country expect",
    "gettext": "Translate the messages a program shows into other human languages",
    "ast": "Parse source code into a tree of syntax nodes and walk over it",
    "tokenize": "Split Python source into its lexical pieces such as names, operators, comments",
    "errno": "Symbolic names for the numeric codes the operating system returns on failure",
    "fileinput": "Loop over the lines of every file named on the command line, or standard input",
    "linecache": "Fetch one particular line of a source file, remembering files already read",
    "netrc": "Read the login names and passwords stored for remote hosts in a user's dot-file",
    "plistlib": "Read and write the XML settings files that Apple's programs keep",
    "mailbox": "Go through the messages kept in a local mail folder in the usual on-disk formats",
    "poplib": "Download and delete messages on a mail server with the post office protocol",
    "graphlib": "Put tasks in an order where every task comes after the ones it depends on",
    "reprlib": "A printable form of a huge object, cut short so it stays readable",
    "cmd": "Write an interactive prompt where each typed word runs a method of a class",
    "lzma": "The strongest of the standard compressors, the algorithm behind the 7-Zip tool",
    "gzip": "Read a compressed log file line by line as if it were an ordinary file",
    "http.server": "Serve the files of the current folder over the web while testing",
    "xml.etree.ElementTree": "Parse a markup document into elements and find a node's children",
    "getopt": "Parse command-line switches the way the C library's function does",
    "pdb": "Pause a running program, step through it and look at its variables",
    "cProfile": "Find out which functions a program spends most of its running time in",
    "tracemalloc": "Find which lines of code allocated the most memory",
    "asyncio": "Run many waiting network tasks at once on a single thread, cooperatively",
    "ssl": "Wrap a network connection in encryption and check the server's certificate",
    "hmac": "Authenticate a message with a keyed hash so tampering is detected",
    "zoneinfo": "Convert a moment to another region's local clock, with daylight saving rules",
    "doctest": "Check that the examples written in a docstring still give the output shown",
    "shelve": "Keep arbitrary objects on disk under string keys, a dict that survives restarts",
    "atexit": "Run a function automatically when the interpreter is shutting down",
}
"""A second held-out set (30 modules among the distractors, none asked by QUESTIONS or
HELD_OUT), written for the second round of tuning before any of it was run; asked only
to confirm a setting chosen on QUESTIONS."""
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
    "http.client",
    "http.server",
    "email",
    "xml.etree.ElementTree",
    "html.parser",
    "optparse",
    "getopt",
    "pdb",
    "cProfile",
    "trace",
    "tracemalloc",
    "asyncio",
    "concurrent.futures",
    "multiprocessing",
    "selectors",
    "ssl",
    "hmac",
    "zoneinfo",
    "doctest",
    "unittest",
    "importlib",
    "atexit",
    "shelve",
    "marshal",
]


def render(module_name: str, chars: int) -> str:
    module = importlib.import_module(module_name)
    text = pydoc.render_doc(module, renderer=pydoc.plaintext)
    text = re.sub(r"\nMODULE REFERENCE\n.*?(?=\n[A-Z][A-Z ]+\n)", "\n", text, flags=re.S)
    text = re.sub(r" at 0x[0-9a-f]+>", ">", text)  # addresses differ run to run
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
