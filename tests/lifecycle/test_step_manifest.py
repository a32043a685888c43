"""The ``step`` field of a manifest (issue 11): optional, schema 3 only when present, old
manifests decode with ``step`` None."""
from __future__ import annotations

import json

import pytest

from recovery_lib import IntegrityError, InvalidData
from recovery_lib import manifest as mf


def _manifest(**overrides) -> mf.Manifest:
    version = mf.new_version(seq=1)
    fields = dict(name="run/model", version=version, created_at=mf.version_time(version),
                  origin_region="primary", serializer="json", sha256=mf.EMPTY_SHA256, size=0,
                  inline=b"")
    fields.update(overrides)
    return mf.Manifest(**fields)


def test_a_step_round_trips_as_schema_3():
    m = _manifest(step=1200)
    raw = mf.encode(m)
    assert json.loads(raw)["schema"] == 3 and json.loads(raw)["step"] == 1200
    decoded = mf.decode(raw, key="k", name=m.name, version=m.version)
    assert decoded.step == 1200 and decoded.to_checkpoint("primary").step == 1200


def test_without_a_step_the_manifest_stays_schema_2_byte_for_byte():
    """Readers of earlier versions keep reading stores that use no steps."""
    raw = mf.encode(_manifest())
    body = json.loads(raw)
    assert body["schema"] == 2 and "step" not in body
    assert mf.decode(raw, key="k", name="run/model", version=body["version"]).step is None


@pytest.mark.parametrize("step", [-1, 1.5, "3", True, mf.MAX_STEP + 1])
def test_bad_steps_are_refused_with_the_value(step):
    with pytest.raises(InvalidData, match="step"):
        mf.validate_step(step)


@pytest.mark.parametrize("step", [None, "7", -3, False])
def test_a_schema_3_manifest_with_a_bad_step_does_not_verify(step):
    body = json.loads(mf.encode(_manifest(step=5)))
    body.pop("checksum")
    body["step"] = step
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    import hashlib
    raw = canonical[:-1] + b',"checksum":"' + hashlib.sha256(canonical).hexdigest().encode() + b'"}'
    with pytest.raises(IntegrityError, match="step"):
        mf.decode(raw, key="k", name=body["name"], version=body["version"])


def test_a_schema_2_manifest_may_not_carry_a_step():
    body = json.loads(mf.encode(_manifest(step=5)))
    body["schema"] = 2
    with pytest.raises(IntegrityError, match="unexpected"):
        mf.decode(json.dumps(body).encode(), key="k", name=body["name"], version=body["version"])
