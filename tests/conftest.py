"""Suite-wide fixtures."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.recovery_lib.moto_helpers import FAKE_AWS_ENV


@pytest.fixture(scope="session", autouse=True)
def fake_aws_credentials() -> Iterator[None]:
    """Fake credentials and no config files: nothing can reach real AWS."""
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "DR_PLATFORM"):
            mp.delenv(key, raising=False)
        for key, value in FAKE_AWS_ENV.items():
            mp.setenv(key, value)
        yield
