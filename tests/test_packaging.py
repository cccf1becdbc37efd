"""What a package index and a packager see: licences shipped with the code and the data, PEP 639
metadata, classifiers that match requires-python, and a README whose images render off GitHub.

The repository-file checks skip when the tests run without the source tree next to them."""

from __future__ import annotations

import re
from importlib import metadata, resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _repo_file(name: str) -> Path:
    path = ROOT / name
    if not path.is_file():
        pytest.skip(f"{name} is not next to the tests (installed tests without the source tree)")
    return path


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    with _repo_file("pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def test_license_file_is_mit():
    text = _repo_file("LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "The tapegrad authors" in text


def test_digits_notice_is_installed_beside_the_data():
    data = resources.files("tapegrad.data")
    assert data.joinpath("digits.npz").is_file()
    notice = data.joinpath("digits.npz.LICENSE.txt")
    assert notice.is_file(), "the CC BY 4.0 notice must ship next to digits.npz"
    text = notice.read_text(encoding="utf-8")
    assert "CC BY 4.0" in text and "Alpaydin" in text and "10.24432/C50P49" in text


def test_package_is_marked_typed():
    assert resources.files("tapegrad").joinpath("py.typed").is_file()


def test_pyproject_license_metadata():
    project = _pyproject()["project"]
    # PEP 639: an SPDX expression, the files it refers to, and no "License ::" classifier.
    assert isinstance(project["license"], str) and "MIT" in project["license"]
    for name in project["license-files"]:
        assert (ROOT / name).is_file(), name
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]
    assert project["authors"] and {"Homepage", "Documentation", "Issues"} <= set(project["urls"])


def test_python_classifiers_match_requires_python():
    project = _pyproject()["project"]
    low = re.fullmatch(r">=\s*3\.(\d+)", project["requires-python"])
    assert low is not None
    versions = sorted(
        int(m.group(1))
        for c in project["classifiers"]
        if (m := re.fullmatch(r"Programming Language :: Python :: 3\.(\d+)", c))
    )
    assert versions and versions[0] == int(low.group(1))
    assert versions == list(range(versions[0], versions[-1] + 1)), "a gap in the classifiers"
    assert "Typing :: Typed" in project["classifiers"]
    # cibuildwheel builds exactly the classified versions.
    builds = _pyproject()["tool"]["cibuildwheel"]["build"]
    assert sorted(int(b[2:].split("-")[0]) for b in builds) == [300 + v for v in versions]


def test_readme_images_are_absolute():
    # The README is the package index page: a relative image path has nothing to point at there.
    text = _repo_file("README.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)", text) + re.findall(r"<img[^>]*src=\"([^\"]+)", text)
    relative = [src for src in images if not src.startswith("https://")]
    assert not relative, f"relative image links in README.md: {relative}"


def test_installed_metadata_carries_the_license():
    try:
        meta = metadata.metadata("tapegrad")
    except metadata.PackageNotFoundError:  # pragma: no cover - imported from a source tree
        pytest.skip("tapegrad is not installed")
    expression = meta.get("License-Expression")
    if expression is None:
        pytest.skip(f"installed with older metadata ({meta.get('Metadata-Version')})")
    assert "MIT" in expression
