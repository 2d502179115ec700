"""Dependencies as declared: the deployed code imports only what requirements.txt declares, the
simulator's own dependencies stay out of it, and requirements.lock is the lock of requirements.txt
as it is now (`make lock` regenerates it)."""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DEPLOYED = ["core", "model", "netrules", "diagnostics", "remediation", "notifications", "intake", "state",
            "appgw_doctor", "function_app.py"]  # fmt: skip
PROJECT = {"core", "model", "netrules", "diagnostics", "remediation", "notifications", "intake", "state",
           "appgw_doctor", "simulator", "function_app"}  # fmt: skip


def requirements(path: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def declared() -> set[str]:
    return {canonicalize_name(r.name) for r in requirements(ROOT / "requirements.txt")}


def locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s#]+)", line)
        if match:
            pins[canonicalize_name(match.group(1))] = match.group(3)
    return pins


def imported_modules() -> set[str]:
    """Every absolute module the deployed code imports (module level or not)."""
    names: set[str] = set()
    for entry in DEPLOYED:
        path = ROOT / entry
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for file in files:
            for node in ast.walk(ast.parse(file.read_text())):
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module)
    return names


def distribution_of(module: str) -> str | None:
    """The installed distribution whose files hold `module` (None for the standard library)."""
    spec = importlib.util.find_spec(module)
    origin = spec.origin if spec is not None and spec.origin not in (None, "namespace") else None
    if origin is None or not ("site-packages" in origin or "dist-packages" in origin):
        return None
    dist = installed_files().get(str(Path(origin).resolve()))
    assert dist is not None, f"{module} ({origin}) belongs to no installed distribution"
    return dist


@functools.cache
def installed_files() -> dict[str, str]:
    """Installed file path -> the distribution that installed it."""
    files = {}
    for dist in importlib.metadata.distributions():
        for file in dist.files or []:
            if file.suffix == ".py":
                files[str(Path(dist.locate_file(file)).resolve())] = canonicalize_name(dist.metadata["Name"])
    return files


def test_every_package_the_deployed_code_imports_is_declared() -> None:
    undeclared = {}
    for module in sorted(imported_modules()):
        top = module.split(".")[0]
        if top in PROJECT or top in sys.stdlib_module_names or top == "__future__":
            continue
        dist = distribution_of(module)
        if dist is not None and dist not in declared():
            undeclared[module] = dist
    assert undeclared == {}, f"imported but not in requirements.txt: {undeclared}"


def test_every_declared_package_is_imported_by_the_deployed_code() -> None:
    used = {distribution_of(m) for m in imported_modules() if m.split(".")[0] not in PROJECT}
    assert declared() - used == set()


def test_the_simulator_and_its_test_ca_are_not_runtime_dependencies() -> None:
    assert "trustme" not in declared()
    assert "simulator/" in (ROOT / ".funcignore").read_text().split()


GATEWAY = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/"
           "Microsoft.Network/applicationGateways/agw")  # fmt: skip
WITHOUT_SIMULATOR = """
import sys
sys.modules["simulator"] = None  # as in the deployed package, where the simulator is left out
sys.modules["trustme"] = None
import function_app  # the Functions app loads without it
from appgw_doctor.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_without_the_simulator_the_app_loads_and_the_cli_says_world_needs_it() -> None:
    for args in (["diagnose", "--gateway", GATEWAY, "--world", "w.json"], ["simulate", "--world", "w.json"]):
        result = subprocess.run(
            [sys.executable, "-c", WITHOUT_SIMULATOR, *args], cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "simulator is not installed" in result.stderr


def test_the_lock_pins_every_declared_package_within_its_range() -> None:
    pins = locked()
    for requirement in requirements(ROOT / "requirements.txt"):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is declared but not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name])


def test_the_lock_was_made_from_requirements_txt_as_it_is() -> None:
    digest = hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest()
    assert f"# made from requirements.txt sha256 {digest}" in (ROOT / "requirements.lock").read_text(), (
        "requirements.txt changed since requirements.lock was made: run `make lock`"
    )


def test_the_development_install_has_the_locked_versions() -> None:
    """`make setup` installs the runtime set at the versions deployment gets."""
    for name, version in locked().items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # a platform- or Python-specific pin this machine does not need
        assert installed == version, f"{name}: installed {installed}, locked {version}"


def test_the_deployed_package_holds_every_app_package_but_the_simulator() -> None:
    makefile = (ROOT / "Makefile").read_text()
    packaged = set(re.search(r"^APP_PACKAGES := (.+)$", makefile, re.M).group(1).split())  # type: ignore[union-attr]
    assert packaged == PROJECT - {"simulator", "function_app"}
    assert packaged | {"function_app.py"} == set(DEPLOYED)
