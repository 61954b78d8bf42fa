"""Suites: one config entry (config key `suites`) that stands for many datasets.

A suite's members come from
- `files`: a folder (its .csv and .parquet files), a glob pattern or a file, or a list
  of them, relative to the working directory like any `path:`; one member per file;
- `openml`: OpenML dataset ids, or `cc18`, the OpenML-CC18 list shipped as
  openml_cc18.yaml; one member per id, loaded through the `openml` kind and its cache;
- `include`: plain datasets of the same config, reported in the suite's summary
  beside the members.
Each file or id becomes an ordinary dataset entry, which resolve() turns into a
Study like any other, so a member's jobs, paths and caching are a plain dataset's.
What a member's entry holds, later layers winning:
  source: its kind and path (or data_id) < the suite's `source` < the member's own
  split, resources: the suite's < the member's own
  study settings: `defaults` < the suite's < the member's own
where "the member's own" is its entry under the suite's `members`. The suite's
`source` options `header` and `delimiter` reach CSV members only.

A member's name is the suite's `prefix` and its key: the file's stem in lower case
with each run of characters other than letters and digits made one `_` (`data_` in
front when that does not start with a letter), or `openml_<id>`. A name taken twice
(two files, a file and a plain dataset, two suites) is refused. With `planted`
variants, every member also comes as one dataset per variant, <name>_<kind><factor>.

The members from files and ids are checked: their data is loaded by a check_data job
before anything else runs, so a member the data refuses is reported in the suite's
summary with its message while the others run. Included datasets are plain datasets
and are not checked. `exclude` leaves members out, with the reason the summary gives.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from lthpipe.config import SAFE_LOADER, ConfigError, _defaults, _key, _merge, _strict_validator, load_schema

# File suffix -> source kind of a suite's files.
FILE_KINDS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
# Shared source options that only the csv kind has.
CSV_ONLY = ("header", "delimiter")
# Id lists shipped with lthpipe, by the name `openml:` takes.
OPENML_LISTS = {"cc18": Path(__file__).with_name("openml_cc18.yaml")}
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_NAME = 64
# Where a suite's reports go: artifacts/suites/<suite>/, so no dataset may be called this.
SUITES_FOLDER = "suites"
# Keys of a suite (or member) entry that are not study settings.
ENTRY_KEYS = ("files", "openml", "include", "source", "split", "resources", "planted", "members", "exclude",
              "prefix", "group_jobs")


@dataclass(frozen=True)
class Member:
    """One dataset of a suite."""

    name: str  # the dataset's name
    origin: str  # where its data comes from, as the summary names it
    checked: bool  # its data is checked first (check_data), so a refusal is reported, not fatal
    base: str  # the same member without planted inputs (its own name when it has none)
    planted: dict | None  # its planted inputs ({factor, kind, seed}), if any

    def to_params(self) -> dict[str, Any]:
        return {"name": self.name, "origin": self.origin, "checked": self.checked, "base": self.base,
                "planted": self.planted}


@dataclass(frozen=True)
class Suite:
    name: str
    members: tuple[Member, ...]
    excluded: tuple[tuple[str, str], ...]  # (member key, reason) left out by the config
    group_jobs: bool  # under a cluster executor, a member's jobs run as a few group jobs

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    @property
    def planted(self) -> bool:
        return any(m.planted for m in self.members)

    def to_params(self) -> dict[str, Any]:
        """What the suite's summary says of the suite itself (its rule's params)."""
        return {"suite": self.name, "members": [m.to_params() for m in self.members],
                "excluded": [list(pair) for pair in self.excluded]}


def member_key(stem: str) -> str:
    """A file stem as a dataset name: lower case, each run of other characters than
    letters and digits one `_`, and `data_` in front unless it starts with a letter."""
    key = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")
    return key if re.match(r"[a-z]", key) else f"data_{key}".rstrip("_")


@cache
def openml_list(name: str) -> tuple[int, ...]:
    """The ids of a list shipped with lthpipe (OPENML_LISTS)."""
    return tuple(yaml.load(OPENML_LISTS[name].read_text(), Loader=SAFE_LOADER)["ids"])  # noqa: S506 (a safe loader)


def expand(config: dict) -> tuple[dict[str, Suite], dict[str, dict]]:
    """The config's suites, and the dataset entry of each member from files and ids,
    by name; ConfigError when a member's entry is invalid or a name is taken twice.
    The config must already be valid against the schema."""
    datasets = config.get("datasets", {})
    taken = {name: f"the dataset {name!r}" for name in datasets}
    if config.get("suites") and SUITES_FOLDER in datasets:
        raise ConfigError(f"config key 'datasets.{SUITES_FOLDER}': artifacts/{SUITES_FOLDER}/ holds the suites' "
                          "reports; give this dataset another name")
    suites: dict[str, Suite] = {}
    entries: dict[str, dict] = {}
    for suite_name, spec in config.get("suites", {}).items():
        sources = _member_sources(suite_name, spec)
        _check_member_keys(suite_name, spec, sources)
        members = []
        for key, (origin, source) in sources.items():
            if key in spec.get("exclude", {}):
                continue
            for variant in (None, *(_with_defaults(v) for v in spec.get("planted", []))):
                name = spec.get("prefix", "") + key + _variant_suffix(variant)
                _claim(name, f"member {key!r} of suite {suite_name!r} ({origin})", taken, suite_name)
                entry = _member_entry(spec, key, source, variant)
                _validate(entry, f"suite {suite_name!r}, member {name!r} ({origin})")
                entries[name] = entry
                members.append(Member(name, origin, True, spec.get("prefix", "") + key, entry["source"].get("planted")))
        for name in spec.get("include", []):
            if name not in datasets:
                raise ConfigError(f"config key 'suites.{suite_name}.include': no dataset {name!r}; "
                                  f"configured: {', '.join(datasets) or 'none'}")
            members.append(Member(name, f"dataset {name!r}", False, name, datasets[name]["source"].get("planted")))
        excluded = tuple((key, reason) for key, reason in spec.get("exclude", {}).items())
        suites[suite_name] = Suite(suite_name, tuple(members), excluded, spec.get("group_jobs", True))
    return suites, entries


def _member_sources(suite: str, spec: dict) -> dict[str, tuple[str, dict]]:
    """Member key -> (origin, source entry before the member's own options), in order."""
    shared = spec.get("source", {})
    found: dict[str, tuple[str, dict]] = {}
    if "files" in spec:
        for path in sorted(_files(suite, spec["files"]), key=lambda p: member_key(Path(p).stem)):
            kind = FILE_KINDS[Path(path).suffix.lower()]
            key = member_key(Path(path).stem)
            if key in found:
                raise ConfigError(f"config key 'suites.{suite}.files': {found[key][0]} and {path} are both member "
                                  f"{key!r}; rename one of the files")
            options = {k: v for k, v in shared.items() if kind == "csv" or k not in CSV_ONLY}
            found[key] = (path, {"kind": kind, "path": path, **options})
    ids = spec.get("openml", [])
    for data_id in openml_list(ids) if isinstance(ids, str) else ids:
        options = {k: v for k, v in shared.items() if k not in CSV_ONLY}
        found[f"openml_{data_id}"] = (f"OpenML data_id={data_id}", {"kind": "openml", "data_id": data_id, **options})
    return found


def _files(suite: str, patterns: str | list[str]) -> list[str]:
    """Each folder's CSV and Parquet files and the files each glob (or path) matches."""
    paths: list[str] = []
    for pattern in [patterns] if isinstance(patterns, str) else patterns:
        if Path(pattern).is_dir():
            found = sorted(os.path.join(pattern, p.name) for p in Path(pattern).iterdir()
                           if p.is_file() and p.suffix.lower() in FILE_KINDS)
        else:
            found = sorted(p for p in glob.glob(pattern) if Path(p).is_file())
        if not found:
            raise ConfigError(f"config key 'suites.{suite}.files': no CSV or Parquet file in or matching "
                              f"{pattern!r} (relative to {os.getcwd()})")
        other = [p for p in found if Path(p).suffix.lower() not in FILE_KINDS]
        if other:
            raise ConfigError(f"config key 'suites.{suite}.files': {', '.join(other)} are neither CSV nor Parquet "
                              f"({', '.join(FILE_KINDS)}); narrow the pattern")
        paths += [p for p in found if p not in paths]
    return paths


def _check_member_keys(suite: str, spec: dict, sources: dict[str, tuple[str, dict]]) -> None:
    """`members` and `exclude` name members the suite has."""
    for key in ("members", "exclude"):
        unknown = [k for k in spec.get(key, {}) if k not in sources]
        if unknown:
            raise ConfigError(f"config key 'suites.{suite}.{key}': no member {', '.join(map(repr, unknown))}; "
                              f"the members are {', '.join(sources)}")


def _with_defaults(variant: dict) -> dict:
    """A planted variant with the schema's defaults filled in (its seed)."""
    schema = load_schema()
    return {**_defaults(schema["$defs"]["planted"], schema), **variant}


def _variant_suffix(variant: dict | None) -> str:
    return "" if variant is None else f"_{variant['kind']}{variant['factor']}"


def _claim(name: str, what: str, taken: dict[str, str], suite: str) -> None:
    if not NAME.match(name) or len(name) > MAX_NAME:
        raise ConfigError(f"config key 'suites.{suite}': {what} would be named {name!r}, not a dataset name "
                          f"(lower-case letters, digits and _, starting with a letter, at most {MAX_NAME}); "
                          "fix the suite's prefix: or rename the file")
    if name in taken:
        raise ConfigError(f"config key 'suites.{suite}': {what} would be named {name!r}, the name of {taken[name]}; "
                          "set the suite's prefix:, rename one of them, or exclude: the member")
    taken[name] = what


def _member_entry(spec: dict, key: str, source: dict, variant: dict | None) -> dict:
    """The dataset entry of one member: the layers of the module docstring."""
    own = spec.get("members", {}).get(key, {})
    entry = _merge(_study_keys(spec), _study_keys(own))
    entry["source"] = {**source, **own.get("source", {})}
    if variant is not None:
        entry["source"]["planted"] = dict(variant)
    for key_ in ("split", "resources"):
        merged = {**spec.get(key_, {}), **own.get(key_, {})}
        if merged:
            entry[key_] = merged
    return entry


def _study_keys(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k not in ENTRY_KEYS}


@cache
def _dataset_validator():
    schema = load_schema()
    return _strict_validator({"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/dataset"})


def _validate(entry: dict, what: str) -> None:
    error = jsonschema.exceptions.best_match(_dataset_validator().iter_errors(entry))
    if error is not None:
        raise ConfigError(f"{what}: config key '{_key(error.absolute_path)}': {error.message}")


def resolve_suites(config: dict) -> dict[str, Suite]:
    """The suites of a config that config.resolve accepted."""
    return expand(config)[0]
