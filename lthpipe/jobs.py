"""What every Snakemake script does around its one library call."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lthpipe.artifacts import stale_temporaries

log = logging.getLogger("lthpipe")


def remove_stale_temporaries(outputs: list[str]) -> list[Path]:
    """Delete what an earlier, killed attempt of this job left beside its outputs.
    Snakemake runs one job per output at a time, so no live writer owns them."""
    stale = [tmp for output in outputs for tmp in stale_temporaries(Path(output))]
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


@contextlib.contextmanager
def job(snakemake: Any, uses_torch: bool = True) -> Iterator[None]:
    """Send logging and stderr to the rule's log, clear stale temporaries of the
    outputs, and keep torch to the rule's threads.

    A torch job that succeeds ends its process here, skipping the interpreter's
    teardown: unloading torch's modules costs about 0.4 s of CPU, a seventh of a
    small job, and every output is already written, fsynced and renamed."""
    with open(snakemake.log[0], "w") as log_file, contextlib.redirect_stderr(log_file):
        logging.basicConfig(
            stream=log_file, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True
        )
        log.info("rule %s, wildcards %s, threads %d", snakemake.rule, dict(snakemake.wildcards), snakemake.threads)
        for tmp in remove_stale_temporaries(list(snakemake.output)):
            log.warning("removed %s, left by an earlier attempt killed while writing", tmp)
        if uses_torch:
            import torch

            from lthpipe import numerics

            numerics.use(snakemake.params.numerics)  # before any arithmetic: MKL reads it once
            # Intra-op threads only: Snakemake's --cores budget counts this job as `threads`.
            torch.set_num_threads(snakemake.threads)
            torch.set_num_interop_threads(1)
            log.info("numerics %s", numerics.describe())
        try:
            yield
        except BaseException:
            log.exception("failed")
            raise
        finally:
            log_file.flush()
    sys.stderr.flush()
    if uses_torch:
        sys.stdout.flush()
        os._exit(0)
