"""Functions tests/test_worker.py runs in a child of the warm worker."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def run(name: str, *args: str) -> None:
    """The entry point of the tests' worker: one of the functions below, by name."""
    {"describe": describe, "sleep": sleep, "fail": fail}[name](*args)


def describe(out: str) -> None:
    """What the child looks like from inside, and a line on each stream."""
    Path(out).write_text(json.dumps({
        "pid": os.getpid(), "ppid": os.getppid(), "cwd": os.getcwd(), "argv": sys.argv,
        "marker": os.environ.get("LTHPIPE_TEST_MARKER"),
    }))
    print("child stdout")
    print("child stderr", file=sys.stderr)


def sleep(pid_file: str) -> None:
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(300)


def fail() -> None:
    raise RuntimeError("the stage failed on purpose")
