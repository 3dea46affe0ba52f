"""`make build` (sam build through src/Makefile) makes a python3.13/arm64 artifact here, where there
is neither Docker nor Python 3.13.

The first run also creates .venv-sam (aws-sam-cli from PyPI): 25-30 s on this machine, with or
without a pip cache; a later build takes 3-5 s. The unzipped artifact measured 5.0 MB of source and
8.3 MB with its bytecode; `cryptography` (CloudFront links; with cffi) takes it to 24.3 MB. botocore
alone would add about 30 MB, hence the 32 MiB bound.

The artifact carries bytecode compiled by CPython 3.13 (these machines have one under pyenv; a
build without one warns and ships source only, which the last test checks).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
ARTIFACT = ROOT / ".aws-sam" / "build" / "LumaVideoFunction"
SIZE_LIMIT_BYTES = 32 * 1024 * 1024
ELF_MACHINE_AARCH64 = 0xB7
# importlib.util.MAGIC_NUMBER of CPython 3.13 (3.13.0 gives it; it is fixed for a minor version).
PYTHON_313_MAGIC = b"\xf3\r\r\n"
# The .pyc flags word (PEP 552): bit 0 hash-based, bit 1 check the source. Unchecked hash: 0b01.
PYC_UNCHECKED_HASH = 0b01


def make_build(**variables: str) -> subprocess.CompletedProcess[str]:
    """`make build` (sam build through src/Makefile), with extra environment variables."""
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    started = time.monotonic()
    result = subprocess.run(
        ["make", "build"],
        cwd=ROOT,
        env={**env, **variables},
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    print(f"make build took {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, f"{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
    return result


@pytest.fixture(scope="module")
def artifact() -> Path:
    """Given a checkout (with or without .venv-sam), when `make build` runs, then it succeeds."""
    make_build()
    return ARTIFACT


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_artifact_has_the_code_and_nothing_else_from_src(artifact: Path) -> None:
    """Then the artifact holds handler.py and every luma_download/*.py module, their bytecode and
    nothing else: none of src/'s build files."""
    assert (artifact / "handler.py").is_file()
    modules = sorted(p.relative_to(SRC) for p in (SRC / "luma_download").rglob("*.py"))
    assert modules, "src/luma_download has no modules"
    shipped = sorted(p.relative_to(artifact) for p in (artifact / "luma_download").rglob("*") if p.is_file())
    assert [p for p in shipped if p.suffix != ".pyc"] == modules
    assert not (artifact / "Makefile").exists()
    assert not (artifact / "requirements.txt").exists()


def test_every_module_ships_bytecode_for_cpython313_unchecked(artifact: Path) -> None:
    """Then every .py in the artifact, ours and the dependencies', has its __pycache__/X.cpython-313.pyc,
    compiled by CPython 3.13 (its magic number) as an unchecked hash-based .pyc (Lambda's /var/task is
    read-only: nothing is compiled or compared with its source at a cold start), and there is no
    other bytecode (another version's, an optimized level's, or a stray cache from src/)."""
    sources = [p for p in _files(artifact) if p.suffix == ".py"]
    expected = {p.parent / "__pycache__" / f"{p.stem}.cpython-313.pyc" for p in sources}
    compiled = {p for p in _files(artifact) if p.suffix == ".pyc"}
    assert {p.relative_to(artifact) for p in compiled} == {p.relative_to(artifact) for p in expected}
    assert len(compiled) > 100, "the dependencies' bytecode is missing"
    for pyc in compiled:
        header = pyc.read_bytes()[:8]
        assert header[:4] == PYTHON_313_MAGIC, (pyc, header[:4])
        assert int.from_bytes(header[4:8], "little") == PYC_UNCHECKED_HASH, pyc


def test_artifact_has_the_pinned_runtime_dependencies(artifact: Path) -> None:
    """Then Powertools and urllib3, at the versions pinned in src/requirements.txt, are in the
    artifact, and the X-Ray SDK (in maintenance mode; tracing is Lambda's own) is not."""
    pins = {
        match[1]: match[2]
        for line in (SRC / "requirements.txt").read_text().splitlines()
        if (match := re.match(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==(\S+)", line))
    }
    assert set(pins) >= {"aws-lambda-powertools", "urllib3"}
    for name, version in pins.items():
        dist = name.replace("-", "_")
        assert (artifact / f"{dist}-{version}.dist-info").is_dir(), f"{name}=={version} not installed"
    for package in ("aws_lambda_powertools", "urllib3"):
        assert (artifact / package / "__init__.py").is_file(), package
    assert not (artifact / "aws_xray_sdk").exists()
    assert not list(artifact.glob("aws_xray_sdk-*.dist-info"))


def test_artifact_leaves_boto_to_the_runtime(artifact: Path) -> None:
    """Then boto3 and botocore (which the python3.13 runtime provides) are not shipped."""
    names = {p.name.split("-")[0].lower() for p in artifact.iterdir()}
    assert names.isdisjoint({"boto3", "botocore", "s3transfer"}), names


def test_native_code_is_for_cpython313_on_aarch64(artifact: Path) -> None:
    """Then every wheel installed is pure Python or built for cp313 on aarch64, and every shared
    object is an aarch64 ELF tagged for CPython 3.13."""
    for wheel in artifact.glob("*.dist-info/WHEEL"):
        tags = [
            line.split(":", 1)[1].strip()
            for line in wheel.read_text().splitlines()
            if line.startswith("Tag:")
        ]
        for tag in tags:
            python, abi, platform = tag.split("-")
            if platform == "any":
                continue
            assert "manylinux" in platform, (wheel.parent.name, tag)
            assert platform.endswith("aarch64"), (wheel.parent.name, tag)
            if abi == "abi3":
                assert python.startswith("cp3"), (wheel.parent.name, tag)
            else:
                assert (python, abi) == ("cp313", "cp313"), (wheel.parent.name, tag)
    shared_objects = [p for p in _files(artifact) if ".so" in p.suffixes]
    print(f"{len(shared_objects)} shared object(s): {[p.name for p in shared_objects]}")
    for so in shared_objects:
        assert re.search(r"\.(cpython-313-aarch64-linux-gnu|abi3)\.so", so.name), so.name
        header = so.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", so
        assert header[4] == 2, f"{so.name}: not 64-bit"
        assert int.from_bytes(header[18:20], "little") == ELF_MACHINE_AARCH64, f"{so.name}: not aarch64"


def test_artifact_is_small(artifact: Path) -> None:
    """Then the unzipped artifact stays under 32 MiB (Lambda's limit is 250 MB; this guards against
    botocore or other bulk creeping in)."""
    size = sum(p.stat().st_size for p in _files(artifact))
    print(f"unzipped artifact: {size / 1e6:.2f} MB in {len(_files(artifact))} files")
    assert size < SIZE_LIMIT_BYTES


def test_the_archive_worker_ships_the_same_code(artifact: Path) -> None:
    """Then the archive worker's artifact (the same handler, its own function) holds the same files
    with the same bytes as the request path's."""
    worker = artifact.parent / "ArchiveWorkerFunction"

    def contents(root: Path) -> dict[Path, bytes]:
        return {p.relative_to(root): p.read_bytes() for p in _files(root)}

    assert contents(worker) == contents(artifact)


def test_a_build_without_cpython313_warns_and_ships_source_only() -> None:
    """Given no CPython 3.13 (LAMBDA_BYTECODE_PYTHON names a missing one), when `make build` runs
    into a build directory of its own, then it succeeds, says so, and ships no bytecode."""
    with tempfile.TemporaryDirectory(prefix="build-no-313-") as scratch:
        result = make_build(
            LAMBDA_BYTECODE_PYTHON=str(Path(scratch) / "missing" / "python3.13"),
            SAM_BUILD_ARGS=f"--build-dir {scratch}/build",
        )
        built = Path(scratch) / "build" / "LumaVideoFunction"
        assert (built / "handler.py").is_file()
        assert [p for p in _files(built) if p.suffix == ".pyc"] == []
    output = result.stdout + result.stderr
    assert "WARNING: no CPython 3.13 found" in output, output[-3000:]
    assert "without bytecode" in output


# The packages the Lambda runtime itself provides (never in the artifact), taken from this .venv.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py")
# What a CloudFront link needs, run by CPython 3.13 with nothing but the artifact and the runtime's own
# packages on its path, as Lambda runs it (/var/task first, then /var/runtime).
SIGN_IN_ARTIFACT = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import cryptography
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from luma_download.archive.cdn_links import from_pem

kinds = {}
keys = {"ECDSA": ec.generate_private_key(ec.SECP256R1()), "RSA": rsa.generate_private_key(65537, 2048)}
for kind, key in keys.items():
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    links = from_pem(pem, "KBUILDTEST", "d111111abcdef8.cloudfront.net")
    kinds[kind] = links.link("luma/a.mp4", 2000000000)
print(json.dumps({"cryptography": cryptography.__file__, "links": kinds}))
"""


def _cpython313() -> str | None:
    """A CPython 3.13 that runs (src/Makefile looks in the same places)."""
    pyenv = sorted(Path("~/.pyenv/versions").expanduser().glob("3.13.*/bin/python3.13"))
    for candidate in [shutil.which("python3.13"), *map(str, pyenv)]:
        if candidate is None:
            continue
        probe = [candidate, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 13))"]
        if subprocess.run(probe, capture_output=True, timeout=30, check=False).returncode == 0:
            return candidate  # a pyenv shim without 3.13 selected answers, but not with 3.13
    return None


def test_cryptography_ships_for_aarch64_and_signs_under_the_artifact_s_layout(
    artifact: Path, tmp_path: Path
) -> None:
    """Then the artifact carries cryptography's aarch64 build (its native code is checked above); and the
    same recipe built for this machine's platform signs CloudFront links under CPython 3.13 with only the
    artifact and the runtime's own packages on its path."""
    assert (artifact / "cryptography" / "__init__.py").is_file()
    assert sorted((artifact / "cryptography").rglob("*.so")), "cryptography's native code is missing"
    python313 = _cpython313()
    if python313 is None:
        pytest.skip("no CPython 3.13 on this machine to run the artifact's layout with")
    host_build = tmp_path / "task"
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    built = subprocess.run(
        [
            "make", "--makefile", str(SRC / "Makefile"), "build-LumaVideoFunction",
            f"ARTIFACTS_DIR={host_build}", "LAMBDA_PLATFORM=manylinux2014_x86_64", f"PYTHON={sys.executable}",
        ],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert built.returncode == 0, f"{built.stdout[-3000:]}\n{built.stderr[-3000:]}"
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    for name in RUNTIME_PACKAGES:
        (runtime / name).symlink_to(site / name)
    ran = subprocess.run(
        [python313, "-I", "-S", "-c", SIGN_IN_ARTIFACT, str(host_build), str(runtime)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    answer = json.loads(ran.stdout)
    assert answer["cryptography"].startswith(str(host_build))
    for link in answer["links"].values():
        assert link.startswith(
            "https://d111111abcdef8.cloudfront.net/luma/a.mp4?Expires=2000000000&Signature="
        )
        assert link.endswith("&Key-Pair-Id=KBUILDTEST&Hash-Algorithm=SHA256")
