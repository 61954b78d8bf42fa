"""A warm process that imports torch once and forks one child per torch job.

Each job of a run is a new Python process, and importing torch costs 3-4 s of CPU:
most of what a small dataset's job does, and a third of the default run's CPU time.
The first torch job of a run starts this worker; it binds a Unix socket, imports
torch and the stages, and waits. A job connects, passes its standard streams and
its request (function, arguments, directory, environment), and a forked child of
the worker runs it exactly as the job's own process would have (``jobs.execute``)
and reports the exit status. The worker leaves once no job came for ``IDLE_SECONDS``.

What keeps it trustworthy:
- The worker's name is a digest of everything its imports depend on (the Python
  executable, ``sys.path``, every file of lthpipe, torch's version file and the
  environment variables torch and MKL read at import), so editing the code, another
  checkout or another environment never reaches a worker started before.
- It never computes: MKL and OpenMP start in each child, after ``numerics.use`` and
  ``torch.set_num_threads``, as in a fresh process. Results are bit-identical
  either way (tests/test_robustness.py).
- A child dies with its job, so nothing writes on behalf of a job Snakemake
  thinks has ended: a signal to the job's process kills the child first; when
  the job's process vanishes (SIGKILL), the worker kills the child (stopped or
  not), and the child, watching the same connection, kills itself should the
  worker be gone.
- Anything that stops the worker from taking the request (no socket, a worker that
  cannot start, a lost race) makes the job run in its own process instead.

- It trusts no one: its folder must be a real directory (not a symlink) that only
  this user can enter; a connection from another user is closed unread
  (``SO_PEERCRED``); a request cannot name what to run (each worker runs the one
  entry point it was started with, ``jobs.execute``), and its arguments unpickle
  into lthpipe's own classes and plain values only.
- It leaves nothing behind: its socket, lock and log go when it leaves, and a
  starting worker removes those of workers that are gone.

Off when ``LTHPIPE_WORKER=0``, outside Linux, and inside a batch job (SLURM,
PBS/Torque, LSF, Grid Engine, HTCondor, Flux: the batch system kills what a job
leaves behind, so a worker started by one job would die with it, with other
jobs' children in it).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import importlib.util
import io
import json
import logging
import os
import pickle
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

from lthpipe import provenance, rule_functions

IDLE_SECONDS = 60
START_TIMEOUT_SECONDS = 60
# Read by torch, MKL, OpenMP or CUDA when torch is imported: a worker started under
# other values would not be the process the job would have been.
IMPORT_ENVIRONMENT = ("CUDA", "KMP_", "LD_", "MKL_", "OMP_", "PYTHON", "PYTORCH_", "TORCH")
_HEADER = struct.Struct("!Q")
_PID = struct.Struct("!q")
_OK, _FAILED = b"0", b"1"
_CREDENTIALS = struct.Struct("3i")  # SO_PEERCRED: pid, uid, gid
# What a job's request may run: the job-execution entry point.
ENTRY_POINT = "lthpipe.jobs:execute"
# Set inside a batch job by SLURM, PBS/Torque, LSF, Grid Engine, HTCondor and Flux.
BATCH_JOB_VARIABLES = ("SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID", "SGE_JOB_SPOOL_DIR", "_CONDOR_JOB_AD", "FLUX_JOB_ID")
# Plain values a request's arguments may hold besides lthpipe's own classes.
_PLAIN_CLASSES = {
    ("pathlib", "PosixPath"), ("pathlib", "Path"), ("builtins", "set"), ("builtins", "frozenset"),
    ("builtins", "object"), ("copyreg", "_reconstructor"), ("copyreg", "__newobj__"),
}

log = logging.getLogger(__name__)


def enabled() -> bool:
    return (sys.platform == "linux" and os.environ.get("LTHPIPE_WORKER", "1") != "0"
            and not any(name in os.environ for name in BATCH_JOB_VARIABLES))


def import_path() -> list[str]:
    """``sys.path`` without the running script's own folder: Snakemake runs each
    job's script from a temporary file of its own."""
    script = Path(sys.argv[0]).resolve().parent if sys.argv and sys.argv[0] else None
    return [entry for entry in sys.path if script is None or Path(entry or ".").resolve() != script]


def worker_key(search_path: list[str], entry_point: str = ENTRY_POINT) -> str:
    """The worker's name: a digest of everything its imports depend on, and of what it runs."""
    digest = provenance.source_digest([*provenance.PACKAGE.rglob("*.py"), *provenance.PACKAGE.rglob("*.yaml")])
    digest.update(sys.executable.encode())
    digest.update("\0".join(search_path).encode())
    digest.update(entry_point.encode() + b"\0")
    torch_spec = importlib.util.find_spec("torch")
    if torch_spec is not None and torch_spec.origin:
        version_file = Path(torch_spec.origin).with_name("version.py")
        digest.update(version_file.read_bytes() if version_file.exists() else torch_spec.origin.encode())
    for name in sorted(os.environ):
        if name.startswith(IMPORT_ENVIRONMENT):
            digest.update(f"{name}={os.environ[name]}\0".encode())
    return digest.hexdigest()[:24]


def runtime_dir() -> Path:
    """A folder only this user can use: the socket in it runs code as this user. Checked
    with lstat: a symlink, even to a private folder, could be swapped under us."""
    base = os.environ.get("LTHPIPE_WORKER_DIR") or os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    folder = Path(base) / f"lthpipe-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise PermissionError(f"{folder} must be a directory, not a symlink or a file")
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{folder} must belong to you and be private (mode 700)")
    return folder


def _files(path: Path) -> list[Path]:
    """A worker's socket, lock and log."""
    return [path, path.with_suffix(".lock"), path.with_suffix(".log")]


def remove_stale(folder: Path, own: Path) -> list[Path]:
    """Remove the files of other workers that are gone: a socket nobody listens on,
    with its lock and log, unless a starting worker holds the lock. The removed files."""
    removed = []
    for lock_path in folder.glob("*.lock"):
        sock = lock_path.with_suffix(".sock")
        if sock == own:
            continue
        conn = _connect(sock)
        if conn is not None:
            conn.close()
            continue
        with contextlib.suppress(OSError), open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # OSError: a worker is starting
            for path in _files(sock):
                if path.exists():
                    path.unlink()
                    removed.append(path)
    return removed


class _RequestUnpickler(pickle.Unpickler):
    """Unpickles lthpipe's own classes and plain values, nothing that runs code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PLAIN_CLASSES:
            return super().find_class(module, name)
        if (module == "lthpipe" or module.startswith("lthpipe.")) and "." not in name:
            found = super().find_class(module, name)
            if isinstance(found, type) and found.__module__ == module:
                return found
        raise pickle.UnpicklingError(f"a worker request may not hold {module}.{name}")


def read_request(data: bytes) -> Any:
    return _RequestUnpickler(io.BytesIO(data)).load()


def _connect(path: Path) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except OSError:
        conn.close()
        return None
    return conn


def _reach_worker(entry_point: str) -> socket.socket:
    """A connection to this code's worker, starting one if none is listening."""
    folder = runtime_dir()
    search_path = import_path()
    key = worker_key(search_path, entry_point)
    path = folder / f"{key}.sock"
    if len(os.fsencode(path)) > 100:  # AF_UNIX takes at most 107 bytes
        raise OSError(f"the socket path {path} is too long; set LTHPIPE_WORKER_DIR to a shorter folder")
    conn = _connect(path)
    if conn is not None:
        return conn
    with open(folder / f"{key}.log", "ab") as server_log:
        server = subprocess.Popen(
            [sys.executable, "-m", "lthpipe.worker", str(path), json.dumps(search_path), entry_point],
            stdin=subprocess.DEVNULL, stdout=server_log, stderr=server_log, start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while conn is None and time.monotonic() < deadline:
        if server.poll() not in (None, 0):  # it failed (0: another job's worker won the race)
            raise OSError(f"the worker failed to start; see {folder / f'{key}.log'}")
        time.sleep(0.02)
        conn = _connect(path)
    if conn is None:
        raise OSError(f"no worker answered within {START_TIMEOUT_SECONDS} s")
    return conn


def _receive_exactly(conn: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = conn.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("the job's process went away")
        chunks += chunk
    return bytes(chunks)


def submit(*args: Any, entry_point: str = ENTRY_POINT) -> int | None:
    """Run ``entry_point(*args)`` in a child of the warm worker that runs it, with this
    process's standard streams, arguments, directory and environment; return its exit
    status, or None when no worker took the request (run it here then)."""
    try:
        conn = _reach_worker(entry_point)
    except OSError as err:
        log.warning("no warm worker (%s): starting torch in the job's own process", err)
        return None
    with conn:
        request = pickle.dumps((args, sys.argv, os.getcwd(), dict(os.environ)))
        try:
            socket.send_fds(conn, [_HEADER.pack(len(request))], [0, 1, 2])
            conn.sendall(request)
            child = _PID.unpack(_receive_exactly(conn, _PID.size))[0]
        except (OSError, ConnectionError):
            return None  # nothing started: run it here
        # Whatever ends this process ends the job: a signal here kills the child at
        # once (even a stopped one); a SIGKILL here closes the connection, and the
        # worker (or, were it gone, the child's own watcher) ends the child.
        for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(stop, lambda signum, frame, child=child: _end(child, signum))
        status = conn.recv(1)  # blocks while the child runs the job
    if status == _OK:
        return 0
    if status != _FAILED:
        print(f"lthpipe: the job's process {child} (a child of the warm worker) ended without an exit status: "
              "killed, or out of memory", file=sys.stderr)
    return 1


def _end(child: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(child, signal.SIGKILL)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _die_with_client(conn: socket.socket) -> None:
    """The job's own process holds the other end: when it ends, so does this child."""
    with contextlib.suppress(OSError):
        while conn.recv(1):
            pass
    os.kill(os.getpid(), signal.SIGKILL)


def _child(conn: socket.socket, entry_point: str) -> NoReturn:
    """Become the job's process (its streams, arguments, directory, environment),
    run the entry point, send its status."""
    code = 1
    try:
        header, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 3)
        args, argv, cwd, environment = read_request(_receive_exactly(conn, _HEADER.unpack(header)[0]))
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        sys.argv[:] = argv
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(environment)
        module, _, name = entry_point.partition(":")
        run = getattr(importlib.import_module(module), name)
        conn.sendall(_PID.pack(os.getpid()))
        threading.Thread(target=_die_with_client, args=(conn,), daemon=True).start()
        code = 0 if run(*args) in (None, 0) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        with contextlib.suppress(OSError):
            conn.sendall(_OK if code == 0 else _FAILED)
        os._exit(code)


def serve(path: Path, search_path: list[str], entry_point: str) -> None:
    """Listen on ``path`` (one worker per path: a lock settles races between jobs
    that start one at the same moment), import torch, fork a child per request, and
    leave after IDLE_SECONDS without one, removing its files."""
    remove_stale(path.parent, own=path)
    with open(path.with_suffix(".lock"), "w") as lock:
        deadline = time.monotonic() + 10
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return  # another worker for this code is up, or leaving
                time.sleep(0.05)
        probe = _connect(path)
        if probe is not None:
            probe.close()
            return
        path.unlink(missing_ok=True)  # left by a worker that was killed
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen(64)
        bound = path.stat().st_ino
        sys.path[:] = search_path  # what the job's own process would import from
        import torch  # noqa: F401  (the point of the worker; jobs queue on the socket meanwhile)

        for module in rule_functions.stage_modules():
            importlib.import_module(module)

        try:
            _supervise(listener, lock, entry_point)
        finally:
            if path.exists() and path.stat().st_ino == bound:
                # Ours (not a successor's): remove the socket, then the log and lock,
                # while still holding the lock, so no starting worker loses its own.
                for own in _files(path):
                    own.unlink(missing_ok=True)
            listener.close()


def _supervise(listener: socket.socket, lock: Any, entry_point: str) -> None:
    """Fork a child per connection and end each job once either side is gone: when
    the child ends, close the connection (its job then reads the status, or the
    end of the stream); when the job's process hangs up, kill the child if it
    still runs (even a stopped one, which cannot notice by itself). Leave once no
    child runs and no job came for IDLE_SECONDS."""
    poller = select.poll()
    poller.register(listener, select.POLLIN)
    jobs: dict[int, tuple[socket.socket, int, int]] = {}  # connection fd and pidfd -> (connection, pid, pidfd)
    idle_since = time.monotonic()
    while True:
        wait = None if jobs else IDLE_SECONDS - (time.monotonic() - idle_since)
        if wait is not None and wait <= 0:
            return
        ready = [fd for fd, _ in poller.poll(None if wait is None else wait * 1000)]
        # Ended jobs first: their fds close here, so a connection accepted below may
        # reuse a number, and no event of this batch may then be taken for it.
        for fd in ready:
            if fd not in jobs:
                continue  # the listener, or the other fd of a job ended above
            conn, pid, pidfd = jobs[fd]
            for key in (conn.fileno(), pidfd):
                poller.unregister(key)
                del jobs[key]
            # Not reaped yet, an ended child keeps its pid: this never hits another process.
            if os.waitpid(pid, os.WNOHANG) == (0, 0):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            os.close(pidfd)
            conn.close()
            if not jobs:
                idle_since = time.monotonic()
        if listener.fileno() in ready:
            conn, _ = listener.accept()
            _, uid, _ = _CREDENTIALS.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDENTIALS.size))
            if uid != os.getuid():
                log.warning("refused a connection from user %d", uid)
                conn.close()
                continue
            pid = os.fork()
            if pid == 0:
                listener.close()
                lock.close()  # the lock stays the worker's alone: a new worker may start when it leaves
                _child(conn, entry_point)
            pidfd = os.pidfd_open(pid)
            jobs[conn.fileno()] = jobs[pidfd] = conn, pid, pidfd
            poller.register(conn, select.POLLRDHUP)  # hang-ups only: the request is the child's to read
            poller.register(pidfd, select.POLLIN)  # readable when the child ends


if __name__ == "__main__":
    serve(Path(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3])
