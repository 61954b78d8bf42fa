"""Kinds `csv` and `parquet`: a table in a file, one row per sample, one column the label.

Header detection (csv, header: null): the first row is a header when some column
has a non-numeric, non-missing first cell while its other cells (of the first
HEADER_SAMPLE_ROWS rows; missing cells ignored, at least one required) are all
numbers. A file whose every column is text cannot show its header this way and
is read without one: set header: true for it.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from lthpipe.datasets.base import MB, Dataset, DataError, SplitSettings, TableSettings

if TYPE_CHECKING:
    import pandas as pd

HEADER_SAMPLE_ROWS = 1000
# Loaded size per byte of file: a CSV cell of two bytes ("0,") becomes eight bytes of
# float64; Parquet compresses columns, typically up to tenfold.
CSV_EXPANSION = 4
PARQUET_EXPANSION = 10


@dataclass(frozen=True)
class CsvSource(TableSettings):
    kind: ClassVar[str] = "csv"
    path: str  # relative to the working directory
    target: str | int = -1  # column name, or position (negative counts from the end)
    header: bool | None = None  # None: detect (module docstring)
    delimiter: str = ","

    def load(self, name: str, split: SplitSettings) -> Dataset:
        return _dataset(self, _read_csv(self), name, split)

    def files(self) -> list[str]:
        return [self.path]

    def loaded_mb(self) -> float:
        return CSV_EXPANSION * _file_mb(self.path) * self.feature_scale()


@dataclass(frozen=True)
class ParquetSource(TableSettings):
    kind: ClassVar[str] = "parquet"
    path: str  # relative to the working directory
    target: str | int = -1

    def load(self, name: str, split: SplitSettings) -> Dataset:
        return _dataset(self, _read_parquet(self.path), name, split)

    def files(self) -> list[str]:
        return [self.path]

    def loaded_mb(self) -> float:
        return PARQUET_EXPANSION * _file_mb(self.path) * self.feature_scale()


def _dataset(source: CsvSource | ParquetSource, frame: pd.DataFrame, name: str, split: SplitSettings) -> Dataset:
    from lthpipe.datasets.frames import table_from_frame
    from lthpipe.datasets.splits import tabular_dataset

    table = table_from_frame(frame, kind=source.kind, source=source.path, target=source.target, settings=source)
    return tabular_dataset(name, table, split)


def _file_mb(path: str) -> float:
    try:
        return Path(path).stat().st_size / MB
    except OSError:  # not there yet (built by another rule); make_dataset reports it if it stays missing
        return 0.0


def _check_file(path: str) -> None:
    if not Path(path).exists():
        raise DataError(f"{path}: no such file (relative to {os.getcwd()}); fix path: or create the file")
    if not Path(path).is_file():
        raise DataError(f"{path}: not a file; set path: to the data file")


def _read_csv(source: CsvSource) -> pd.DataFrame:
    import pandas as pd

    _check_file(source.path)
    try:
        header = _has_header(source) if source.header is None else source.header
        # Every cell as written: frames.py decides which are missing (missing_values),
        # so a message can name the text it found. Clean numeric columns still parse.
        frame = pd.read_csv(source.path, sep=source.delimiter, header=0 if header else None, na_filter=False)
    except OSError as err:
        raise DataError(f"{source.path}: cannot read it ({_reason(err)}); check the file's permissions") from None
    except ValueError as err:  # pandas' ParserError and EmptyDataError, UnicodeDecodeError
        raise DataError(
            f"{source.path}: not a CSV file that can be parsed with delimiter {source.delimiter!r} "
            f"({_reason(err)}). Fix the file or delimiter:, or use the source kind that matches the file (parquet)."
        ) from None
    if not header:
        frame.columns = [f"x{j}" for j in range(frame.shape[1])]  # names by position in the file
    return frame


def _has_header(source: CsvSource) -> bool:
    """The rule in the module docstring."""
    import pandas as pd

    sample = pd.read_csv(source.path, sep=source.delimiter, header=None, dtype=str, nrows=HEADER_SAMPLE_ROWS,
                         na_filter=False)
    # A missing cell votes neither way.
    sample = sample.mask(sample.apply(lambda column: column.str.strip().isin(source.missing_values)))
    first, rest = sample.iloc[0], sample.iloc[1:]
    for column in sample.columns:
        cells = rest[column].dropna()
        if len(cells) and cells.map(_is_number).all() and not pd.isna(first[column]) and not _is_number(first[column]):
            return True
    return False


def _reason(err: Exception) -> str:
    return str(err).strip()  # pandas ends some messages with a newline


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_parquet(path: str) -> pd.DataFrame:
    import pandas as pd

    if importlib.util.find_spec("pyarrow") is None:
        raise ImportError(f"reading the Parquet file {path} needs pyarrow: pip install 'lthpipe[parquet]'")
    _check_file(path)
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise DataError(
            f"{path}: not a Parquet file that can be read ({_reason(err)}). Fix the file, or use the source kind "
            "that matches it (csv)."
        ) from None
