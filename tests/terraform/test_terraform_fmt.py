"""`terraform fmt -check` (the one Terraform check that needs no provider download)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.terraform.hcl import TERRAFORM


def test_terraform_files_are_formatted():
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("no terraform binary on the PATH: `terraform fmt -check` not run")
    result = subprocess.run(
        [binary, "fmt", "-check", "-recursive", "-list=true", str(TERRAFORM)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, f"run `terraform fmt -recursive terraform/`:\n{result.stdout}"
