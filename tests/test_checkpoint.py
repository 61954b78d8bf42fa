from pathlib import Path

import pytest
import torch

from lthpipe import checkpoint
from lthpipe.artifacts import ArtifactError, read_json, write_json


def saved(tmp_path: Path) -> Path:
    path = tmp_path / "dense" / "model.pt"
    checkpoint.save(path, {"init.w0": torch.randn(4, 3), "trained.w0": torch.randn(4, 3)}, {"stage": "dense", "dataset": "mnist"})
    return path


def test_round_trip_with_sidecar(tmp_path):
    path = saved(tmp_path)
    tensors, record = checkpoint.load(path, stage="dense", dataset="mnist")
    assert set(tensors) == {"init.w0", "trained.w0"}
    assert record["tensors"]["init.w0"] == {"shape": [4, 3], "dtype": "float32"}
    assert record["lthpipe_version"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.json", "model.pt"]  # no temporary left


class Exploit:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').touch()",))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = saved(tmp_path)
    torch.save({"init.w0": torch.zeros(4, 3), "payload": Exploit()}, path)
    with pytest.raises(ArtifactError, match="refused") as err:
        checkpoint.load(path)
    assert str(path) in str(err.value) and "train_dense" in str(err.value)
    assert not (tmp_path / "PWNED").exists()
    # The same file under plain pickle would have run the payload: the test is not vacuous.
    torch.load(path, weights_only=False)
    assert (tmp_path / "PWNED").exists()


def test_truncated_checkpoint_names_file_and_rule(tmp_path):
    path = saved(tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ArtifactError, match="truncated or corrupted") as err:
        checkpoint.load(path)
    assert str(path) in str(err.value) and "rule train_dense" in str(err.value)


def test_garbage_checkpoint_is_an_artifact_error(tmp_path):
    path = saved(tmp_path)
    path.write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(ArtifactError, match=str(path)):
        checkpoint.load(path)


def test_sidecar_that_disagrees_with_tensors(tmp_path):
    path = saved(tmp_path)
    torch.save({"init.w0": torch.randn(5, 3), "trained.w0": torch.randn(4, 3)}, path)
    with pytest.raises(ArtifactError, match="disagree with the sidecar"):
        checkpoint.load(path)


@pytest.mark.parametrize(("stage", "dataset", "message"), [("prune", None, "stage 'dense'"), (None, "diabetes", "dataset 'mnist'")])
def test_checkpoint_from_another_stage_or_dataset(tmp_path, stage, dataset, message):
    with pytest.raises(ArtifactError, match=message):
        checkpoint.load(saved(tmp_path), stage=stage, dataset=dataset)


def test_missing_or_broken_sidecar(tmp_path):
    path = saved(tmp_path)
    checkpoint.sidecar_path(path).write_text("{ half")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        checkpoint.load(path)
    checkpoint.sidecar_path(path).unlink()
    with pytest.raises(ArtifactError, match="missing"):
        checkpoint.load(path)


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "record.json"
    write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        write_json(target, {"a": object()})
    assert read_json(target) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]

