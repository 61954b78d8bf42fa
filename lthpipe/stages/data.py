"""The data stages: load, check, split and standardize a dataset (make_data), or
only check it (check_data, for suite members). No torch arithmetic, no training code."""

from __future__ import annotations

import logging
from pathlib import Path

from lthpipe.artifacts import write_json
from lthpipe.datasets import DataSettings, make_dataset, save_dataset
from lthpipe.errors import Refused

log = logging.getLogger(__name__)


def make_data(dataset: str, settings: DataSettings, out: Path) -> None:
    """Load, check, split and standardize one dataset; refuses bad data before writing."""
    data = make_dataset(dataset, settings.source, settings.split)
    log.info("%s: %s", dataset, {k: v for k, v in data.record.items() if k not in ("normalization", "feature_names")})
    save_dataset(out, data, {"stage": "data", "dataset": dataset, "settings": settings.to_params()})


def check_data(dataset: str, settings: DataSettings, out: Path) -> None:
    """A suite member's data, built as make_data builds it but not kept: the verdict,
    accepted or refused with the message, so that a refused member is reported in its
    suite's summary while the other members run (lthpipe.suites)."""
    try:
        data = make_dataset(dataset, settings.source, settings.split)
    except Refused as err:
        log.warning("refused: %s", err)
        verdict = {"accepted": False, "message": str(err)}
    else:
        verdict = {"accepted": True, "message": None, "n_features": data.record["n_features"],
                   "n_classes": data.record["n_classes"]}
    write_json(out, {"stage": "check", "dataset": dataset, **verdict, "settings": settings.to_params()})
