"""The Dockerfiles of deploy/images, checked without building anything: hadolint passes on each
(with the one rule deploy/images/.hadolint.yaml turns off, and why), and each image carries the
OCI labels a registry and a scanner read. Building and running them is make test-containers."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "deploy" / "images"
DOCKERFILES = sorted([IMAGES / "Dockerfile", *IMAGES.glob("*/Dockerfile")])
OCI_LABELS = {"title", "description", "version", "revision", "created", "licenses", "source"}


def test_every_image_of_make_images_has_a_dockerfile() -> None:
    assert {p.parent.name for p in DOCKERFILES} == {"images", "kafka", "postgres", "smtp-sink"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_passes(dockerfile: Path) -> None:
    done = subprocess.run(["hadolint", "--config", str(IMAGES / ".hadolint.yaml"), str(dockerfile)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN cd /tmp && apt-get install curl\n")
    done = subprocess.run(["hadolint", "--config", str(IMAGES / ".hadolint.yaml"), str(bad)],
                          capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "DL3003" in done.stdout  # cd in RUN: use WORKDIR


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_each_image_carries_the_oci_labels(dockerfile: Path) -> None:
    labels = set(re.findall(r"org\.opencontainers\.image\.([a-z]+)=", dockerfile.read_text()))
    assert labels >= OCI_LABELS


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_no_image_runs_as_root(dockerfile: Path) -> None:
    users = re.findall(r"^USER\s+(\S+)", dockerfile.read_text(), flags=re.MULTILINE)
    assert users and users[-1].isdigit() and users[-1] != "0"
