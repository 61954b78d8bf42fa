import importlib.util
import sys

import pytest
import torch

from lthpipe import export as export_module
from lthpipe.artifacts import read_json
from lthpipe.compact import apply_mask, compact, mlp_forward, multiply_adds
from lthpipe.export import (
    FILES,
    RUNTIMES,
    PredictionMismatch,
    ScipyCsrNetwork,
    check_predictions,
    export,
    load_compact,
    load_csr,
    runners,
    save_compact,
    save_csr,
)
from lthpipe.inference import FORMS, FULL_FILES, BenchmarkSettings, benchmark
from lthpipe.model import Architecture, init_params
from lthpipe.prune import magnitude_mask

needs_onnx = pytest.mark.skipif(
    importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None,
    reason="needs the extra: pip install 'lthpipe[export]'",
)
pytestmark = pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")

ARCHS = [Architecture(20, (16,), 5), Architecture(12, (10, 8), 4)]
FRACTIONS = [1.0, 0.2, 0.05, 0.01]  # 0.01 leaves both networks constant
PROVENANCE = {"dataset": "toy", "seed": 3}


def pruned(arch: Architecture, fraction: float):
    params = init_params(arch, seed=3, purpose="test")
    mask = magnitude_mask(params, fraction, "global")
    return apply_mask(params, mask), mask


def sample_x(arch: Architecture, n: int = 200) -> torch.Tensor:
    return torch.rand(n, arch.n_in, generator=torch.Generator().manual_seed(1))


def masked_logits(params, mask, x):
    return mlp_forward(apply_mask(params, mask), x)


@pytest.mark.parametrize("arch", ARCHS, ids=["one hidden layer", "two hidden layers"])
@pytest.mark.parametrize("fraction", FRACTIONS)
def test_the_compact_file_loads_back_and_predicts_like_the_masked_network(tmp_path, arch, fraction):
    params, mask = pruned(arch, fraction)
    network = compact(params, mask)
    save_compact(network, mask, tmp_path / "compact.pt", PROVENANCE)
    loaded = load_compact(tmp_path / "compact.pt")
    assert loaded.kept_units == network.kept_units and loaded.effective_widths == network.effective_widths
    assert torch.equal(loaded.input_index, network.input_index)
    x = sample_x(arch)
    check_predictions("compact", loaded.forward(x), masked_logits(params, mask, x))
    record = read_json(tmp_path / "compact.json")
    assert record["provenance"] == PROVENANCE
    assert record["sizes"] == list(arch.sizes)
    assert record["multiply_adds"] == multiply_adds(network, mask)


@pytest.mark.parametrize("arch", ARCHS, ids=["one hidden layer", "two hidden layers"])
@pytest.mark.parametrize("fraction", FRACTIONS)
def test_the_csr_file_holds_the_surviving_weights_and_predicts_like_the_masked_network(tmp_path, arch, fraction):
    params, mask = pruned(arch, fraction)
    save_csr(params, mask, tmp_path / "csr.pt", PROVENANCE)
    network = load_csr(tmp_path / "csr.pt")
    for i, w in enumerate(network.weights):
        assert w.layout == torch.sparse_csr and w.col_indices().dtype == torch.int32
        assert w.values().numel() == int(mask[f"w{i}"].sum())
        assert torch.equal(w.to_dense(), params[f"w{i}"])
    x = sample_x(arch)
    reference = masked_logits(params, mask, x)
    check_predictions("csr torch", network.forward(x), reference)
    check_predictions("csr scipy", torch.from_numpy(ScipyCsrNetwork.of(network).forward(x.numpy())), reference)
    assert read_json(tmp_path / "csr.json")["nnz"] == {k: int(m.sum()) for k, m in mask.items()}


def test_predictions_must_agree_in_argmax_as_well_as_within_the_tolerance():
    reference = torch.tensor([[1.0, 1.0 + 1e-6], [0.0, 1.0]])
    check_predictions("same", reference.clone(), reference)
    with pytest.raises(PredictionMismatch, match=r"flipped: 1 of 2 predictions"):
        check_predictions("flipped", torch.tensor([[1.0 + 2e-6, 1.0], [0.0, 1.0]]), reference)
    with pytest.raises(PredictionMismatch, match=r"far: 0 of 2 predictions .* up to 0\.001"):
        check_predictions("far", reference + 1e-3, reference)
    with pytest.raises(PredictionMismatch, match="nan"):
        check_predictions("nan", torch.full_like(reference, float("nan")), reference)
    # Relative to the sample's largest logit above 1: 1.2e-5 where logits reach 20 is float32
    # rounding, where they stay below 1 it is not.
    large = torch.tensor([[20.0, 0.3]])
    check_predictions("large", large + 1.2e-5, large)
    with pytest.raises(PredictionMismatch, match="small"):
        check_predictions("small", torch.tensor([[0.5, -0.4]]) + 1.2e-5, torch.tensor([[0.5, -0.4]]))


def test_without_the_extra_export_says_how_to_install_it_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` raise ImportError
    params, mask = pruned(ARCHS[0], 0.2)
    with pytest.raises(ImportError, match=r"pip install 'lthpipe\[export\]'"):
        export(params, mask, tmp_path, sample_x(ARCHS[0]), PROVENANCE)
    assert list(tmp_path.iterdir()) == []


@needs_onnx
@pytest.mark.parametrize("arch", ARCHS, ids=["one hidden layer", "two hidden layers"])
@pytest.mark.parametrize("fraction", FRACTIONS)
def test_every_exported_form_predicts_what_the_masked_network_predicts(tmp_path, arch, fraction):
    params, mask = pruned(arch, fraction)
    x = sample_x(arch)
    paths = export(params, mask, tmp_path, x, PROVENANCE)
    assert {form: p.name for form, p in paths.items()} == FILES
    reference = masked_logits(params, mask, x)
    runs = runners(tmp_path, threads=1)
    assert set(runs) == set(RUNTIMES)
    for runtime, run in runs.items():
        check_predictions(runtime, run(x), reference)


@needs_onnx
def test_the_onnx_file_is_valid_and_runs_any_batch_size_in_onnx_runtime(tmp_path):
    import onnx
    import onnxruntime

    arch = ARCHS[1]
    params, mask = pruned(arch, 0.2)
    x = sample_x(arch)
    export(params, mask, tmp_path, x, PROVENANCE)
    model = onnx.load(tmp_path / "compact.onnx")
    onnx.checker.check_model(model, full_check=True)
    assert [n.op_type for n in model.graph.node][:2] == ["Transpose", "Gather"]  # 0.2 leaves inputs unused
    (given,) = model.graph.input
    assert given.name == "x" and [d.dim_param or d.dim_value for d in given.type.tensor_type.shape.dim] == ["batch", arch.n_in]
    assert [o.name for o in model.graph.output] == ["logits"]
    session = onnxruntime.InferenceSession(str(tmp_path / "compact.onnx"), providers=["CPUExecutionProvider"])
    for n in (1, 7, len(x)):
        (logits,) = session.run(["logits"], {"x": x[:n].numpy()})
        check_predictions(f"onnx batch {n}", torch.from_numpy(logits), masked_logits(params, mask, x[:n]))


@needs_onnx
def test_a_wrong_export_raises_and_leaves_no_file_behind(tmp_path, monkeypatch):
    params, mask = pruned(ARCHS[0], 0.2)
    right = export_module.csr_tensors

    def off_by_a_little(params, mask):
        return {k: v + 1e-3 if k.endswith(".values") else v for k, v in right(params, mask).items()}

    monkeypatch.setattr(export_module, "csr_tensors", off_by_a_little)
    with pytest.raises(PredictionMismatch, match=r"csr_torch \(.*csr\.pt\)"):
        export(params, mask, tmp_path, sample_x(ARCHS[0]), PROVENANCE)
    assert list(tmp_path.iterdir()) == []


@needs_onnx
def test_the_benchmark_reports_every_form_with_its_files_size_and_multiply_adds(tmp_path):
    arch = ARCHS[0]
    dense = init_params(arch, seed=4, purpose="dense")
    params, mask = pruned(arch, 0.2)
    settings = BenchmarkSettings(threads=1, batch=16, repeats=3, latency_calls=2, warmup=1)
    threads_before = torch.get_num_threads()
    rows = benchmark(dense, params, mask, sample_x(arch), tmp_path, settings, PROVENANCE)
    assert torch.get_num_threads() == threads_before
    assert [r["form"] for r in rows] == list(FORMS)
    files = {**{runtime: FILES[form] for runtime, form in RUNTIMES.items()}, **FULL_FILES}
    compact_adds = sum(w.numel() for k, w in compact(params, mask).params.items() if k.startswith("w"))
    surviving = int(sum(m.sum() for m in mask.values()))
    expected_adds = {"dense": arch.n_weights, "masked": arch.n_weights, "compact_torch": compact_adds, "compact_onnx": compact_adds, "csr_torch": surviving, "csr_scipy": surviving}
    for row in rows:
        assert row["bytes"] == (tmp_path / files[row["form"]]).stat().st_size
        assert row["multiply_adds"] == expected_adds[row["form"]]
        assert row["latency_us_q1"] <= row["latency_us"] <= row["latency_us_q3"]
        assert 0 < row["throughput_per_s_q1"] <= row["throughput_per_s"] <= row["throughput_per_s_q3"]
        assert row["max_threads"] == 1
    assert surviving < compact_adds < arch.n_weights  # 0.2 removes units: the three counts differ


def test_benchmark_settings_refuse_nonsense():
    with pytest.raises(ValueError, match="threads"):
        BenchmarkSettings(threads=0)
    with pytest.raises(ValueError, match="warmup"):
        BenchmarkSettings(warmup=-1)


def test_file_sizes_are_the_readmes_formulas(tmp_path):
    """README: compact.pt stores 4 bytes per weight and bias and 8 per used input's
    index; csr.pt 4 + 4 bytes per surviving weight (value, int32 column) and 4 per
    row pointer, plus 4 per bias; each file adds torch's zip container: under 1 KB plus 0.5 KB
    per tensor."""
    arch = ARCHS[1]
    params, mask = pruned(arch, 0.2)
    save_compact(compact(params, mask), mask, tmp_path / "compact.pt", PROVENANCE)
    save_csr(params, mask, tmp_path / "csr.pt", PROVENANCE)
    small = compact(params, mask)
    compact_payload = 4 * sum(t.numel() for t in small.params.values()) + 8 * len(small.input_index)
    surviving = int(sum(m.sum() for m in mask.values()))
    rows = sum(m.shape[0] + 1 for m in mask.values())
    biases = sum(params[k].shape[-1] for k in params if k.startswith("b"))
    csr_payload = 8 * surviving + 4 * rows + 4 * biases
    for name, payload in (("compact.pt", compact_payload), ("csr.pt", csr_payload)):
        tensors = torch.load(tmp_path / name, weights_only=True)
        assert sum(t.numel() * t.element_size() for t in tensors.values()) == payload
        assert payload < (tmp_path / name).stat().st_size < payload + 1024 + 512 * len(tensors)
