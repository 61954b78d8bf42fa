"""The warm worker (lthpipe.worker): its child is the job's process in every way a
stage can see, a job's end is its child's end, failures fail the job, and a worker
started for other code or another environment is never used. The same bits as a
job's own process: tests/test_robustness.py."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lthpipe import worker
from workflow_helpers import process_alive, wait_for

TESTS = Path(__file__).resolve().parent
# A client whose worker runs tests/worker_jobs.py's `run` as its entry point (a worker
# of its own: the entry point is part of the worker's name).
CLIENT = (
    "import sys; from lthpipe import worker\n"
    "status = worker.submit(*sys.argv[1:], entry_point='worker_jobs:run')\n"
    "sys.exit(99 if status is None else status)\n"
)
NO_WORKER = 99


@pytest.fixture(scope="module")
def worker_dir():
    """One worker for this module's tests, in a short private folder (a socket's
    path has at most 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="lw", dir="/tmp") as folder:
        yield folder


def environment(worker_dir: str, **extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "LTHPIPE_WORKER_DIR": worker_dir, **extra}
    env.pop("LTHPIPE_WORKER", None)
    return env


def client(worker_dir: str, *args: str, cwd: Path, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CLIENT, *args], cwd=cwd, env=environment(worker_dir, **extra),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_the_child_has_the_jobs_streams_arguments_directory_and_environment(worker_dir, tmp_path):
    out = tmp_path / "child.json"
    run = client(worker_dir, "describe", str(out), cwd=tmp_path, LTHPIPE_TEST_MARKER="job's own")
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    child = json.loads(out.read_text())
    assert child["pid"] != run.pid and child["ppid"] != run.pid  # it really ran in the worker
    assert child["cwd"] == str(tmp_path) and child["marker"] == "job's own"
    assert child["argv"] == ["-c", "describe", str(out)]
    assert "child stdout" in stdout and "child stderr" in stderr


def test_a_failing_function_fails_the_job_with_its_traceback(worker_dir, tmp_path):
    run = client(worker_dir, "fail", cwd=tmp_path)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 1
    assert "RuntimeError: the stage failed on purpose" in stderr


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_ending_the_jobs_process_ends_its_child(worker_dir, tmp_path, stop):
    """As Snakemake ends a job (SIGTERM), Ctrl-C does (SIGINT) and the OOM killer
    might (SIGKILL): the child must not outlive the job and write on its behalf."""
    pid_file = tmp_path / "child.pid"
    run = client(worker_dir, "sleep", str(pid_file), cwd=tmp_path)
    wait_for(pid_file.exists, "the child to start", process=run)
    child = int(pid_file.read_text())
    assert process_alive(child)
    run.send_signal(stop)
    run.wait(timeout=60)
    wait_for(lambda: not process_alive(child), "the child to end with its job")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_child_ends_with_its_job_too(worker_dir, tmp_path, stop):
    """A stopped process cannot notice anything: the job's process kills it (SIGTERM),
    or the worker does when the job's process vanishes (SIGKILL)."""
    pid_file = tmp_path / "child.pid"
    run = client(worker_dir, "sleep", str(pid_file), cwd=tmp_path)
    wait_for(pid_file.exists, "the child to start", process=run)
    child = int(pid_file.read_text())
    os.kill(child, signal.SIGSTOP)
    run.send_signal(stop)
    run.wait(timeout=60)
    wait_for(lambda: not process_alive(child), "the stopped child to be killed")


def test_a_killed_child_fails_its_job(worker_dir, tmp_path):
    pid_file = tmp_path / "child.pid"
    run = client(worker_dir, "sleep", str(pid_file), cwd=tmp_path)
    wait_for(pid_file.exists, "the child to start", process=run)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 1 and "ended without an exit status" in stderr


KEY = "import sys; from lthpipe import worker; print(worker.worker_key(worker.import_path()))"


def key(package_root: Path, **extra: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(package_root), **extra}
    command = [sys.executable, "-c", KEY]
    return subprocess.run(command, env=env, cwd=package_root, capture_output=True, text=True, check=True).stdout


def test_other_code_or_another_environment_names_another_worker(tmp_path):
    copy = tmp_path / "checkout"
    shutil.copytree(TESTS.parent / "lthpipe", copy / "lthpipe")
    before = key(copy)
    assert key(copy) == before  # a name, not a random one
    assert key(copy, OMP_NUM_THREADS="3") != before  # read by torch's import
    assert key(copy, LTHPIPE_TEST_MARKER="x") == before  # not read by any import
    with open(copy / "lthpipe" / "train.py", "a") as code:
        code.write("\n# edited\n")
    assert key(copy) != before


def test_a_worker_folder_others_can_use_is_refused_and_the_job_runs_itself(tmp_path):
    shared = tmp_path / "shared"
    (shared / f"lthpipe-{os.getuid()}").mkdir(parents=True, mode=0o777)
    os.chmod(shared / f"lthpipe-{os.getuid()}", 0o777)
    run = client(str(shared), "describe", str(tmp_path / "out.json"), cwd=tmp_path)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == NO_WORKER
    assert "no warm worker" in stderr and "must belong to you and be private (mode 700)" in stderr
    assert not (tmp_path / "out.json").exists()


def test_a_worker_folder_that_is_a_symlink_is_refused_even_to_a_private_folder(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    link_home = tmp_path / "links"
    link_home.mkdir()
    (link_home / f"lthpipe-{os.getuid()}").symlink_to(private)
    run = client(str(link_home), "describe", str(tmp_path / "out.json"), cwd=tmp_path)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == NO_WORKER
    assert "must be a directory, not a symlink" in stderr
    assert not (tmp_path / "out.json").exists() and not list(private.iterdir())


@pytest.mark.parametrize("variable", worker.BATCH_JOB_VARIABLES)
def test_the_worker_is_off_when_asked_and_inside_any_batch_job(monkeypatch, variable):
    for name in worker.BATCH_JOB_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("LTHPIPE_WORKER", raising=False)
    assert worker.enabled() == sys.platform.startswith("linux")
    monkeypatch.setenv("LTHPIPE_WORKER", "0")
    assert not worker.enabled()
    monkeypatch.delenv("LTHPIPE_WORKER")
    monkeypatch.setenv(variable, "42")
    assert not worker.enabled()


def test_a_request_cannot_name_what_runs_nor_smuggle_code():
    """A request holds arguments only; they unpickle into lthpipe's classes and plain
    values, and anything else (a function, a class of another package) is refused."""
    import argparse
    import pickle

    from lthpipe.jobs import JobSpec
    from lthpipe.settings import TrainingRun, TrainSettings

    spec = JobSpec("retrain", {"dataset": "d"}, 1, "log", ("out",), "machine")
    request = ((spec, {"settings": TrainingRun(TrainSettings()), "data_path": Path("x"), "tags": {1}}, True),
               ["argv"], "/", {})
    assert worker.read_request(pickle.dumps(request)) == request

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    for payload in (Evil(), argparse.Namespace(x=1), shutil.rmtree):
        with pytest.raises(pickle.UnpicklingError, match="a worker request may not hold"):
            worker.read_request(pickle.dumps(payload))
    # A dotted name reaching through an lthpipe module to another one is refused too.
    sneaky = b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x0elthpipe.worker\x94\x8c\tos.system\x94\x93\x94."
    with pytest.raises(pickle.UnpicklingError, match="a worker request may not hold"):
        worker.read_request(sneaky)


def test_a_connection_from_another_user_is_closed_unread(worker_dir, tmp_path):
    """Even where the folder's protection fails (opened up here on purpose), the worker
    checks the connecting process's uid and closes another user's connection unread."""
    if os.getuid() != 0:
        pytest.skip("needs root to connect as another user (uid 65534)")
    out = tmp_path / "out.json"
    first = client(worker_dir, "describe", str(out), cwd=tmp_path)  # start (or reach) the worker
    assert first.wait(timeout=120) == 0
    folder = Path(worker_dir) / f"lthpipe-{os.getuid()}"
    (sock,) = folder.glob("*.sock")
    for path, mode in ((Path(worker_dir), 0o755), (folder, 0o755), (sock, 0o777)):
        path.chmod(mode)
    try:
        attacker = subprocess.run(
            [sys.executable, "-c",
             "import os, socket, sys; os.setgid(65534); os.setuid(65534)\n"
             "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(30)\n"
             "print('closed' if s.recv(1) == b'' else 'answered')", str(sock)],
            capture_output=True, text=True, timeout=60,
        )
    finally:
        folder.chmod(0o700)
    assert attacker.stdout.strip() == "closed", attacker.stderr
    assert "refused a connection from user 65534" in sock.with_suffix(".log").read_text()


def test_a_leaving_worker_removes_its_files_and_a_starting_one_removes_stale_ones(tmp_path):
    folder = tmp_path / f"lthpipe-{os.getuid()}"
    folder.mkdir(mode=0o700)
    stale = [folder / f"gone.{suffix}" for suffix in ("sock", "lock", "log")]
    for path in stale:
        path.write_text("")
    own = folder / "mine.sock"
    assert sorted(worker.remove_stale(folder, own=own)) == sorted(stale)
    assert not any(p.exists() for p in stale)
    # A worker that leaves after its idle time removes its socket, lock and log.
    env = environment(str(tmp_path), PYTHONPATH=os.pathsep.join([str(TESTS), str(TESTS.parent)]))
    code = ("import lthpipe.worker as w; w.IDLE_SECONDS = 0.5; "
            f"w.serve(__import__('pathlib').Path({str(own)!r}), __import__('sys').path, 'worker_jobs:run')")
    own.with_suffix(".log").write_text("started\n")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    assert list(folder.iterdir()) == []
