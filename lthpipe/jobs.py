"""What every Snakemake script does around its one library call.

A rule's script is one call: ``run_stage(snakemake, **arguments)`` runs a torch
stage, ``run_report`` a reporting function (no torch): the function of the rule in
``lthpipe.rule_functions``, the one table of rule -> function. Around the call, ``job`` sends logging to the rule's log, clears
what a killed earlier attempt left, and sets the numerics and thread count."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import resource
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from lthpipe import rule_functions, worker
from lthpipe.artifacts import stale_temporaries
from lthpipe.errors import Refused

log = logging.getLogger("lthpipe")
# The last line of every job's log; benchmarks/run.py reads it back with job_usage.
USAGE = "{wall:.1f} s, CPU {cpu:.1f} s, peak memory {peak_mb} MB"
USAGE_PATTERN = re.compile(r"([\d.]+) s, CPU ([\d.]+) s, peak memory (\d+) MB$")


@dataclass(frozen=True)
class JobSpec:
    """The part of Snakemake's job object a stage's process needs."""

    rule: str
    wildcards: dict[str, str]
    threads: int
    log: str
    outputs: tuple[str, ...]
    numerics: str | None  # torch jobs only: lthpipe.numerics mode

    @classmethod
    def of(cls, snakemake: Any, uses_torch: bool) -> JobSpec:
        # Plain str: Snakemake's file names are a str subclass the worker does not unpickle.
        return cls(
            snakemake.rule, {k: str(v) for k, v in dict(snakemake.wildcards).items()}, snakemake.threads,
            str(snakemake.log[0]), tuple(map(str, snakemake.output)), snakemake.params.numerics if uses_torch else None,
        )


def remove_stale_temporaries(outputs: list[str] | tuple[str, ...]) -> list[Path]:
    """Delete what an earlier, killed attempt of this job left beside its outputs.
    Snakemake runs one job per output at a time, so no live writer owns them."""
    stale = [tmp for output in outputs for tmp in stale_temporaries(Path(output))]
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


@contextlib.contextmanager
def job(spec: JobSpec) -> Iterator[None]:
    """Send logging and stderr to the rule's log, clear stale temporaries of the
    outputs, keep torch to the rule's threads, and end the log with the job's time
    and memory."""
    started = time.monotonic()
    with open(spec.log, "w") as log_file, contextlib.redirect_stderr(log_file):
        logging.basicConfig(
            stream=log_file, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True
        )
        log.info("rule %s, wildcards %s, threads %d, pid %d", spec.rule, spec.wildcards, spec.threads, os.getpid())
        for tmp in remove_stale_temporaries(spec.outputs):
            log.warning("removed %s, left by an earlier attempt killed while writing", tmp)
        if spec.numerics is not None:
            import torch

            from lthpipe import numerics

            numerics.use(spec.numerics)  # before any arithmetic: MKL reads it once
            # Intra-op threads only: Snakemake's --cores budget counts this job as `threads`.
            torch.set_num_threads(spec.threads)
            torch.set_num_interop_threads(1)
            log.info("numerics %s", numerics.describe())
        try:
            yield
        except Refused as err:
            # No traceback: Snakemake prints a failed job's log (profiles/default), and
            # the message already names the cause and the fix.
            log.error("refused: %s", err)
            raise
        except BaseException:
            log.exception("failed")
            raise
        finally:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            # In a worker's child, the CPU time is the job's own and the peak memory
            # includes the pages it shares with the worker, as a fresh process's would.
            log.info(USAGE.format(wall=time.monotonic() - started, cpu=usage.ru_utime + usage.ru_stime,
                                  peak_mb=usage.ru_maxrss // 1024))
            log_file.flush()


def job_usage(log_path: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak MB that a job's log ends with."""
    match = USAGE_PATTERN.search(Path(log_path).read_text().rstrip())
    if match is None:
        raise ValueError(f"{log_path} does not end with the job's time and memory")
    return float(match[1]), float(match[2]), int(match[3])


def execute(spec: JobSpec, arguments: dict[str, Any], in_worker: bool) -> int:
    """Run the rule's stage (``rule_functions``) with ``arguments`` as the job ``spec``; the exit status.
    The same in a worker's child and in the job's own process."""
    try:
        with job(spec):
            log.info("running in %s", "a child of the warm worker" if in_worker else "the job's own process")
            rule_functions.function(spec.rule)(**arguments)
    except Refused as err:
        # What the user must fix (data, device): one line in Snakemake's output, no traceback.
        print(f"lthpipe: refused dataset {spec.wildcards.get('dataset')!r}: {err}", file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def run_stage(snakemake: Any, **arguments: Any) -> NoReturn:
    """The whole script of a torch rule: run its stage in a child of the warm worker
    (lthpipe.worker) when one takes it, else in this process.

    The process ends here without the interpreter's teardown (unloading torch's
    modules costs about 0.4 s of CPU): every output is already written, fsynced and
    renamed, and the exit status is the stage's."""
    spec = JobSpec.of(snakemake, uses_torch=True)
    arguments = {name: _plain(value) for name, value in arguments.items()}
    status = worker.submit(spec, arguments, True) if worker.enabled() else None
    if status is None:
        status = execute(spec, arguments, False)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _plain(value: Any) -> Any:
    """Snakemake's file names and lists (str and list subclasses) as str and list, the
    same whether the stage runs here or in the worker (which unpickles no Snakemake class)."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def run_report(snakemake: Any, **arguments: Any) -> None:
    """The whole script of a reporting rule: its function (lthpipe.rule_functions.REPORTS)
    called with `arguments`."""
    with job(JobSpec.of(snakemake, uses_torch=False)):
        rule_functions.function(snakemake.rule)(**arguments)
