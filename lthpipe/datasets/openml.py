"""Kind `openml`: a dataset from OpenML through scikit-learn's fetch_openml, which
caches every response under <data_home>/openml, so a second run works offline.
Offline without that cache the error says what to fetch and where to put it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lthpipe.datasets.base import Dataset, DataError, SplitSettings, TableSettings

if TYPE_CHECKING:
    import pandas as pd

# Few retries, so a machine without internet fails in seconds instead of minutes.
# (scikit-learn 1.9 asks for the dataset description with its own 3 retries 1 s
# apart whatever these say, so a data_id source fails after about 3 s.)
N_RETRIES = 1
RETRY_DELAY_S = 0.5
# OpenML's sizes are unknown before the download; generous for the tabular sets
# small MLPs train on (a million float64 cells is 8 MB).
LOADED_MB = 1000


@dataclass(frozen=True)
class OpenmlSource(TableSettings):
    kind: ClassVar[str] = "openml"
    name: str | None = None  # exactly one of name and data_id
    data_id: int | None = None
    version: int | None = None  # with name; None: the active version
    target: str | None = None  # None: the dataset's default target
    data_home: str | None = None  # None: scikit-learn's default (~/scikit_learn_data)

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.name is None) == (self.data_id is None):
            raise ValueError(f"an openml source needs exactly one of name and data_id: {self}")
        if self.version is not None and self.name is None:
            raise ValueError(f"version applies to name, a data_id is one version already: {self}")

    def load(self, name: str, split: SplitSettings) -> Dataset:
        from lthpipe.datasets.frames import table_from_frame
        from lthpipe.datasets.splits import tabular_dataset

        frame, target = self._fetch()
        table = table_from_frame(frame, kind=self.kind, source=self.describe(), target=target, settings=self)
        return tabular_dataset(name, table, split)

    def files(self) -> list[str]:
        return []

    def loaded_mb(self) -> float:
        return LOADED_MB * self.feature_scale()

    def describe(self) -> str:
        if self.name is None:
            return f"OpenML dataset data_id={self.data_id}"
        return f"OpenML dataset {self.name!r}" + ("" if self.version is None else f" version {self.version}")

    def _query(self) -> str:
        """fetch_openml's arguments that pick this dataset, as Python source."""
        if self.name is None:
            return f"data_id={self.data_id}"
        return f"name={self.name!r}" + ("" if self.version is None else f", version={self.version}")

    def _fetch(self) -> tuple[pd.DataFrame, str]:
        """All usable columns (OpenML's ignored and row-id columns left out) and the target's name."""
        from sklearn.datasets import fetch_openml, get_data_home

        home = get_data_home(self.data_home)
        try:
            bunch = fetch_openml(
                name=self.name,
                data_id=self.data_id,
                version="active" if self.version is None else self.version,
                data_home=home,
                # With a target given, fetch every column and let table_from_frame find it,
                # so a wrong name lists the columns there are.
                target_column="default-target" if self.target is None else None,
                as_frame=True,
                n_retries=N_RETRIES,
                delay=RETRY_DELAY_S,
            )
        except OSError as err:  # URLError, TimeoutError: no network, and not in the cache
            raise DataError(self._offline_message(home, err)) from None
        except ValueError as err:  # OpenML's own refusal (unknown name or id, bad checksum)
            raise DataError(
                f"{self.describe()}: OpenML refused it ({err}); check name:, data_id: and version:"
            ) from None
        if self.target is not None:
            return bunch.frame, self.target
        if len(bunch.target_names) != 1:
            raise DataError(
                f"{self.describe()}: OpenML gives {len(bunch.target_names)} default targets "
                f"({', '.join(bunch.target_names) or 'none'}); set target: to the label column"
            )
        return bunch.frame, bunch.target_names[0]

    def _offline_message(self, home: str, err: OSError) -> str:
        query = self._query()
        return (
            f"{self.describe()}: not in the cache {home}/openml and OpenML could not be reached ({err}). "
            f"On a machine with internet, run python -c \"from sklearn.datasets import fetch_openml; "
            f"fetch_openml({query}, data_home='DIR')\" and copy DIR/openml to {home}/openml here "
            f"(or set data_home: to the copied DIR). Or save it as CSV there with fetch_openml({query}, "
            "as_frame=True).frame.to_csv('FILE.csv', index=False) and use source kind: csv, path: FILE.csv."
        )
