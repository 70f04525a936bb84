"""`geovr --help` lists the commands in the order a pipeline run goes through them."""

import subprocess
import sys

# written out here, not read from geovr.cli: the test states the order a reader expects
STAGE_ORDER = "data ingest distill distill-merge train evaluate score-vsi register promote pipeline"


def test_help_lists_the_commands_in_pipeline_order():
    proc = subprocess.run(
        [sys.executable, "-m", "geovr", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    section = proc.stdout.split("Commands:\n", 1)[1]
    listed = [line.split()[0] for line in section.splitlines() if line.startswith("  ")]
    assert listed == STAGE_ORDER.split()
