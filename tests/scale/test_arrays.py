"""Arrays without pickle: npy and safetensors round trips, dtype/shape checks, refusals."""
from __future__ import annotations

import json

import numpy as np
import pytest

from recovery_lib import CheckpointStore, InvalidData
from recovery_lib import arrays
from recovery_lib.backends.memory import MemoryBackend


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "uint16", "bool", "complex64"])
def test_npy_round_trip_keeps_dtype_and_shape(dtype: str) -> None:
    store = CheckpointStore.memory()
    array = (np.arange(24) % 3).astype(dtype).reshape(2, 3, 4)
    store.save("a", array, serializer="npy")
    loaded = store.load("a")
    assert loaded.dtype == array.dtype and loaded.shape == (2, 3, 4)
    np.testing.assert_array_equal(loaded, array)
    assert store.info("a").serializer == "npy"


def test_safetensors_round_trip_of_a_state_dict() -> None:
    store = CheckpointStore.memory()
    state = {"layer.weight": np.random.default_rng(0).standard_normal((4, 3)).astype(np.float16),
             "layer.bias": np.zeros(4, dtype=np.float32), "steps": np.array(7, dtype=np.int64)}
    store.save("sd", state, serializer="safetensors")
    loaded = store.load("sd")
    assert set(loaded) == set(state)
    for key, value in state.items():
        assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape
        np.testing.assert_array_equal(loaded[key], value)


@pytest.mark.parametrize("data, serializer, message", [
    (np.array([{"a": 1}], dtype=object), "npy", "dtype object"),
    ([1, 2], "npy", "takes a numpy.ndarray"),
    ({"a": np.array(["x"])}, "safetensors", "numeric and bool"),
    ({"a": [1, 2]}, "safetensors", "dict of str to numpy.ndarray"),
    ({}, "safetensors", "non-empty dict"),
])
def test_refused_on_save_nothing_written(data: object, serializer: str, message: str) -> None:
    backend = MemoryBackend()
    store = CheckpointStore(backend)
    with pytest.raises(InvalidData, match=message):
        store.save("a", data, serializer=serializer)
    assert list(backend.list("")) == []


def test_an_npy_payload_holding_objects_is_never_unpickled() -> None:
    """A writer who stores a pickled object array under 'npy' gets InvalidData on load,
    not code execution: np.load runs with allow_pickle=False."""
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
    store = CheckpointStore.memory()
    store._save_payload("evil", buffer.getvalue(), "npy", {})  # as a hostile writer would
    with pytest.raises(InvalidData, match="npy payload is refused"):
        store.load("evil")


def test_items_check_the_recorded_and_expected_dtype_and_shape() -> None:
    store = CheckpointStore.memory()
    w = np.ones((2, 3), dtype=np.float32)
    store.save_items("m", {"w": w, "sd": {"a": np.zeros(3, dtype=np.int32)}})
    index = store.item_index("m")
    assert index["items"]["w"]["spec"] == {"dtype": "<f4", "shape": [2, 3]}
    assert store.load_item("m", "w", expect={"dtype": "float32", "shape": [2, 3]}).shape == (2, 3)
    with pytest.raises(InvalidData, match=r"dtype <f4 and shape \[2, 3\]; the expected"):
        store.load_item("m", "w", expect={"dtype": "float64", "shape": [2, 3]})
    with pytest.raises(InvalidData, match="array 'a' has dtype <i4"):
        store.load_item("m", "sd", expect={"a": {"dtype": "int64", "shape": [3]}})
    with pytest.raises(InvalidData, match="expect= applies to array items"):
        store.save_items("j", {"meta": {"x": 1}}) and store.load_item("j", "meta", expect={"dtype": "f4", "shape": []})


def test_a_payload_that_disagrees_with_its_recorded_spec_is_refused() -> None:
    payload, spec = arrays.dumps(np.ones(3, dtype=np.float32), "npy")
    assert arrays.loads(payload, "npy", spec=spec).shape == (3,)
    with pytest.raises(InvalidData, match="the recorded dtype and shape are <f8"):
        arrays.loads(payload, "npy", spec={"dtype": "<f8", "shape": [3]})
    sft, sft_spec = arrays.dumps({"x": np.ones(2)}, "safetensors")
    bad = json.loads(json.dumps(sft_spec))
    bad["x"]["shape"] = [3]
    with pytest.raises(InvalidData, match="array 'x'"):
        arrays.loads(sft, "safetensors", spec=bad)
    with pytest.raises(InvalidData, match="safetensors payload is refused"):
        arrays.loads(b"\x08\x00\x00\x00\x00\x00\x00\x00{bad json", "safetensors")
