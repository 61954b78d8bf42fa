"""What every Snakemake script does around its one library call."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("lthpipe")


@contextlib.contextmanager
def job(snakemake: Any, uses_torch: bool = True) -> Iterator[None]:
    """Send logging and stderr to the rule's log and keep torch to the rule's threads."""
    with open(snakemake.log[0], "w") as log_file, contextlib.redirect_stderr(log_file):
        logging.basicConfig(
            stream=log_file, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True
        )
        log.info("rule %s, wildcards %s, threads %d", snakemake.rule, dict(snakemake.wildcards), snakemake.threads)
        if uses_torch:
            import torch

            # Intra-op threads only: Snakemake's --cores budget counts this job as `threads`.
            torch.set_num_threads(snakemake.threads)
            torch.set_num_interop_threads(1)
        try:
            yield
        except BaseException:
            log.exception("failed")
            raise
        finally:
            log_file.flush()
    sys.stderr.flush()
