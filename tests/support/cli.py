"""Running the `leadcapture` command in a subprocess, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.app import ROOT


def leadcapture(tmp_path, *args, env=None):
    """Run `leadcapture ARGS` with var/ in tmp_path and only the LEADCAPTURE_* settings given in env."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEADCAPTURE_")}
    environment = {**clean, "LEADCAPTURE_VAR_DIR": str(tmp_path / "var"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "leadcapture.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=60,
    )
