from pathlib import Path

import pytest
import torch

from lthpipe import checkpoint
from lthpipe.artifacts import ArtifactError, read_json, write_json
from lthpipe.checkpoint import NetworkId, Stack
from lthpipe.model import Architecture, init_params, stack


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


def test_one_network_sliced_from_a_stack_is_saved_at_its_own_size(tmp_path):
    stacked = torch.randn(64, 1000)  # 64 networks' weights, 256 KB
    checkpoint.save(tmp_path / "one.pt", {"w0": stacked[0]}, {"stage": "export"})
    checkpoint.save(tmp_path / "alone.pt", {"w0": stacked[0].clone()}, {"stage": "export"})
    assert (tmp_path / "one.pt").stat().st_size == (tmp_path / "alone.pt").stat().st_size < 8000
    assert torch.equal(checkpoint.load(tmp_path / "one.pt")[0]["w0"], stacked[0])


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



ARCH = Architecture(4, (3, 2), 2)


def a_stack() -> Stack:
    networks = [NetworkId("rewind", 0), NetworkId("rewind", 1), NetworkId("reinit", 0, fold=1, level=2)]
    init = stack([init_params(ARCH, i, "init") for i in range(3)])
    masks = {k: v != 0 for k, v in stack([init_params(ARCH, i, "m") for i in range(3)]).items() if k.startswith("w")}
    return Stack(ARCH, networks, {"init": init, "trained": {k: v * 2 for k, v in init.items()}, "mask": masks},
                 order_state=torch.zeros(2, 5, dtype=torch.uint8))


def test_a_stack_round_trips_with_its_index_and_sections(tmp_path):
    path = tmp_path / "model.pt"
    saved_stack = a_stack()
    checkpoint.save_stack(path, saved_stack, {"stage": "retrain", "dataset": "d"}, [{"retained": 0.5}] * 3)
    loaded, record = checkpoint.load_stack(path, stage="retrain", dataset="d")
    assert loaded.arch == ARCH and loaded.networks == saved_stack.networks
    assert record["networks"][2] == {"method": "reinit", "seed": 0, "fold": 1, "level": 2, "retained": 0.5}
    assert sorted(loaded.sections) == ["init", "mask", "trained"] == record["sections"]
    for name, params in saved_stack.sections.items():
        assert all(torch.equal(params[k], loaded.sections[name][k]) for k in params)
    assert torch.equal(loaded.order_state, saved_stack.order_state)
    assert [n.seed for n in loaded.select([2, 0]).networks] == [0, 0]


def _rewrite_index(path: Path, change) -> None:
    sidecar = checkpoint.sidecar_path(path)
    record = read_json(sidecar)
    change(record)
    write_json(sidecar, record)


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r["networks"].pop(), r"init.b0 has shape \[3, 3\], the index and architecture say \[2, 3\]"),
    (lambda r: r["networks"].append(dict(r["networks"][0])), "lists a network twice"),
    (lambda r: r["architecture"].update(hidden=[3, 3]), r"init.w1 has shape \[3, 2, 3\]"),
    (lambda r: r["sections"].remove("mask"), "belongs to no section"),
    (lambda r: r.pop("networks"), "not a stack of networks"),
])
def test_a_stack_whose_index_disagrees_with_its_tensors_is_refused(tmp_path, change, message):
    path = tmp_path / "model.pt"
    checkpoint.save_stack(path, a_stack(), {"stage": "retrain", "dataset": "d"})
    _rewrite_index(path, change)
    with pytest.raises(ArtifactError, match=message) as err:
        checkpoint.load_stack(path)
    assert str(path) in str(err.value) and "rule retrain" in str(err.value)


def test_a_stack_with_a_mask_that_is_not_bool_is_not_written(tmp_path):
    bad = a_stack()
    bad.sections["mask"]["w0"] = bad.sections["mask"]["w0"].float()
    with pytest.raises(ArtifactError, match="mask.w0 has dtype torch.float32"):
        checkpoint.save_stack(tmp_path / "model.pt", bad, {"stage": "retrain"})
    assert not list(tmp_path.iterdir())
