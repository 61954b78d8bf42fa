"""Rows to folds, shared by every kind: seeded train/validation/test indices
(stratified or not, shuffle or k-fold), imputation of missing cells and
standardization with each fold's training statistics, one-hot encoding of
categorical columns, and the record.

Randomness, all from generators seeded by derive_seed(seed, purpose), never the
global RNG: fold k of the shuffle scheme permutes the rows with purpose "split"
for k = 0 (the permutation lthpipe always used) and f"split{k}" after. k-fold
deals the rows of the "split" permutation to the folds, and fold k draws its
validation rows from the others in a permutation with purpose f"kfold{k}/val".

Stratified rounding: each class keeps its rows' order in that permutation. The
test split takes round(n * test_fraction) rows in all, shared between classes by
the largest-remainder method (each class gets its quota n_c * n_test / n rounded
down, then the rows still missing go one each to the classes with the largest
remainders, ties to the lower class index), so the total is exact and each
class is off its quota by less than one row. Validation is shared the same way
between the rows the test split left, and training takes the rest. Without
stratification all rows are one class, which gives test = the first n_test rows
of the permutation, validation the next n_val, training the rest.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import torch

from lthpipe.datasets.base import DataError, Dataset, PlantedSettings, Splits, SplitSettings
from lthpipe.model import derive_seed

# Parts in the order rows are dealt to them: test first, as lthpipe always did.
PARTS = ("test", "validation", "training")


@dataclass(frozen=True)
class Facts:
    """What a kind knows about its data beyond the tensors; the record reports it."""

    kind: str
    source: str  # where the rows came from, as messages name it ("data/x.csv")
    feature_names: list[str]
    class_names: list[str]  # class index -> label, as text
    labels: str  # one line: how the labels were made
    dropped: dict = field(default_factory=lambda: {"rows": 0, "why": ""})
    image_shape: list[int] | None = None
    ignored: list[str] = field(default_factory=list)  # columns of the source that are not features
    missing: dict = field(default_factory=dict)  # tables: missing cells found and what was done (frames.py)
    left_out_classes: dict[str, int] = field(default_factory=dict)  # label -> rows, of classes too small to keep
    planted: dict | None = None  # planted irrelevant inputs: what they are and which columns (datasets/planted.py)


@dataclass(frozen=True)
class Table:
    """A tabular dataset's rows before splitting."""

    facts: Facts  # feature_names names the columns of x; one-hot columns get theirs when encoded
    x: torch.Tensor  # (n, d) float32 numeric features
    y: torch.Tensor  # (n,) int64 class of each row; stratification balances it
    categorical: dict[str, list[str | None]] = field(default_factory=dict)  # column -> (n,) category per row
    # Missing cells (NaN in x, None in categorical) to fill per fold from its training rows.
    impute: bool = False
    # Training rows -> (n,) labels of all rows, for labels that must not see
    # validation or test rows (a threshold fitted on training); y stays the strata.
    relabel: Callable[[torch.Tensor], torch.Tensor] | None = None
    # Irrelevant inputs to append after encoding, drawn before the split (datasets/planted.py).
    planted: PlantedSettings | None = None


@dataclass(frozen=True)
class Partition:
    train: torch.Tensor  # (n_train,) row indices
    val: torch.Tensor  # (n_val,)
    test: torch.Tensor  # (n_test,)


def tabular_dataset(name: str, table: Table, split: SplitSettings) -> Dataset:
    """Split, encode and standardize a table into its folds."""
    strata = table.y if split.stratify else torch.zeros_like(table.y)
    partitions = partition(strata, split, table.facts)
    # One vocabulary, from fold 0's training rows, so every fold has the same features.
    vocabulary = vocabularies(table, partitions[0].train)
    raw, fills, planted = [], [], None
    for p in partitions:
        filled, fill = impute(table, p.train) if table.impute else (table, {})
        x, feature_names = one_hot_encode(filled, vocabulary)  # (n, d')
        if table.planted is not None:
            from lthpipe.datasets.planted import plant

            # Every row's planted cells, fixed before the split; labels never read.
            x, feature_names, planted = plant(x, feature_names, table.planted)  # (n, d' (1 + factor))
        raw.append(_select(x, _labels(table, p.train), p))
        fills.append(fill)
    facts = replace(table.facts, feature_names=feature_names, planted=planted)
    if table.impute:
        facts = replace(facts, missing={**facts.missing, "imputed_with": fills})
    return assemble(name, facts, raw, per_feature=True, split_record=split_record(split))


def _labels(table: Table, train: torch.Tensor) -> torch.Tensor:
    return table.y if table.relabel is None else table.relabel(train)


def _select(x: torch.Tensor, y: torch.Tensor, p: Partition) -> Splits:
    return Splits(x[p.train], y[p.train], x[p.val], y[p.val], x[p.test], y[p.test])


def split_record(split: SplitSettings) -> dict:
    return {
        "scheme": split.scheme,
        "folds": split.resplits,
        "stratify": split.stratify,
        "seed": split.seed,
        "fractions": {"val": split.val_fraction, "test": split.effective_test_fraction},
    }


def partition(strata: torch.Tensor, split: SplitSettings, facts: Facts) -> list[Partition]:
    """Row indices of each fold's splits; strata (n,) holds the class to balance, one
    value for all rows when not stratified."""
    _check_sizes(strata.shape[0], split, facts.source)
    if split.scheme == "kfold":
        return _kfold(strata, split, facts)
    n = strata.shape[0]
    counts = torch.bincount(strata).tolist()
    # The shares depend on the class counts only, so every fold uses the same ones.
    shares = _allocate(counts, (round(n * split.test_fraction), round(n * split.val_fraction)))
    _check_shares(shares, counts, split, facts)
    return [_shuffle(strata, shares, permutation(n, split.seed, _fold_purpose(k))) for k in range(split.resplits)]


def _fold_purpose(fold: int) -> str:
    # Fold 0 keeps the purpose lthpipe's single split always used, so it reproduces it.
    return "split" if fold == 0 else f"split{fold}"


def permutation(n: int, seed: int, purpose: str = "split") -> torch.Tensor:
    """(n,) a seeded permutation of range(n), from its own generator."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(seed, purpose)))


def _shuffle(strata: torch.Tensor, shares: list[list[int]], order: torch.Tensor) -> Partition:
    part = _assign(strata[order], shares)  # (n,) 0 test, 1 validation, 2 training
    return Partition(train=order[part == 2], val=order[part == 1], test=order[part == 0])


def _kfold(strata: torch.Tensor, split: SplitSettings, facts: Facts) -> list[Partition]:
    """K disjoint test sets covering every row; validation drawn from the other rows."""
    n = strata.shape[0]
    counts = torch.bincount(strata).tolist()
    order = permutation(n, split.seed, _fold_purpose(0))  # (n,)
    fold = _deal(strata[order], split.resplits)  # (n,) fold of each row of `order`
    partitions = []
    for k in range(split.resplits):
        test, rest = order[fold == k], order[fold != k]
        rest = rest[permutation(rest.shape[0], split.seed, f"kfold{k}/val")]
        test_shares = torch.bincount(strata[test], minlength=len(counts)).tolist()
        rest_counts = torch.bincount(strata[rest], minlength=len(counts)).tolist()
        rest_shares = _allocate(rest_counts, (round(n * split.val_fraction),))
        _check_shares([test_shares, *rest_shares], counts, split, facts)
        part = _assign(strata[rest], rest_shares)  # (n - n_test,) 0 validation, 1 training
        partitions.append(Partition(train=rest[part == 1], val=rest[part == 0], test=test))
    return partitions


def _deal(strata: torch.Tensor, k_folds: int) -> torch.Tensor:
    """Fold of each row: rows in class-major order, dealt to the folds in turn, so fold k
    holds n_c / K (+-1) rows of each class c and fold sizes differ by one row at most."""
    counts = torch.bincount(strata)
    starts = counts.cumsum(0) - counts  # first class-major position of each class
    return (starts[strata] + _rank_within(strata)) % k_folds


def _assign(strata: torch.Tensor, shares: list[list[int]]) -> torch.Tensor:
    """Part of each row: each class's first shares[0][c] rows, in the given order, go to
    part 0, its next shares[1][c] rows to part 1, and so on."""
    bounds = torch.tensor(shares[:-1]).T.cumsum(1)  # (classes, parts - 1) where each part ends
    rank = _rank_within(strata)  # (n,)
    return (rank.unsqueeze(1) >= bounds[strata]).sum(1)


def _rank_within(strata: torch.Tensor) -> torch.Tensor:
    """(n,) position of each row among the rows of its class, in the given order."""
    order = torch.argsort(strata, stable=True)
    counts = torch.bincount(strata)
    starts = counts.cumsum(0) - counts
    rank = torch.empty_like(strata)
    rank[order] = torch.arange(strata.shape[0]) - starts[strata[order]]
    return rank


def _allocate(counts: list[int], sizes: tuple[int, ...]) -> list[list[int]]:
    """Rows of each class per part: each of `sizes` is shared between the rows the earlier
    parts left, and the last part takes the rest. Sharing what is left (not all rows)
    keeps every class's shares within its rows, whatever the fractions."""
    left = list(counts)
    shares = []
    for size in sizes:
        share = _apportion(left, size)
        shares.append(share)
        left = [a - b for a, b in zip(left, share)]
    return [*shares, left]


def _apportion(weights: list[int], total: int) -> list[int]:
    """Largest remainder: total split in proportion to weights, summing to total exactly."""
    whole = sum(weights)
    shares = [w * total // whole for w in weights]  # exact integer floors of the quotas
    remainders = [w * total % whole for w in weights]
    for i in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _check_shares(shares: list[list[int]], counts: list[int], split: SplitSettings, facts: Facts) -> None:
    """A stratified split must give every class rows in every part (shares[part][class]);
    without stratification there is one class and _check_sizes already ensured that."""
    if not split.stratify:
        return
    for part, part_shares in zip(PARTS, shares):
        for c, share in enumerate(part_shares):
            if share == 0:
                rows, need = f"{counts[c]} row{'' if counts[c] == 1 else 's'}", _rows_per_class(split)
                raise DataError(
                    f"{facts.source}: class {facts.class_names[c]!r} has only {rows}, too few for a stratified split: "
                    f"it would get no {part} rows. Give each class at least {need} rows, leave out the classes with "
                    f"fewer (min_class_rows: {need}), or set stratify: false."
                )


def _rows_per_class(split: SplitSettings) -> int:
    """Rows a class needs so that its proportional share of the smallest part is one row (roughly)."""
    fractions = (split.effective_test_fraction, split.val_fraction)
    return math.ceil(1 / min(*fractions, 1 - sum(fractions)))


def _check_sizes(n: int, split: SplitSettings, source: str) -> None:
    """Every split of every fold needs at least one row."""
    n_test, n_val, n_train = _smallest_parts(n, split)
    if min(n_test, n_val, n_train) >= 1:
        return
    if split.scheme == "kfold":
        test_need = f"{split.resplits} folds need {split.resplits} rows"
    else:
        test_need = f"test_fraction {split.test_fraction} needs {_rows_for_one(split.test_fraction)} rows"
    raise DataError(
        f"{source}: {n} rows are too few to split: they give {n_test} test, {n_val} validation and "
        f"{n_train} training rows, and every split needs at least one row ({test_need} for one test row, "
        f"val_fraction {split.val_fraction} needs {_rows_for_one(split.val_fraction)} for one validation row, "
        "and training takes what remains). Add rows or change the fractions."
    )


def _smallest_parts(n: int, split: SplitSettings) -> tuple[int, int, int]:
    """(test, validation, training) rows of the fold where each is smallest."""
    n_val = round(n * split.val_fraction)
    if split.scheme == "kfold":
        # Folds hold n // K or n // K + 1 rows; the largest leaves the least for training.
        return n // split.resplits, n_val, n - math.ceil(n / split.resplits) - n_val
    n_test = round(n * split.test_fraction)
    return n_test, n_val, n - n_test - n_val


def _rows_for_one(fraction: float) -> int:
    return next(m for m in itertools.count(1) if round(m * fraction) >= 1)


def sorted_labels(values: Iterable[str]) -> list[str]:
    """Distinct labels in sorted order: numeric order when all are numbers."""
    unique = set(values)
    try:
        return sorted(unique, key=float)
    except ValueError:
        return sorted(unique)


def impute(table: Table, train: torch.Tensor) -> tuple[Table, dict[str, float | str]]:
    """The table with every missing cell filled from the rows `train` alone (one fold's
    training split, so no validation or test row moves a value): a numeric column's
    median (the mean of the two middle values for an even count), a categorical
    column's most frequent value (the first in sorted order on ties). Also the value
    used, per column that had missing cells."""
    x = table.x.clone()  # (n, d)
    gaps = torch.isnan(x)  # (n, d)
    fills: dict[str, float | str] = {}
    for j in gaps.any(0).nonzero().flatten().tolist():
        name = table.facts.feature_names[j]
        given = table.x[train, j]  # (n_train,)
        given = given[~torch.isnan(given)]
        if not given.numel():
            raise _nothing_to_impute_from(table.facts.source, name)
        fills[name] = _median(given)
        x[gaps[:, j], j] = fills[name]
    categorical = {}
    for column, values in table.categorical.items():
        if None in values:
            seen = Counter(values[i] for i in train.tolist() if values[i] is not None)
            if not seen:
                raise _nothing_to_impute_from(table.facts.source, column)
            # max keeps the first on ties. Should another fold's vocabulary lack this
            # value, one_hot_encode gives the cell zeros, as for any unseen category.
            fills[column] = max(sorted_labels(seen), key=seen.__getitem__)
            values = [fills[column] if v is None else v for v in values]
        categorical[column] = values
    return replace(table, x=x, categorical=categorical), fills


def _median(values: torch.Tensor) -> float:
    ordered = values.double().sort().values  # (m,)
    m = ordered.shape[0]
    return ((ordered[(m - 1) // 2] + ordered[m // 2]) / 2).item()


def _nothing_to_impute_from(source: str, column: str) -> DataError:
    return DataError(
        f"{source}: column {column!r} has no value in some fold's training rows to impute its missing cells from; "
        "leave the column out with ignore:, or set missing: drop."
    )


def vocabularies(table: Table, train: torch.Tensor) -> dict[str, list[str]]:
    """Each categorical column's categories seen in the training rows, missing cells aside."""
    rows = train.tolist()
    return {
        column: sorted_labels(values[i] for i in rows if values[i] is not None)
        for column, values in table.categorical.items()
    }


def one_hot_encode(table: Table, vocabulary: dict[str, list[str]]) -> tuple[torch.Tensor, list[str]]:
    """x with one 0/1 column per category of `vocabulary`, per categorical column; a
    category outside it is all zeros."""
    blocks, names = [table.x], list(table.facts.feature_names)
    for column, values in table.categorical.items():
        index = {v: i for i, v in enumerate(vocabulary[column])}
        codes = torch.tensor([index.get(v, -1) for v in values])  # (n,), -1 when unseen
        blocks.append((codes.unsqueeze(1) == torch.arange(len(index))).float())  # (n, categories)
        names += [f"{column}={v}" for v in vocabulary[column]]
    return torch.cat(blocks, 1), names


def standardize(raw: Splits, per_feature: bool) -> tuple[Splits, dict]:
    """Scale with training-split statistics. Images use one scalar mean/std, since
    per-pixel std is zero at the always-blank border; per feature, std is clamped
    so a constant column stays finite."""
    if per_feature:
        mean, std = raw.x_train.mean(0), raw.x_train.std(0).clamp_min(1e-8)  # (d,), (d,)
    else:
        mean, std = raw.x_train.mean(), raw.x_train.std()  # scalars
    scaled = Splits(
        (raw.x_train - mean) / std, raw.y_train, (raw.x_val - mean) / std, raw.y_val, (raw.x_test - mean) / std, raw.y_test
    )
    return scaled, {"mean": mean.tolist(), "std": std.tolist(), "fitted_on": "train"}


def assemble(name: str, facts: Facts, raw: list[Splits], per_feature: bool, split_record: dict) -> Dataset:
    """Standardize each fold with its own training statistics and write the record."""
    folds, normalization = zip(*(standardize(fold, per_feature) for fold in raw))
    record = {
        "kind": facts.kind,
        "source": facts.source,
        "n_features": len(facts.feature_names),
        "n_classes": len(facts.class_names),
        "feature_names": facts.feature_names,
        "image_shape": facts.image_shape,
        "labels": facts.labels,
        "dropped": facts.dropped,
        "ignored": facts.ignored,
        "missing": facts.missing,
        "left_out_classes": facts.left_out_classes,
        # Only where there are planted inputs, so every other record stays as it was.
        **({"planted": facts.planted} if facts.planted is not None else {}),
        "classes": [_class_counts(fold, facts.class_names) for fold in folds],
        "n_train": [fold.x_train.shape[0] for fold in folds],
        "n_val": [fold.x_val.shape[0] for fold in folds],
        "n_test": [fold.x_test.shape[0] for fold in folds],
        "normalization": list(normalization),
        **split_record,
    }
    return Dataset(name=name, folds=list(folds), record=record)


def _class_counts(fold: Splits, class_names: list[str]) -> dict[str, dict[str, int]]:
    """label -> its index and its rows per split."""
    labels = {"train": fold.y_train, "val": fold.y_val, "test": fold.y_test}
    counts = {split: torch.bincount(y, minlength=len(class_names)).tolist() for split, y in labels.items()}
    return {label: {"index": i, **{split: c[i] for split, c in counts.items()}} for i, label in enumerate(class_names)}
