"""Exports of one pruned network (params + mask) into a folder, each one checked
to predict what the masked network predicts.

- ``compact.pt`` (+ ``compact.json``): the compact network of ``lthpipe.compact``,
  weights-only, described by its sidecar (architecture, kept units, input index,
  sizes, multiply-adds, the caller's provenance).
- ``compact.onnx``: the same network as an ONNX graph built directly with
  ``onnx.helper``: a Gather of the used inputs (skipped when all are used),
  then Gemm/Relu layers; its metadata carries the same description.
- ``csr.pt`` (+ ``csr.json``): the masked network with every weight matrix in
  CSR form (row pointers, column indices, values) beside its dense bias.

ONNX and ONNX Runtime are the optional extra ``lthpipe[export]`` and are
imported only when needed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse
import torch

from lthpipe import checkpoint
from lthpipe.artifacts import sidecar_path, write_bytes
from lthpipe.compact import CompactNetwork, apply_mask, architecture_of, compact, mlp_forward, multiply_adds
from lthpipe.model import Architecture, Params, weight_names
from lthpipe.prune import Mask, check_mask, retained_fraction

STAGE = "export"
FILES = {"compact": "compact.pt", "onnx": "compact.onnx", "csr": "csr.pt"}  # form -> file in the export folder
RUNTIMES = {"compact_torch": "compact", "compact_onnx": "onnx", "csr_torch": "csr", "csr_scipy": "csr"}  # runtime -> form
# Largest logit difference from the masked network, relative to the largest logit of the
# same sample (absolute below 1): float32 sums of hundreds of products, taken in another
# order by another runtime, differ by about 1e-6 of the values summed (1.2e-5 seen on
# MNIST samples whose logits reach 20).
TOLERANCE = 1e-5
ONNX_OPSET = 17
ONNX_IR_VERSION = 8  # the IR version of opset 17, so runtimes older than this onnx package load the file

Runner = Callable[[torch.Tensor], torch.Tensor]  # x (B, n_in) float32 -> logits (B, n_out)


class PredictionMismatch(RuntimeError):
    """An exported form that does not compute what the masked network computes."""


def onnx_modules() -> tuple[ModuleType, ModuleType]:
    """onnx and onnxruntime, imported on first use: they are an optional extra."""
    try:
        import onnx
        import onnxruntime
    except ImportError as err:
        raise ImportError(f"ONNX export needs onnx and onnxruntime ({err}): pip install 'lthpipe[export]'") from err
    return onnx, onnxruntime


def _architecture(sizes: list[int]) -> Architecture:
    return Architecture(sizes[0], tuple(sizes[1:-1]), sizes[-1])


def _description(network: CompactNetwork, mask: Mask, provenance: dict[str, Any]) -> dict[str, Any]:
    """What the compact network is and where it came from, for its sidecar and the ONNX metadata."""
    return {
        "stage": STAGE,
        "form": "compact",
        "sizes": list(network.arch.sizes),
        "compact_sizes": list(architecture_of(network.params).sizes),
        "effective_widths": list(network.effective_widths),
        "n_inputs_used": network.n_inputs_used,
        "kept_units": [list(units) for units in network.kept_units],
        "input_index": network.input_index.tolist(),
        "retained": retained_fraction(mask),
        "multiply_adds": multiply_adds(network, mask),
        "provenance": provenance,
    }


def save_compact(network: CompactNetwork, mask: Mask, path: Path, provenance: dict[str, Any]) -> None:
    checkpoint.save(path, {**network.params, "input_index": network.input_index}, _description(network, mask, provenance))


def load_compact(path: Path) -> CompactNetwork:
    tensors, record = checkpoint.load(path, stage=STAGE)
    input_index = tensors.pop("input_index")
    return CompactNetwork(
        arch=_architecture(record["sizes"]),
        params=tensors,
        input_index=input_index,
        kept_units=tuple(tuple(units) for units in record["kept_units"]),
        effective_widths=tuple(record["effective_widths"]),
        n_inputs_used=record["n_inputs_used"],
    )


def onnx_model(network: CompactNetwork, description: dict[str, Any]) -> Any:
    """The compact network as an ONNX ModelProto: x (batch, n_in) -> logits (batch, n_out)."""
    onnx, _ = onnx_modules()
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    weights = [network.params[k] for k in weight_names(network.params)]  # (out_i, in_i)
    initializers, nodes = [], []
    h0, trans_a = "x", 0  # the first Gemm reads x (batch, n_in) as it is
    if network.gathers_inputs:
        # ORT's Gather along axis 1 copies one element at a time (12 ms for a batch of
        # 1024 x 784, 6x the Gemm); along axis 0 of the transposed batch it copies rows.
        initializers.append(numpy_helper.from_array(network.input_index.numpy(), "input_index"))
        nodes.append(helper.make_node("Transpose", ["x"], ["x_t"], perm=[1, 0]))  # (n_in, batch)
        nodes.append(helper.make_node("Gather", ["x_t", "input_index"], ["h0_t"], axis=0))  # (n_used, batch)
        h0, trans_a = "h0_t", 1  # which the first Gemm reads transposed
    for i, w in enumerate(weights):
        initializers += [numpy_helper.from_array(w.numpy(), f"w{i}"), numpy_helper.from_array(network.params[f"b{i}"].numpy(), f"b{i}")]
        last = i == len(weights) - 1
        out = "logits" if last else f"z{i}"
        h = h0 if i == 0 else f"h{i}"
        nodes.append(helper.make_node("Gemm", [h, f"w{i}", f"b{i}"], [out], transA=trans_a if i == 0 else 0, transB=1))  # h @ w.T + b: (batch, out_i)
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"h{i + 1}"]))
    graph = helper.make_graph(
        nodes,
        "lthpipe_compact",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", network.arch.n_in])],
        [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["batch", network.arch.n_out])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)], producer_name="lthpipe")
    model.ir_version = ONNX_IR_VERSION
    helper.set_model_props(model, {"lthpipe": json.dumps(description, sort_keys=True)})
    onnx.checker.check_model(model, full_check=True)
    return model


def save_onnx(network: CompactNetwork, mask: Mask, path: Path, provenance: dict[str, Any]) -> None:
    write_bytes(path, onnx_model(network, _description(network, mask, provenance)).SerializeToString())


def onnx_session(path: Path, threads: int) -> Any:
    """An ONNX Runtime CPU session pinned to `threads` threads inside an operator
    and one between operators (the graph is a chain, nothing runs in parallel)."""
    _, ort = onnx_modules()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle worker threads sleep instead of spinning, which would steal the cores
    # from whatever runs next (another form being timed, other users' jobs).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def csr_tensors(params: Params, mask: Mask) -> dict[str, torch.Tensor]:
    """Every weight matrix as CSR arrays over its surviving weights (kept even
    where a value happens to be 0, so the count is the mask's), int32 indices
    as SciPy uses them; biases dense."""
    check_mask(mask, params)
    tensors = {}
    for i, name in enumerate(weight_names(params)):
        m = mask[name]  # (out, in)
        tensors[f"{name}.crow_indices"] = torch.cat([torch.zeros(1, dtype=torch.int32), m.sum(1).cumsum(0).to(torch.int32)])  # (out+1,)
        tensors[f"{name}.col_indices"] = m.nonzero()[:, 1].to(torch.int32)  # (nnz,), row by row like the values
        tensors[f"{name}.values"] = params[name][m]  # (nnz,)
        tensors[f"b{i}"] = params[f"b{i}"]
    return tensors


def save_csr(params: Params, mask: Mask, path: Path, provenance: dict[str, Any]) -> None:
    checkpoint.save(path, csr_tensors(params, mask), {
        "stage": STAGE,
        "form": "csr",
        "sizes": list(architecture_of(params).sizes),
        "nnz": {k: int(mask[k].sum()) for k in weight_names(params)},
        "retained": retained_fraction(mask),
        "provenance": provenance,
    })


@dataclass(frozen=True)
class CsrNetwork:
    """The masked network with torch sparse CSR weights (out, in) and dense biases (out,)."""

    weights: tuple[torch.Tensor, ...]
    biases: tuple[torch.Tensor, ...]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_out) for x (B, n_in); feature-major inside, as a sparse
        matrix multiplies a dense one from the left."""
        h = x.t()  # (n_in, B)
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.addmm(b[:, None], w, h)  # (out_i, B)
            if i < len(self.weights) - 1:
                h = h.relu_()
        return h.t()


@dataclass(frozen=True)
class ScipyCsrNetwork:
    """The same CSR arrays as SciPy matrices, sharing the tensors' memory. SciPy's
    sparse-dense product is single-threaded whatever the thread settings."""

    weights: tuple[scipy.sparse.csr_array, ...]
    biases: tuple[np.ndarray, ...]  # (out, 1), to broadcast over the batch

    @classmethod
    def of(cls, network: CsrNetwork) -> ScipyCsrNetwork:
        weights = tuple(
            scipy.sparse.csr_array((w.values().numpy(), w.col_indices().numpy(), w.crow_indices().numpy()), shape=w.shape)
            for w in network.weights
        )
        return cls(weights, tuple(b.numpy()[:, None] for b in network.biases))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits (B, n_out) for x (B, n_in)."""
        h = np.ascontiguousarray(x.T)  # (n_in, B): the sparse product wants C-order on the right
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = w @ h  # (out_i, B)
            h += b
            if i < len(self.weights) - 1:
                np.maximum(h, 0, out=h)
        return h.T


def load_csr(path: Path) -> CsrNetwork:
    tensors, record = checkpoint.load(path, stage=STAGE)
    sizes = record["sizes"]
    weights, biases = [], []
    for i in range(len(sizes) - 1):
        parts = [tensors[f"w{i}.{part}"] for part in ("crow_indices", "col_indices", "values")]
        weights.append(torch.sparse_csr_tensor(*parts, size=(sizes[i + 1], sizes[i]), check_invariants=True))
        biases.append(tensors[f"b{i}"])
    return CsrNetwork(tuple(weights), tuple(biases))


def runners(folder: Path, threads: int) -> dict[str, Runner]:
    """Every runtime of RUNTIMES on the files of an export folder. `threads` pins
    ONNX Runtime's session; torch's thread count is global, the caller's to set."""
    folder = Path(folder)
    network = load_compact(folder / FILES["compact"])
    session = onnx_session(folder / FILES["onnx"], threads)
    csr = load_csr(folder / FILES["csr"])
    csr_scipy = ScipyCsrNetwork.of(csr)
    return {
        "compact_torch": network.forward,
        "compact_onnx": lambda x: torch.from_numpy(session.run(["logits"], {"x": x.numpy()})[0]),
        "csr_torch": csr.forward,
        "csr_scipy": lambda x: torch.from_numpy(csr_scipy.forward(x.numpy())),
    }


def check_predictions(name: str, logits: torch.Tensor, reference: torch.Tensor) -> None:
    """Raise unless every prediction is the reference's and every logit within TOLERANCE
    of it, relative to the sample's largest logit when that exceeds 1."""
    scale = reference.abs().amax(1, keepdim=True).clamp_min(1)  # (B, 1)
    diff = float(((logits - reference).abs() / scale).max())
    flips = int((logits.argmax(1) != reference.argmax(1)).sum())
    if not diff <= TOLERANCE or flips:  # `not <=` so that NaN fails too
        raise PredictionMismatch(
            f"{name}: {flips} of {len(reference)} predictions differ from the masked network's, "
            f"logits by up to {diff:.3g} of the sample's largest (tolerance {TOLERANCE})"
        )


def export(params: Params, mask: Mask, folder: Path, x: torch.Tensor, provenance: dict[str, Any]) -> dict[str, Path]:
    """Write every form of FILES into `folder` and check that each runtime predicts
    on x (B, n_in) what the masked network predicts; the paths, by form.
    On a mismatch no file of the export is left behind."""
    onnx_modules()  # fail before writing anything when the extra is missing
    paths = {form: Path(folder) / name for form, name in FILES.items()}
    network = compact(params, mask)
    save_compact(network, mask, paths["compact"], provenance)
    save_onnx(network, mask, paths["onnx"], provenance)
    save_csr(params, mask, paths["csr"], provenance)
    reference = mlp_forward(apply_mask(params, mask), x)  # (B, n_out)
    try:
        for runtime, run in runners(folder, threads=1).items():
            check_predictions(f"{runtime} ({paths[RUNTIMES[runtime]]})", run(x), reference)
    except PredictionMismatch as err:
        for path in paths.values():
            path.unlink(missing_ok=True)
            sidecar_path(path).unlink(missing_ok=True)
        raise PredictionMismatch(f"{err}; the export's files in {folder} were removed") from None
    return paths
