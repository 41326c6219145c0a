"""Fitted pipelines as ONNX graphs, from the waveform to the anomaly score.

:func:`to_onnx` turns a fitted :class:`sklasd.pipeline.Pipeline` into one ONNX graph:
the log-mel front end (an FFT as matrix products and a constant mel matrix), the spectrogram
scaling, frame stacking or temporal pooling, and the detector or classifier (torch
modules through ``torch.onnx.export``, scikit-learn models through skl2onnx where it
has a converter, ONNX operators of our own for the rest). :class:`OnnxModel` scores
audio with such a graph through onnxruntime only (no torch, no scikit-learn model,
nothing unpickled); :func:`quantize_int8` stores the weights of the neural network of
a graph as int8.

An ONNX file is data (a protobuf of operators and constants): loading one runs no code,
unlike a sklasd model file (a pickle).

Graph interface (every exported model):

- input ``waveform``: float32 ``(n_clips, n_samples)``, samples in [-1, 1] at the
  model's sample rate; ``n_samples`` fixed (``metadata_props["n_samples"]``) or free
  (empty) where every step allows it.
- detectors: outputs ``anomaly_score`` (float64 ``(n_clips,)``, higher = more
  anomalous, sklasd's ``anomaly_score``) and ``is_anomaly`` (bool, score above the
  threshold: sklasd's ``predict == -1``).
- classifiers: outputs ``probabilities`` (float64 ``(n_clips, n_classes)``) and
  ``label`` (int64 index into the JSON list ``metadata_props["classes"]``).
- ``metadata_props``: ``sklasd_version``, ``kind``, ``sr``, ``n_samples``,
  ``min_samples``, ``duration``, ``pad``, ``channel``, ``threshold``,
  ``machine_type``, ``machine_id``, ``classes``, ``steps``.
"""

import io
import json
import logging
import os
import warnings

import numpy as np

__all__ = ["ExportError", "OnnxModel", "to_onnx", "save_onnx", "quantize_int8",
           "load_onnx_models"]

#: The default ONNX opset (15 at least: ``Shape`` with ``start`` and ``end``).
DEFAULT_OPSET = 17

# node-name prefix of the inlined neural networks: the nodes :func:`quantize_int8` quantizes
_NET = "net"


class ExportError(ValueError):
    """A pipeline, or a step of it, that cannot be exported to ONNX (one line)."""


# ----------------------------------------------------------------- graph builder
class _Graph:
    """Nodes and constants of one ONNX graph under construction.

    ``op`` adds a node and returns its output name(s); ``const`` adds a constant;
    ``inline`` copies another model's graph in (its names prefixed), fed by tensors of
    this one. ``static`` carries what later steps need to know about the tensors
    (``n_frames`` when the clip length is fixed).
    """

    def __init__(self, opset):
        self.opset = opset
        self.nodes, self.initializers = [], []
        self.domains = {"": opset}
        self.static = {}
        self._count = 0

    def _name(self, hint):
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value, dtype=None, hint="const"):
        from onnx import numpy_helper

        name = self._name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def ints(self, *values):
        return self.const(np.array(values, dtype=np.int64), hint="ints")

    def op(self, op_type, *inputs, n_out=1, **attrs):
        from onnx import helper

        outputs = [self._name(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outputs,
                                           name=self._name(op_type), **attrs))
        return outputs[0] if n_out == 1 else outputs

    def reduce(self, op_type, x, axes, keepdims=0):
        """``Reduce*`` over ``axes``: an attribute before opset 18, an input from it
        (ReduceSum: from opset 13)."""
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, x, self.ints(*axes), keepdims=keepdims)
        return self.op(op_type, x, axes=list(axes), keepdims=keepdims)

    def dim(self, x, axis):
        """``x.shape[axis]`` as a 1-D int64 tensor of one element."""
        if axis == -1:
            return self.op("Shape", x, start=-1)
        return self.op("Shape", x, start=axis, end=axis + 1)

    def cast(self, x, to):
        from onnx import TensorProto

        return self.op("Cast", x, to={"float": TensorProto.FLOAT,
                                      "double": TensorProto.DOUBLE}[to])

    def inline(self, model, inputs, tag):
        """Copy ``model``'s graph in, fed by ``inputs``; return its output names.

        Its names get a fresh prefix starting with ``tag``; a model of another opset
        is converted to this graph's first.
        """
        from onnx import compose, helper, version_converter

        version = {o.domain: o.version for o in model.opset_import}.get("", self.opset)
        if version != self.opset:
            model = version_converter.convert_version(model, self.opset)
        model = compose.add_prefix(model, self._name(tag) + "/")
        graph = model.graph
        feeds = [i for i in graph.input
                 if i.name not in {t.name for t in graph.initializer}]
        for source, target in zip(inputs, feeds):
            self.nodes.append(helper.make_node("Identity", [source], [target.name],
                                               name=target.name + "/feed"))
        self.nodes.extend(graph.node)
        self.initializers.extend(graph.initializer)
        for opset in model.opset_import:
            if opset.domain not in ("", "ai.onnx"):
                self.domains[opset.domain] = max(self.domains.get(opset.domain, 0),
                                                 opset.version)
        return [o.name for o in graph.output]

    def model(self, inputs, outputs, metadata, doc):
        from onnx import checker, helper

        graph = helper.make_graph(self.nodes, "sklasd", inputs, outputs, self.initializers)
        opsets = [helper.make_opsetid(d, v) for d, v in self.domains.items()]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="sklasd",
                                  doc_string=doc)
        model.ir_version = helper.find_min_ir_version_for(opsets)
        helper.set_model_props(model, metadata)
        checker.check_model(model)
        return model


def _torch_to_onnx(module, example, g, output_names, dynamic):
    """``module`` (a copy, on the CPU, in eval mode) as an ONNX model with dynamic
    axes ``dynamic`` (the first always), through torch's TorchScript-based exporter."""
    import copy

    import onnx
    import torch

    module = copy.deepcopy(module).cpu().eval()
    axes = {a: f"d{a}" for a in (0, *dynamic)}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (example,), buffer, dynamo=False, opset_version=g.opset,
            input_names=["x"], output_names=output_names,
            dynamic_axes={"x": axes, **{n: axes for n in output_names}})
    return onnx.load_from_string(buffer.getvalue())


def _net(g, module, x, shape, output_names=("y",), dynamic=()):
    """The outputs of the torch ``module`` applied to ``x``, float32 of shape
    ``(n, *shape)`` (axes ``dynamic`` of any length too)."""
    import torch

    example = torch.zeros(2, *np.atleast_1d(shape), dtype=torch.float32)
    model = _torch_to_onnx(module, example, g, list(output_names), dynamic)
    return g.inline(model, [x], _NET)


# ------------------------------------------------------------ step converters
# Each converter takes (step, g, x): the fitted step, the graph and the name of its
# input tensor, and returns the name of its output tensor (layouts as in sklasd).

def _logmel(step, g, x):
    """Waveforms ``(n_clips, n_samples)`` -> spectrograms ``(n_clips, n_bins, n_frames)``."""
    modes = {"constant": "constant", "reflect": "reflect", "edge": "edge"}
    if step.center and step.pad_mode not in modes:
        raise ExportError(f"LogMelTransformer(pad_mode={step.pad_mode!r}) cannot be "
                          f"exported: ONNX pads with {sorted(modes)}")
    if step.center:
        half = step.n_fft // 2
        x = g.op("Pad", x, g.ints(0, half, 0, half), mode=modes[step.pad_mode])
    power = _power_spectrum(g, x, step.window_, step.hop_length)
    if step.power != 2.0:
        power = g.op("Pow", power, g.const(step.power / 2.0, np.float32))
    S = g.op("Transpose", power, perm=[0, 2, 1])
    if step.mel_basis_ is not None:
        S = g.op("MatMul", g.const(step.mel_basis_, np.float32, "mel_basis"), S)
    if step.log is None:
        return S
    S = g.op("Log", g.op("Add", S, g.const(step.eps, np.float32)))
    if step.log == "db":  # 20 / power * log10(M + eps)
        S = g.op("Mul", S, g.const(20.0 / step.power / np.log(10.0), np.float32))
    return S


def _power_spectrum(g, x, window, hop):
    """``|STFT|**2`` ``(n_clips, n_frames, 1 + n_fft // 2)`` of padded signals ``x``.

    A two-stage Cooley-Tukey FFT of ``n_fft = N1 * N2`` as matrix products (the
    frames gathered, windowed, a DFT of length N2, twiddle factors, a DFT of length
    N1 for the non-negative frequencies only), with small constants (not the dense
    ``n_fft x n_fft`` DFT matrix): 1.4-1.5 times faster than onnxruntime's ``STFT``
    kernel on 10 s clips (one thread, n_fft 1024 and 2048, one A/B run on a loaded
    machine).
    """
    N = len(window)
    N1 = max(d for d in range(1, int(np.sqrt(N)) + 1) if N % d == 0)
    N2 = N // N1
    K1 = N1 // 2 + 1  # k = k2 + N2 * k1 <= N / 2 needs k1 <= N1 / 2
    frames = g.op("Mul", _frames(g, x, N, hop), g.const(window, np.float32))
    # n = n1 + N1 * n2: stage 1 sums over n2 (rows [n1, n2] after the transpose)
    frames = g.op("Transpose", g.op("Reshape", frames, g.ints(0, 0, N2, N1)),
                  perm=[0, 1, 3, 2])
    k2 = np.arange(N2)
    angle = -2 * np.pi * np.outer(k2, k2) / N2
    Y = g.op("MatMul", frames, g.const(np.hstack([np.cos(angle), np.sin(angle)]),
                                       np.float32, "dft"))  # [n1, k2 | k2]: re | im
    Yr, Yi = g.op("Split", Y, g.ints(N2, N2), axis=3, n_out=2)
    twiddle = -2 * np.pi * np.outer(np.arange(N1), k2) / N
    Tr, Ti = g.const(np.cos(twiddle), np.float32), g.const(np.sin(twiddle), np.float32)
    Ar = g.op("Sub", g.op("Mul", Yr, Tr), g.op("Mul", Yi, Ti))
    Ai = g.op("Add", g.op("Mul", Yr, Ti), g.op("Mul", Yi, Tr))
    A = g.op("Transpose", g.op("Concat", Ar, Ai, axis=2), perm=[0, 1, 3, 2])  # [k2, n1|n1]
    angle = -2 * np.pi * np.outer(np.arange(N1), np.arange(K1)) / N1
    C, S = np.cos(angle), np.sin(angle)
    Z = g.op("MatMul", A, g.const(np.block([[C, S], [-S, C]]), np.float32, "dft"))
    Z = g.op("Mul", Z, Z)
    Zr, Zi = g.op("Split", Z, g.ints(K1, K1), axis=3, n_out=2)
    power = g.op("Transpose", g.op("Add", Zr, Zi), perm=[0, 1, 3, 2])  # [k1, k2]
    power = g.op("Reshape", power, g.ints(0, 0, K1 * N2))  # natural order k
    return g.op("Slice", power, g.ints(0), g.ints(N // 2 + 1), g.ints(2))


def _frames(g, x, N, hop):
    """Frames ``x[:, t * hop + n]`` ``(n_clips, n_frames, N)``, ``t < 1 + (length - N)
    // hop``: the signal cut into blocks of ``gcd(N, hop)`` samples, frame ``t`` the
    concatenation of blocks ``t * s + j`` (``s = hop / gcd``, ``j < N / gcd``) --
    slices of the block array, much faster than a gather of every sample."""
    block = int(np.gcd(N, hop))
    r, s = N // block, hop // block
    n_frames = g.op("Add", g.op("Div", g.op("Sub", g.dim(x, 1), g.ints(N)), g.ints(hop)),
                    g.ints(1))
    used = g.op("Add", g.op("Mul", g.op("Sub", n_frames, g.ints(1)), g.ints(hop)),
                g.ints(N))
    blocks = g.op("Reshape", g.op("Slice", x, g.ints(0), used, g.ints(1)),
                  g.ints(0, -1, block))
    span = g.op("Mul", g.op("Sub", n_frames, g.ints(1)), g.ints(s))  # (T - 1) * s
    parts = [g.op("Slice", blocks, g.ints(j), g.op("Add", span, g.ints(j + 1)), g.ints(1),
                  g.ints(s)) for j in range(r)]
    return g.op("Concat", *parts, axis=2) if r > 1 else parts[0]


def _scaler(step, g, x):
    if step.per == "bin":
        return g.op("Div", g.op("Sub", x, g.const(step.mean_[:, None], np.float32)),
                    g.const(step.scale_[:, None], np.float32))
    if step.per == "clip":
        return g.op("Sub", x, g.reduce("ReduceMean", x, [1, 2], keepdims=1))
    low = g.reduce("ReduceMin", x, [1, 2], keepdims=1)
    span = g.op("Sub", g.reduce("ReduceMax", x, [1, 2], keepdims=1), low)
    one = g.const(1.0, np.float32)
    span = g.op("Where", g.op("Greater", span, g.const(0.0, np.float32)), span, one)
    return g.op("Div", g.op("Sub", x, low), span)


def _stacker(step, g, x):
    """``(n_clips, n_mels, T)`` -> windows ``(n_clips, n_windows, n_frames * n_mels)``."""
    frames = g.op("Transpose", x, perm=[0, 2, 1])  # (clip, frame, mel)
    n = step.n_frames
    if step.center:
        half = n // 2
        frames = g.op("Pad", frames, g.ints(0, half, 0, 0, n - 1 - half, 0), mode="edge")
    big = np.iinfo(np.int64).max
    # window w holds frames w * hop + j, j < n: frame j of every window is one slice
    parts = [g.op("Slice", frames, g.ints(j), g.ints(-(n - 1 - j) if j < n - 1 else big),
                  g.ints(1), g.ints(step.hop)) for j in range(n)]
    return g.op("Concat", *parts, axis=2) if n > 1 else parts[0]


#: GWRP ranks whose weight ``r ** k`` is below this (relative to the top rank's) are
#: left out of the graph's sort: their share of the pooled value is below 1e-12 of it.
_GWRP_NEGLIGIBLE = 1e-12


def _pooling(step, g, x):
    """``(n_clips, n_mels, T)`` -> ``(n_clips, n_methods * n_mels)``: GWRP as the top
    frames (TopK, descending) times the weights ``r ** k / sum_j r ** j``; only the
    ranks of non-negligible weight are sorted (24 of 313 frames at r = 0.46)."""
    stats = []
    for method in step._methods():
        if method == "max":
            stats.append(g.reduce("ReduceMax", x, [2]))
        elif method == "mean":
            stats.append(g.reduce("ReduceMean", x, [2]))
        else:
            n = g.dim(x, 2)
            r = float(step.decay)
            top = n
            if r < 1.0:
                ranks = 1 if r == 0 else int(np.ceil(np.log(_GWRP_NEGLIGIBLE) / np.log(r)))
                top = g.op("Min", n, g.ints(ranks))
            ranked = g.op("TopK", x, top, axis=2, largest=1, sorted=1, n_out=2)[0]
            k = g.cast(g.op("Range", g.const(0, np.int64),
                            g.op("Squeeze", n, g.ints(0)), g.const(1, np.int64)),
                       "double")
            w = g.op("Pow", g.const(r, np.float64), k)
            w = g.op("Div", w, g.reduce("ReduceSum", w, [0], keepdims=1))
            w = g.op("Slice", w, g.ints(0), top, g.ints(0))
            stats.append(g.cast(g.op("MatMul", g.cast(ranked, "double"), w), "float"))
    return g.op("Concat", *stats, axis=1) if len(stats) > 1 else stats[0]


def _min_over_domains(det, g, x, model_scores):
    """The pooled detectors' rule: one model's score, or the smallest standardised
    score over the domains' models (sklasd.detectors.pooled)."""
    x = g.cast(x, "double")
    scores = [model_scores(model, g, x) for model in det.models_]
    if len(scores) == 1:
        return scores[0]
    z = [g.op("Div", g.op("Sub", s, g.const(m, np.float64)), g.const(sd, np.float64))
         for s, m, sd in zip(scores, det.score_mean_, det.score_std_)]
    return g.reduce("ReduceMin", g.op("Concat", *[g.op("Unsqueeze", s, g.ints(1))
                                                  for s in z], axis=1), [1])


def _knn(det, g, x):
    if det.metric != "euclidean":
        raise ExportError(f"KNeighborsDetector(metric={det.metric!r}) cannot be "
                          "exported: only the euclidean metric is")

    def scores(model, g, x):
        scaler, nn, references = model
        if scaler is not None:
            x = g.op("Div", g.op("Sub", x, g.const(scaler.mean_, np.float64)),
                     g.const(scaler.scale_, np.float64))
        diff = g.op("Sub", g.op("Unsqueeze", x, g.ints(1)),
                    g.const(references[None], np.float64, "references"))
        dist = g.op("Sqrt", g.reduce("ReduceSum", g.op("Mul", diff, diff), [2]))
        k = min(det.n_neighbors, nn.n_samples_fit_)
        nearest = g.op("TopK", dist, g.ints(k), axis=1, largest=0, sorted=1, n_out=2)[0]
        return g.reduce("ReduceMean", nearest, [1])

    return _min_over_domains(det, g, x, scores)


def _gmm(det, g, x):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType

    def scores(model, g, x):
        onnx_model = convert_sklearn(
            model, initial_types=[("X", DoubleTensorType([None, det.n_features_in_]))],
            options={id(model): {"score_samples": True}}, target_opset=g.opset)
        log_density = g.inline(onnx_model, [x], "gmm")[2]  # label, proba, score_samples
        return g.op("Neg", g.op("Reshape", log_density, g.ints(-1)))

    return _min_over_domains(det, g, x, scores)


def _mahalanobis(det, g, x):
    def scores(model, g, x):
        d = g.op("Sub", x, g.const(model.location_, np.float64))
        dP = g.op("MatMul", d, g.const(model.get_precision(), np.float64, "precision"))
        return g.reduce("ReduceSum", g.op("Mul", dP, d), [1])

    return _min_over_domains(det, g, x, scores)


def _ensemble(det, g, x):
    """Weighted sum of the members' standardized scores, each member converted."""
    members = [_convert_steps(member, g, x) for member in det.estimators_]
    Z = g.op("Concat", *[g.op("Unsqueeze", s, g.ints(1)) for s in members], axis=1)
    Z = g.op("Div", g.op("Sub", Z, g.const(det.score_mean_, np.float64)),
             g.const(det.score_std_, np.float64))
    return g.op("MatMul", Z, g.const(det.weights_, np.float64))


def _aggregate(det, g, units):
    """Per-clip aggregation of float64 unit scores ``(n_clips, n_units)``
    (sklasd.detectors._windows.aggregate)."""
    how = det.aggregation
    if how == "mean":
        return g.reduce("ReduceMean", units, [1])
    if how == "max":
        return g.reduce("ReduceMax", units, [1])
    if how == "meancap":
        cap = det.frame_score_mean_ + 3 * det.frame_score_std_
        return g.reduce("ReduceMean", g.op("Min", units, g.const(cap, np.float64)), [1])
    if how == "median":  # the mean of the two middle values of the sorted scores
        n = g.dim(units, 1)
        ranked = g.op("TopK", units, n, axis=1, largest=0, sorted=1, n_out=2)[0]
        one, two = g.const([1], np.int64), g.const([2], np.int64)
        middle = [g.op("Div", g.op("Sub", n, one), two), g.op("Div", n, two)]
        pair = g.op("Concat", *middle, axis=0)
        return g.reduce("ReduceMean", g.op("Gather", ranked, pair, axis=1), [1])
    raise ExportError(f"{type(det).__name__}(aggregation={how!r}) cannot be exported: "
                      "use mean, median, max or meancap")


def _as_units(g, x):
    """Windows ``(n_clips, n_windows, n_features)`` as rows ``(n_clips * n_windows,
    n_features)``, and the shape ``[n_clips, -1]`` that puts unit scores back."""
    rows = g.op("Reshape", x, g.op("Concat", g.ints(-1), g.dim(x, -1), axis=0))
    back = g.op("Concat", g.dim(x, 0), g.ints(-1), axis=0)
    return rows, back


def _fixed_id(module, code):
    """A torch module calling an IDConditionedAE's network with the machine ID ``code``
    for every window (torch is imported only when one is exported)."""
    import torch

    class FixedID(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.module = module

        def forward(self, X):
            return self.module(X, torch.full_like(X[:, 0], code, dtype=torch.long))

    return FixedID()


def _machine_code(det, g):
    """Position in ``machine_ids_`` of the machine ID the graph is exported for."""
    ids = det.machine_ids_.tolist()
    if ids == [None]:  # fitted without IDs
        return 0
    machine_id = g.static.get("machine_id")
    if machine_id is None:
        raise ExportError(f"{type(det).__name__} was fitted with machine IDs {ids}: pass "
                          "machine_id= (the machine the graph will listen to)")
    if machine_id not in ids:
        raise ExportError(f"machine_id={machine_id!r} is not one of the IDs {ids} that "
                          f"{type(det).__name__} was fitted with")
    return ids.index(machine_id)


def _frame_detector(det, g, x):
    """Autoencoder, HVAE and ID-conditioned AE: the network on every window, unit
    scores, aggregation."""
    from sklasd.detectors import AutoencoderDetector, IDConditionedAE

    _check_float32(det)
    rows, back = _as_units(g, x)
    module, F = det.net_.module_, det.n_features_in_
    if isinstance(det, IDConditionedAE):
        (x_hat,) = _net(g, _fixed_id(module, _machine_code(det, g)), rows, F)
        error = g.op("Sub", x_hat, rows)
        error = g.op("Abs", error) if det.loss == "l1" else g.op("Mul", error, error)
        units = g.reduce("ReduceMean", error, [1])
    elif isinstance(det, AutoencoderDetector):
        (x_hat,) = _net(g, module, rows, F)
        error = g.op("Sub", rows, x_hat)
        if det.score_mode == "selective_mahalanobis":
            return _selective_mahalanobis(det, g, error, back)
        units = g.reduce("ReduceMean", g.op("Mul", error, error), [1])
    else:  # HVAE: precision-weighted MSE
        x_hat, precision, _, _ = _net(g, module, rows, F, ("x_hat", "precision", "mu",
                                                           "sigma"))
        error = g.op("Sub", rows, x_hat)
        units = g.reduce("ReduceMean", g.op("Mul", precision,
                                            g.op("Mul", error, error)), [1])
    return _aggregate(det, g, g.op("Reshape", g.cast(units, "double"), back))


def _selective_mahalanobis(det, g, error, back):
    error = g.cast(error, "double")
    per_domain = []
    for precision in det.error_precisions_:
        eP = g.op("MatMul", error, g.const(precision, np.float64, "precision"))
        units = g.reduce("ReduceSum", g.op("Mul", eP, error), [1])
        per_domain.append(g.op("Unsqueeze", _aggregate(det, g, g.op("Reshape", units,
                                                                     back)), g.ints(1)))
    if len(per_domain) == 1:
        return g.op("Squeeze", per_domain[0], g.ints(1))
    return g.reduce("ReduceMin", g.op("Concat", *per_domain, axis=1), [1])


def _percentile(g, x, q, axis):
    """numpy's ``percentile(x, q, axis)`` (linear interpolation) of a float64 tensor,
    the axis dropped."""
    n = g.dim(x, axis)
    ranked = g.op("TopK", x, n, axis=axis, largest=0, sorted=1, n_out=2)[0]
    position = g.op("Mul", g.cast(g.op("Sub", n, g.ints(1)), "double"),
                    g.const([q / 100.0], np.float64))
    low = g.op("Floor", position)
    frac = g.op("Sub", position, low)
    low = g.op("Cast", low, to=7)  # int64
    high = g.op("Min", g.op("Add", low, g.ints(1)), g.op("Sub", n, g.ints(1)))
    a = g.op("Squeeze", g.op("Gather", ranked, low, axis=axis), g.ints(axis))
    b = g.op("Squeeze", g.op("Gather", ranked, high, axis=axis), g.ints(axis))
    return g.op("Add", a, g.op("Mul", g.op("Sub", b, a), frac))


def _wavenet(det, g, x):
    """Next-frame predictions of every clip at once (the network is causal and
    unpadded), scored by the percentiles of the squared errors or the Gaussian
    log-likelihood of their time means (WaveNetPredictor's ``scoring``)."""
    _check_float32(det)
    if det.scaler_ is not None:
        x = _scaler(det.scaler_, g, x)
    R = det.receptive_field_
    big = np.iinfo(np.int64).max
    inputs = g.op("Slice", x, g.ints(0), g.ints(-1), g.ints(2))
    target = g.cast(g.op("Slice", x, g.ints(R), g.ints(big), g.ints(2)), "double")
    (pred,) = _net(g, det.net_.module_, inputs, (det.n_mels_, R + 1), dynamic=(2,))
    pred = g.cast(pred, "double")
    if det.scoring == "percentile":
        error = g.op("Sub", pred, target)
        error = g.op("Mul", error, error)
        return _percentile(g, _percentile(g, error, det.q, 2), det.q, 1)
    diffs = g.op("Sub", g.reduce("ReduceMean", pred, [2]),
                 g.reduce("ReduceMean", target, [2]))
    n = len(det.diff_mean_)
    sigma = {"identity": lambda: np.eye(n),
             "diag": lambda: np.diag(np.diag(det.diff_covariance_) + det.reg_covar),
             "full": lambda: det.diff_covariance_ + det.reg_covar * np.eye(n)}[
        det.covariance]()
    chol = np.linalg.cholesky(sigma)
    # z = L^-1 (d - mean): rows times the transposed inverse of the Cholesky factor
    z = g.op("MatMul", g.op("Sub", diffs, g.const(det.diff_mean_, np.float64)),
             g.const(np.linalg.inv(chol).T, np.float64, "inverse_cholesky"))
    constant = n * np.log(2 * np.pi) + 2 * np.log(np.diag(chol)).sum()
    return g.op("Mul", g.op("Add", g.reduce("ReduceSum", g.op("Mul", z, z), [1]),
                            g.const(constant, np.float64)), g.const(0.5, np.float64))


def _check_float32(est):
    if getattr(est, "precision", "float32") != "float32":
        raise ExportError(f"{type(est).__name__}(precision={est.precision!r}) cannot be "
                          "exported: set precision='float32' (the graph is float32)")


def _classifier(clf, g, x):
    """Class probabilities averaged over the sliding excerpts of every clip
    (``BaseNeuralClassifier.predict_proba``); needs a fixed clip length."""
    from sklasd.classifiers._neural import _sliding_starts

    name = type(clf).__name__
    if clf.tta is not None and list(clf.tta) != [1.0]:
        raise ExportError(f"{name}(tta={clf.tta!r}) cannot be exported: its pitch "
                          "shifts have no ONNX form; export it with tta=None")
    n_frames = g.static.get("n_frames")
    if n_frames is None:
        raise ExportError(f"{name} needs a fixed clip length in the graph (its "
                          "excerpts depend on it): pass duration= or n_samples=")
    L = clf.excerpt_frames_
    if n_frames < L:  # extended periodically, as np.pad(mode="wrap") on the right
        tiled = g.op("Tile", x, g.ints(1, 1, -(-L // n_frames)))
        x = g.op("Slice", tiled, g.ints(0), g.ints(L), g.ints(2))
        n_frames = L
    hop = clf.excerpt_hop or max(1, L // 2)
    starts = _sliding_starts(n_frames, L, hop)
    excerpts = [g.op("Slice", x, g.ints(s), g.ints(s + L), g.ints(2)) for s in starts]
    batch = g.op("Concat", *excerpts, axis=0) if len(excerpts) > 1 else excerpts[0]
    (logits,) = _net(g, clf.net_.module_, batch, (clf.n_features_in_, L))
    proba = g.op("Softmax", logits, axis=1)
    proba = g.op("Reshape", proba, g.ints(len(starts), -1, clf.n_classes_))
    return g.cast(g.reduce("ReduceMean", proba, [0]), "double")


def _converters():
    """(class, converter) pairs, most specific first."""
    from sklasd.classifiers import PrunedCNNClassifier
    from sklasd.detectors import (AutoencoderDetector, GaussianMixtureDetector,
                                  HVAEDetector, IDConditionedAE, KNeighborsDetector,
                                  MahalanobisDetector, WaveNetPredictor,
                                  WeightedEnsembleDetector)
    from sklasd.features import (FrameStacker, LogMelTransformer, SpectrogramScaler,
                                 TemporalPooling)

    return [(LogMelTransformer, _logmel), (SpectrogramScaler, _scaler),
            (FrameStacker, _stacker), (TemporalPooling, _pooling),
            (KNeighborsDetector, _knn), (GaussianMixtureDetector, _gmm),
            (MahalanobisDetector, _mahalanobis), (WeightedEnsembleDetector, _ensemble),
            (AutoencoderDetector, _frame_detector), (HVAEDetector, _frame_detector),
            (IDConditionedAE, _frame_detector), (WaveNetPredictor, _wavenet),
            (PrunedCNNClassifier, _classifier)]


def _convert_steps(estimator, g, x, names=None):
    """Convert a pipeline's steps (or one estimator) in order; return the output."""
    steps = list(getattr(estimator, "steps", [(type(estimator).__name__, estimator)]))
    table = _converters()
    for name, step in steps:
        if step is None or step == "passthrough":
            continue
        converter = next((f for cls, f in table if type(step) is cls), None)
        if converter is None:
            supported = ", ".join(cls.__name__ for cls, _ in table)
            raise ExportError(f"step {name!r} ({type(step).__name__}) cannot be exported "
                              f"to ONNX; exportable steps: {supported}")
        x = converter(step, g, x)
    return x


# ----------------------------------------------------------------------- export
def _clip_length(front, sr, duration, n_samples):
    """``n_samples`` of the graph's input: fixed (int) or None (any length)."""
    if sr is not None and sr != front.sr:
        raise ExportError(f"sr={sr} differs from the pipeline's sample rate {front.sr} "
                          "Hz (its LogMelTransformer's sr)")
    if duration is not None and n_samples is not None:
        raise ExportError("give duration or n_samples, not both")
    if duration is not None:
        n_samples = int(round(duration * front.sr))
    own = None if not front.duration else int(round(front.duration * front.sr))
    if own is not None and n_samples is not None and n_samples != own:
        raise ExportError(f"n_samples={n_samples} differs from the {own} samples its "
                          f"LogMelTransformer(duration={front.duration}) crops clips to")
    n_samples = own if n_samples is None else n_samples
    if n_samples is not None and n_samples < front.n_fft:
        raise ExportError(f"a clip of {n_samples} samples is shorter than one "
                          f"analysis frame (n_fft={front.n_fft})")
    return n_samples


def to_onnx(pipeline, *, sr=None, duration=None, n_samples=None, opset=DEFAULT_OPSET,
            machine_type=None, machine_id=None):
    """Export a fitted pipeline as one ONNX graph from the waveform to the score.

    Parameters
    ----------
    pipeline : sklasd.pipeline.Pipeline
        Fitted; its first step a :class:`~sklasd.features.LogMelTransformer`,
        followed by any of :class:`~sklasd.features.SpectrogramScaler`,
        :class:`~sklasd.features.FrameStacker`,
        :class:`~sklasd.features.TemporalPooling`, and a detector
        (:class:`~sklasd.detectors.KNeighborsDetector`,
        :class:`~sklasd.detectors.GaussianMixtureDetector`,
        :class:`~sklasd.detectors.MahalanobisDetector`,
        :class:`~sklasd.detectors.WeightedEnsembleDetector` of those,
        :class:`~sklasd.detectors.AutoencoderDetector`,
        :class:`~sklasd.detectors.HVAEDetector`,
        :class:`~sklasd.detectors.IDConditionedAE`,
        :class:`~sklasd.detectors.WaveNetPredictor`) or a
        :class:`~sklasd.classifiers.PrunedCNNClassifier`.
    sr : int or None, default=None
        Sample rate in Hz of the graph's input; None (or the same value) is the
        LogMelTransformer's ``sr``.
    duration : float or None, default=None
        Fixed clip length in seconds of the input (``n_samples = round(duration *
        sr)``).
    n_samples : int or None, default=None
        Fixed clip length in samples. With neither, the LogMelTransformer's
        ``duration`` if it has one, else any length (a dynamic axis); classifiers
        need a fixed length.
    opset : int, default=17
        ONNX opset of the graph (15 or later).
    machine_type : str or None, default=None
        Stored in the metadata (``sklasd export`` stores the model file's).
    machine_id : str or None, default=None
        For an :class:`~sklasd.detectors.IDConditionedAE` fitted with machine IDs:
        the ID the graph conditions every clip on (the machine it will listen to);
        stored in the metadata.

    Returns
    -------
    model : onnx.ModelProto
        Save it with ``onnx.save(model, path)``; score with :class:`OnnxModel`.

    Raises
    ------
    ExportError (ValueError)
        Naming the step that cannot be exported (an estimator without a converter,
        or a setting without an ONNX form), or conflicting clip-length arguments.
    sklearn.exceptions.NotFittedError
        If the pipeline is not fitted.

    Notes
    -----
    The front end is a float32 FFT written as ONNX matrix products, with the
    transformer's window, centring padding and mel matrix; on real 10 s clips its
    log-mel differs from sklasd's by less than 1e-4 dB. Pooled features are scored in float64 as sklasd
    scores them; neural networks run in float32.

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.models import make_model
    >>> from sklasd.export import OnnxModel, to_onnx
    >>> X = np.random.default_rng(0).uniform(-0.1, 0.1, (6, 16000)).astype("float32")
    >>> model = make_model("knn").fit(X)
    >>> onnx_model = OnnxModel(to_onnx(model).SerializeToString())
    >>> bool(np.allclose(onnx_model.anomaly_score(X[:2] * 2), model.anomaly_score(X[:2] * 2),
    ...                  rtol=1e-4))
    True
    """
    from onnx import TensorProto, helper
    from sklearn.utils.validation import check_is_fitted

    from sklasd import __version__
    from sklasd.features import LogMelTransformer, _frames

    if opset < 15:
        raise ExportError(f"opset={opset}: the graph needs opset 15 or later")
    steps = getattr(pipeline, "steps", None)
    if not steps or not isinstance(steps[0][1], LogMelTransformer):
        first = type(steps[0][1]).__name__ if steps else type(pipeline).__name__
        raise ExportError(f"step {steps[0][0] if steps else 'pipeline'!r} ({first}) "
                          "cannot be exported: the graph starts at the waveform, so the "
                          "pipeline must start with a LogMelTransformer")
    front, last = steps[0][1], steps[-1][1]
    check_is_fitted(front, "window_")
    check_is_fitted(last)
    length = _clip_length(front, sr, duration, n_samples)
    g = _Graph(opset)
    g.static["machine_id"] = machine_id
    if length is not None:
        g.static["n_frames"] = _frames(length, front.n_fft, front.hop_length, front.center)
    out = _convert_steps(pipeline, g, "waveform")
    classifier = hasattr(last, "classes_")
    if classifier:
        g.nodes.append(helper.make_node("Identity", [out], ["probabilities"],
                                        name="probabilities"))
        g.nodes.append(helper.make_node("ArgMax", ["probabilities"], ["label"],
                                        name="label", axis=1, keepdims=0))
        outputs = [helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE,
                                                 ["n_clips", len(last.classes_)]),
                   helper.make_tensor_value_info("label", TensorProto.INT64, ["n_clips"])]
    else:
        g.nodes.append(helper.make_node("Cast", [out], ["anomaly_score"],
                                        name="anomaly_score", to=TensorProto.DOUBLE))
        g.nodes.append(helper.make_node(
            "Greater", ["anomaly_score", g.const(last.threshold_, np.float64, "threshold")],
            ["is_anomaly"], name="is_anomaly"))
        outputs = [helper.make_tensor_value_info("anomaly_score", TensorProto.DOUBLE,
                                                 ["n_clips"]),
                   helper.make_tensor_value_info("is_anomaly", TensorProto.BOOL,
                                                 ["n_clips"])]
    inputs = [helper.make_tensor_value_info("waveform", TensorProto.FLOAT,
                                            ["n_clips", length or "n_samples"])]
    metadata = {
        "sklasd_version": __version__, "kind": "classifier" if classifier else "detector",
        "sr": str(front.sr), "n_samples": "" if length is None else str(length),
        "min_samples": str(front.n_fft),
        "duration": "" if length is None else repr(length / front.sr),
        "pad": front.pad, "channel": "" if front.channel is None else str(front.channel),
        "threshold": "" if classifier else repr(float(last.threshold_)),
        "machine_type": machine_type or "",
        "machine_id": "" if machine_id is None else str(machine_id),
        "classes": json.dumps([_plain_label(c) for c in last.classes_]) if classifier
        else "",
        "steps": json.dumps([type(s).__name__ for _, s in steps]),
    }
    doc = ("sklasd pipeline " + " -> ".join(type(s).__name__ for _, s in steps)
           + f": float32 waveform at {front.sr} Hz -> "
           + ("class probabilities" if classifier else "anomaly score"))
    return g.model(inputs, outputs, metadata, doc)


def _plain_label(label):
    return label.item() if hasattr(label, "item") else label


def quantize_int8(model, path):
    """Store the weights of the neural network of an exported graph as int8.

    onnxruntime's dynamic quantization (int8 weights, activations quantized on the
    fly) of the matrix products and convolutions of the network only: the front
    end, pooling and scoring stay float.

    Parameters
    ----------
    model : onnx.ModelProto, str or os.PathLike
        A graph from :func:`to_onnx` (or its file).
    path : str or os.PathLike
        The int8 model file to write.

    Raises
    ------
    ExportError
        If the graph holds no neural network (pooled detectors).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(model) if not isinstance(model, onnx.ModelProto) else \
        onnx.ModelProto.FromString(model.SerializeToString())
    _gemm_as_matmul(model)
    nodes = [n.name for n in model.graph.node if n.name.startswith(_NET + "_")]
    if not nodes:
        raise ExportError("the graph holds no neural network to quantize")
    logging.disable(logging.WARNING)  # its advice to pre-process, on the root logger
    try:
        quantize_dynamic(model, path, weight_type=QuantType.QInt8, nodes_to_quantize=nodes,
                         op_types_to_quantize=["MatMul", "Gemm", "Conv"])
    finally:
        logging.disable(logging.NOTSET)


def _gemm_as_matmul(model):
    """The network's ``Gemm`` nodes (torch's ``Linear``) as ``MatMul`` + ``Add``, in
    place: onnxruntime's dynamic quantizer quantizes ``MatMul``, not ``Gemm``."""
    from onnx import helper, numpy_helper

    weights = {t.name: t for t in model.graph.initializer}
    nodes = []
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (node.op_type != "Gemm" or not node.name.startswith(_NET + "_")
                or attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0
                or attrs.get("beta", 1.0) != 1.0 or node.input[1] not in weights):
            nodes.append(node)
            continue
        if attrs.get("transB", 0):  # each torch weight feeds one layer: transposed in place
            W = weights[node.input[1]]
            W.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(W).T.copy(), W.name))
        product = node.output[0] + ("/matmul" if len(node.input) > 2 else "")
        nodes.append(helper.make_node("MatMul", node.input[:2], [product],
                                      name=node.name + "/MatMul"))
        if len(node.input) > 2:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]],
                                          name=node.name + "/Add"))
    del model.graph.node[:]
    model.graph.node.extend(nodes)


# ---------------------------------------------------------------------- scoring
def _waveform_input(sr, n_fft):
    """The first step of :meth:`OnnxModel.as_pipeline`: clips pass through
    unchanged (the graph computes its own features); it tells the command the rate
    and the shortest clip to decode (``sr``, ``n_fft``)."""
    from sklearn.preprocessing import FunctionTransformer

    step = FunctionTransformer().fit([[0.0]])
    step.sr, step.n_fft, step.training_duration_ = sr, n_fft, None
    return step


class OnnxModel:
    """Score audio with an ONNX graph from :func:`to_onnx`, through onnxruntime.

    Needs numpy, soundfile and onnxruntime only (and librosa for files at another
    sample rate); nothing is unpickled: an ONNX file is data.

    Parameters
    ----------
    model : str, os.PathLike or bytes
        The ``.onnx`` file, or its bytes.
    n_threads : int or None, default=None
        onnxruntime's intra-op threads (None: its default, all cores).
    batch_size : int, default=16
        Clips per run of the graph when the clip length is fixed.

    Attributes
    ----------
    sr : int
        Sample rate in Hz of the graph's input.
    n_samples : int or None
        The clip length in samples (clips are cropped from the start or padded as
        the pipeline's LogMelTransformer does), or None for any length.
    threshold_ : float
        Score above which a clip is anomalous (detectors).
    classes_ : ndarray
        Class labels (classifiers).
    machine_type : str
    metadata : dict of str -> str
        The graph's ``metadata_props``.

    Raises
    ------
    ValueError
        If the file is missing or not an ONNX graph written by sklasd.

    Examples
    --------
    >>> from sklasd.export import OnnxModel
    >>> model = OnnxModel("model.onnx")  # doctest: +SKIP
    >>> model.anomaly_score(["clip.wav"]), model.predict(["clip.wav"])  # doctest: +SKIP
    """

    def __init__(self, model, *, n_threads=None, batch_size=16):
        import onnxruntime as ort

        name = "the ONNX model" if isinstance(model, bytes) else f"{str(model)!r}"
        if not isinstance(model, bytes):
            model = os.fspath(model)
            if not os.path.isfile(model):
                raise ValueError(f"model file {name} not found")
        options = ort.SessionOptions()
        if n_threads:
            options.intra_op_num_threads = n_threads
            options.inter_op_num_threads = 1
        # idle threads wait instead of spinning: no CPU burnt beside other work
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            self.session_ = ort.InferenceSession(model, options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own exception types: one line
            raise ValueError(f"model file {name} is not a readable ONNX model: "
                             f"{str(exc).splitlines()[0]}") from None
        meta = self.metadata = dict(self.session_.get_modelmeta().custom_metadata_map)
        if "sklasd_version" not in meta:
            raise ValueError(f"model file {name} is an ONNX model that sklasd did not "
                             "export (no sklasd metadata)")
        self.kind = meta["kind"]
        self.sr = int(meta["sr"])
        self.n_samples = int(meta["n_samples"]) if meta["n_samples"] else None
        self.min_samples = int(meta["min_samples"])
        self.pad = meta["pad"]
        self.channel = int(meta["channel"]) if meta["channel"] else None
        self.machine_type = meta["machine_type"]
        if self.kind == "classifier":
            self.classes_ = np.asarray(json.loads(meta["classes"]))
        else:
            self.threshold_ = float(meta["threshold"])
        self.batch_size = batch_size

    def _clips(self, X):
        """Clips as float32 1-D arrays of the graph's length."""
        from sklasd.audio import check_signal, load_audio, pcm_to_float
        from sklasd.features import _fit_length, _is_path

        # a fixed-length graph gets every clip cropped or padded to its length
        shortest = 1 if self.n_samples is not None else self.min_samples
        if isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind in "fiu":
            X = list(pcm_to_float(X))
        clips = []
        for i, x in enumerate(X):
            if _is_path(x):
                y = load_audio(x, sr=self.sr, channel=self.channel,
                               min_samples=shortest)[0]
            else:
                y = check_signal(np.asarray(pcm_to_float(np.asarray(x)), dtype=np.float32),
                                 i, min_samples=shortest)
            clips.append(y if self.n_samples is None
                         else _fit_length(y, self.n_samples, self.pad))
        return clips

    def _run(self, X, output):
        clips = self._clips(X)
        step = self.batch_size if self.n_samples is not None else 1
        out = [self.session_.run([output], {"waveform": np.stack(clips[i:i + step])})[0]
               for i in range(0, len(clips), step)]
        return np.concatenate(out)

    def anomaly_score(self, X):
        """Anomaly score of every clip, higher = more anomalous.

        Parameters
        ----------
        X : list of paths, list of 1-D arrays, or ndarray of shape (n_clips, n_samples)
            Audio at ``sr`` Hz (files are resampled to it).

        Returns
        -------
        scores : ndarray of shape (n_clips,), float64
        """
        self._need("detector", "anomaly_score")
        return self._run(X, "anomaly_score").astype(np.float64)

    def decision_function(self, X):
        """Signed distance to the threshold: negative = anomalous (scikit-learn's sign).

        Parameters
        ----------
        X : list of paths, list of 1-D arrays, or ndarray of shape (n_clips, n_samples)
            As for :meth:`anomaly_score`.

        Returns
        -------
        decision : ndarray of shape (n_clips,), float64
            ``threshold_ - anomaly_score(X)``.
        """
        return self.threshold_ - self.anomaly_score(X)

    def predict(self, X):
        """Decision of a detector, or class of a classifier, for every clip.

        Parameters
        ----------
        X : list of paths, list of 1-D arrays, or ndarray of shape (n_clips, n_samples)
            As for :meth:`anomaly_score`.

        Returns
        -------
        labels : ndarray of shape (n_clips,)
            Detectors: +1 normal, -1 anomalous (score above ``threshold_``);
            classifiers: elements of ``classes_``.
        """
        if self.kind == "classifier":
            return self.classes_[self._run(X, "label")]
        return np.where(self.anomaly_score(X) > self.threshold_, -1, 1)

    def predict_proba(self, X):
        """Class probabilities of every clip (classifiers).

        Parameters
        ----------
        X : list of paths, list of 1-D arrays, or ndarray of shape (n_clips, n_samples)
            As for :meth:`anomaly_score`.

        Returns
        -------
        proba : ndarray of shape (n_clips, n_classes), float64
            Columns follow ``classes_``.
        """
        self._need("classifier", "predict_proba")
        return self._run(X, "probabilities").astype(np.float64)

    def _need(self, kind, method):
        if self.kind != kind:
            raise AttributeError(f"this ONNX model is a {self.kind}: it has no {method}")

    def __sklearn_is_fitted__(self):
        return True

    def __sklearn_tags__(self):
        from sklearn.utils import Tags, TargetTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=False))

    def as_pipeline(self):
        """This model as the last step of a pipeline, for the ``sklasd`` command.

        Returns
        -------
        pipeline : sklasd.pipeline.Pipeline
            ``[a step passing the clips through, self]``: the command scores
            ``pipeline[:-1].transform(X)`` with ``pipeline[-1]``.
        """
        from sklasd.pipeline import Pipeline

        return Pipeline([("waveform", _waveform_input(self.sr, self.min_samples)),
                         ("onnx", self)])


def load_onnx_models(path):
    """Read an exported detector as ``sklasd score`` reads a model file.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.onnx`` file; nothing is unpickled.

    Returns
    -------
    models : dict of str -> sklasd.pipeline.Pipeline
        ``{machine_type: OnnxModel(path).as_pipeline()}`` (``"onnx"`` when the graph
        names no machine type).

    Raises
    ------
    ValueError
        If the file is missing, not an ONNX graph of sklasd, or a classifier.
    """
    model = OnnxModel(path)
    if model.kind != "detector":
        raise ValueError(f"model file {str(path)!r} holds a {model.kind}, not an anomaly "
                         "detector: score it with sklasd.export.OnnxModel(...).predict")
    return {model.machine_type or "onnx": model.as_pipeline()}


def save_onnx(pipeline, path, *, int8=False, **kwargs):
    """Write :func:`to_onnx` of ``pipeline`` to ``path`` (``int8``: quantized).

    Parameters
    ----------
    pipeline : sklasd.pipeline.Pipeline
        Fitted.
    path : str or os.PathLike
        The file to write.
    int8 : bool, default=False
        Write :func:`quantize_int8` of the graph instead.
    **kwargs
        ``sr``, ``duration``, ``n_samples``, ``opset``, ``machine_type`` of
        :func:`to_onnx`.
    """
    model = to_onnx(pipeline, **kwargs)
    if int8:
        quantize_int8(model, path)
        return
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
