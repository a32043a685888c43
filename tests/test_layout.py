import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_recovery_lib_never_imports_pulumi_or_infra():
    offenders = []
    for path in (ROOT / "recovery_lib").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in {"pulumi", "pulumi_aws", "pulumi_policy", "infra", "moto"}:
                    offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []
