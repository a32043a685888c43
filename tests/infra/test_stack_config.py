"""infra.stack_config / mockrun.load_stack_config apply the Pulumi CLI's project-config rules."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from infra.mockrun import ROOT, load_stack_config, run_program
from infra.stack_config import SecureValue, merge_stack_config
from recovery_lib.errors import ConfigError

from .fake_aws import FakeAws

PROJECT = {"name": "p", "runtime": "python", "config": {
    "size": {"type": "integer", "default": 2},
    "name": {"type": "string"},
    "flag": {"type": "boolean", "default": False},
    "zones": {"type": "array", "items": {"type": "string"}, "default": []},
    "token": {"type": "string", "secret": True, "default": ""},
}}


def merge(stack_values, project=PROJECT, stack="dev"):
    return merge_stack_config(project, {"config": stack_values}, stack)


def copy_project(tmp_path: Path, stack: str, stack_doc: dict) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(stack_doc))
    return tmp_path


def test_a_declared_key_without_default_is_required_and_named_with_the_stack():
    with pytest.raises(ConfigError, match=r"Stack 'dev' is missing configuration value 'name'"):
        merge({})
    project = {**PROJECT, "config": {**PROJECT["config"], "other": {"type": "integer"}}}
    with pytest.raises(ConfigError, match=r"missing configuration values 'name' and 'other'"):
        merge({}, project)


def test_defaults_fill_in_and_stack_values_win():
    merged = merge({"p:name": "x", "p:size": 5})
    assert merged == {"p:name": "x", "p:size": 5, "p:flag": False, "p:zones": [], "p:token": ""}


@pytest.mark.parametrize("key,value,type_", [
    ("p:size", "hello", "integer"), ("p:size", True, "integer"), ("p:size", 1.5, "integer"),
    ("p:flag", "yes", "boolean"), ("p:flag", 1, "boolean"),
    ("p:name", {"a": 1}, "string"), ("p:zones", "a", "array<string>"), ("p:zones", [{"a": 1}], "array<string>"),
])
def test_a_value_of_the_wrong_type_is_refused(key, value, type_):
    with pytest.raises(ConfigError, match=rf"Stack 'dev' with configuration key '{key[2:]}' must be of type '{type_}'"):
        merge({"p:name": "x", key: value})


def test_the_cli_keeps_config_as_strings_so_numeric_strings_pass():
    assert merge({"p:name": 42, "p:size": "20", "p:flag": "true"})["p:size"] == "20"


def test_secure_values_satisfy_required_keys_and_secret_keys_must_be_secure():
    merged = merge({"p:name": {"secure": "v1:abc"}})
    assert merged["p:name"] == SecureValue("v1:abc")
    with pytest.raises(ConfigError, match="'token' must be encrypted as it's secret"):
        merge({"p:name": "x", "p:token": "plain"})


def test_yes_is_a_string_as_in_the_clis_yaml_1_2(tmp_path):
    root = copy_project(tmp_path, "t", {"config": {"aws:region": "us-east-1", "dr-platform:secondaryRegion": "us-west-2",
                                                    "dr-platform:kms": "yes"}})
    (root / "Pulumi.t.yaml").write_text((root / "Pulumi.t.yaml").read_text().replace("'yes'", "yes"))
    with pytest.raises(ConfigError, match="'kms' must be of type 'boolean'"):
        load_stack_config("t", root)


@pytest.mark.parametrize("project,message", [
    ({"aws:region": {"type": "string"}}, "should not define a type"),
    ({"x": {"type": "string", "default": "a", "value": "b"}}, "both a 'default' and 'value'"),
    ({"x": {"type": "array", "default": []}}, "'items' attribute"),
])
def test_project_level_rules(project, message):
    with pytest.raises(ConfigError, match=message):
        merge({}, {"name": "p", "config": project})


def test_mockrun_refuses_a_stack_that_lacks_a_required_key(tmp_path):
    """The original bug: Pulumi.yaml declared standbyCapacity/alertEmail without a default."""
    root = copy_project(tmp_path, "dev", yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text()))
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    del project["config"]["alertEmail"]["default"]
    (root / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    with pytest.raises(ConfigError, match=r"Stack 'dev' is missing configuration value 'alertEmail'"):
        load_stack_config("dev", root)


@pytest.mark.parametrize("stack", ["dev", "dr"])
def test_both_shipped_stacks_load_as_the_cli_loads_them(stack):
    config = load_stack_config(stack)
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    # every declared key is present (the CLI's merge), none is missing or mistyped
    assert {f"dr-platform:{k}" for k in declared} <= set(config)
    assert config["dr-platform:alertEmail"] == ""
    assert config["dr-platform:standbyCapacity"] == (1 if stack == "dr" else -1)
    assert not any(isinstance(v, SecureValue) for v in config.values())


def test_a_secure_value_needs_a_plaintext_override_offline(monkeypatch, tmp_path):
    doc = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    doc["config"]["dr-platform:alertEmail"] = {"secure": "v1:AAAA"}
    root = copy_project(tmp_path, "dev", doc)
    import infra.mockrun as mockrun

    monkeypatch.setattr(mockrun, "ROOT", root)
    monkeypatch.setattr(mockrun.load_stack_config, "__defaults__", (root,))
    with pytest.raises(ConfigError, match="dr-platform:alertEmail as secure values"):
        run_program("dev", FakeAws())
    run = run_program("dev", FakeAws(), config_overrides={"dr-platform:alertEmail": "ops@example.com"})
    assert run.config["dr-platform:alertEmail"] == "ops@example.com"
