"""Arrays without pickle: the ``"npy"`` and ``"safetensors"`` serializers (optional extra).

- ``"npy"``: one ``numpy.ndarray`` in NumPy's ``.npy`` format, written and read with
  ``allow_pickle=False``, so arrays of Python objects are refused on save and never
  unpickled on load.
- ``"safetensors"``: a ``dict`` of ``str`` to ``numpy.ndarray`` in the safetensors format
  (the ``safetensors`` package's numpy API, ``safetensors.numpy.save``/``load``): a JSON
  header of names, dtypes, shapes and offsets followed by raw little-endian buffers; no
  code runs on load.

Both record a *spec* (dtype and shape of every array) beside the bytes: the item index of a
multi-item checkpoint stores it, and a load checks the decoded arrays against it (and
against what the caller expects, ``expect=``), so a header that disagrees with what was
saved, or an array of the wrong dtype or shape, is refused with InvalidData naming both.

Install with ``pip install 'dr-platform[arrays]'`` (numpy and safetensors). A torch state
dict goes through safetensors (see docs/ml-checkpoints.md): ``{k: t.cpu().numpy()}`` on
save, ``torch.from_numpy`` on load; bfloat16 (which numpy lacks) as raw bytes from
``safetensors.torch.save``.
"""
from __future__ import annotations

import io
from typing import Any, Mapping

from .errors import InvalidData

__all__ = ["ARRAY_SERIALIZERS", "dumps", "loads", "spec_of", "check_spec", "is_array",
           "is_array_dict"]

ARRAY_SERIALIZERS = ("npy", "safetensors")
_EXTRA = "install the optional extra: pip install 'dr-platform[arrays]'"

Spec = dict[str, Any]  # {"dtype": "<f4", "shape": [2, 3]} or {name: that} for safetensors


def _numpy() -> Any:
    try:
        import numpy
    except ImportError as exc:  # pragma: no cover - the test extra installs numpy
        raise InvalidData(f"serializers {list(ARRAY_SERIALIZERS)} need numpy; {_EXTRA}") from exc
    return numpy


def _safetensors_numpy() -> Any:
    try:
        import safetensors.numpy
    except ImportError as exc:  # pragma: no cover - the test extra installs safetensors
        raise InvalidData(f"serializer 'safetensors' needs the safetensors package; {_EXTRA}") from exc
    return safetensors.numpy


def is_array(value: object) -> bool:
    """Whether ``value`` is a numpy array (without importing numpy when it is not loaded)."""
    kind = type(value)
    return kind.__module__ == "numpy" and kind.__name__ == "ndarray"


def is_array_dict(value: object) -> bool:
    """A non-empty dict of str to numpy arrays (what ``"safetensors"`` stores)."""
    return (isinstance(value, Mapping) and bool(value)
            and all(isinstance(k, str) and is_array(v) for k, v in value.items()))


def _array_spec(array: Any) -> Spec:
    return {"dtype": array.dtype.str, "shape": list(array.shape)}


def spec_of(data: Any, serializer: str) -> Spec:
    """The dtype and shape of ``data`` as :func:`dumps` records them."""
    if serializer == "npy":
        return _array_spec(data)
    return {key: _array_spec(value) for key, value in sorted(data.items())}


def dumps(data: Any, serializer: str) -> tuple[bytes, Spec]:
    """``(payload, spec)`` for an array (``"npy"``) or a dict of arrays (``"safetensors"``)."""
    np = _numpy()
    if serializer == "npy":
        if not is_array(data):
            raise InvalidData(f"serializer='npy' takes a numpy.ndarray, got {type(data).__name__}")
        if data.dtype.hasobject:
            raise InvalidData(f"serializer='npy' refuses arrays of dtype {data.dtype} (Python "
                              "objects need pickle); use a numeric, bool or fixed-size string dtype")
        buffer = io.BytesIO()
        np.save(buffer, data, allow_pickle=False)
        return buffer.getvalue(), spec_of(data, "npy")
    if serializer == "safetensors":
        if not is_array_dict(data):
            raise InvalidData("serializer='safetensors' takes a non-empty dict of str to "
                              f"numpy.ndarray, got {_describe(data)}")
        arrays = {}
        for key, value in data.items():
            if value.dtype.hasobject or value.dtype.kind in "USV":
                raise InvalidData(f"serializer='safetensors' refuses array {key!r} of dtype "
                                  f"{value.dtype}: safetensors holds numeric and bool tensors only")
            # (np.ascontiguousarray would turn a 0-d array into shape (1,))
            arrays[key] = value if value.flags.c_contiguous else value.copy(order="C")
        try:
            payload = _safetensors_numpy().save(arrays)
        except (ValueError, TypeError) as exc:
            raise InvalidData(f"serializer='safetensors' refused the arrays: {exc}") from exc
        return payload, spec_of(arrays, "safetensors")
    raise InvalidData(f"unknown array serializer {serializer!r}; use one of {list(ARRAY_SERIALIZERS)}")


def loads(payload: bytes, serializer: str, *, spec: Spec | None = None,
          expect: Spec | None = None, name: str = "?") -> Any:
    """Decode verified ``payload``; check it against the recorded ``spec`` and the caller's
    ``expect`` (same shape as a spec; for safetensors a subset of names may be given)."""
    np = _numpy()
    if serializer == "npy":
        try:
            data = np.load(io.BytesIO(payload), allow_pickle=False)
        except ValueError as exc:
            raise InvalidData(f"checkpoint {name!r}: the npy payload is refused ({exc}); it "
                              "holds Python objects or is not an npy array") from exc
        if not is_array(data):
            raise InvalidData(f"checkpoint {name!r}: the npy payload is not one array")
    elif serializer == "safetensors":
        try:
            data = _safetensors_numpy().load(payload)
        except Exception as exc:  # safetensors raises its own SafetensorError for bad headers
            if isinstance(exc, (MemoryError, KeyboardInterrupt)):
                raise
            raise InvalidData(f"checkpoint {name!r}: the safetensors payload is refused: {exc}") from exc
    else:
        raise InvalidData(f"unknown array serializer {serializer!r}; use one of {list(ARRAY_SERIALIZERS)}")
    found = spec_of(data, serializer)
    if spec is not None:
        check_spec(found, spec, name=name, what="the recorded")
    if expect is not None:
        check_spec(found, expect, name=name, what="the expected", subset=serializer == "safetensors")
    return data


def check_spec(found: Spec, wanted: Spec, *, name: str, what: str, subset: bool = False) -> None:
    """InvalidData unless ``found`` matches ``wanted`` (dtype strings compared after
    normalising through numpy, so ``"float32"`` and ``"<f4"`` agree)."""
    np = _numpy()

    def same(a: Spec, b: Spec) -> bool:
        try:
            return np.dtype(a["dtype"]) == np.dtype(b["dtype"]) and list(a["shape"]) == list(b["shape"])
        except (KeyError, TypeError) as exc:
            raise InvalidData(f"array spec {b!r} is not {{'dtype': ..., 'shape': [...]}}") from exc

    if "dtype" in wanted or "dtype" in found:
        if not same(found, wanted):
            raise InvalidData(f"checkpoint {name!r} holds an array of dtype {found['dtype']} and "
                              f"shape {found['shape']}; {what} dtype and shape are "
                              f"{wanted.get('dtype')} and {wanted.get('shape')}")
        return
    keys = set(wanted) if subset else set(found) | set(wanted)
    for key in sorted(keys):
        if key not in found or key not in wanted:
            raise InvalidData(f"checkpoint {name!r} holds arrays {sorted(found)}; {what} "
                              f"arrays are {sorted(wanted)}")
        if not same(found[key], wanted[key]):
            raise InvalidData(f"checkpoint {name!r} array {key!r} has dtype "
                              f"{found[key]['dtype']} and shape {found[key]['shape']}; {what} "
                              f"are {wanted[key].get('dtype')} and {wanted[key].get('shape')}")


def _describe(value: object) -> str:
    if isinstance(value, Mapping):
        kinds = sorted({type(v).__name__ for v in value.values()})
        return f"a dict with {len(value)} entries of types {kinds}"
    return type(value).__name__
