"""An oracle that sleeps per clip, so a test can kill a distill run part way.

Run as a script (a separate process the test kills with SIGKILL):
    python tests/teachers/slow_teacher.py CLIPS OUT DELAY_S
"""

from __future__ import annotations

import sys
import time

from geovr.teachers.base import register_teacher
from geovr.teachers.distill import run_distill
from geovr.teachers.oracle import OracleTeacher


class SlowOracle(OracleTeacher):
    name = "slow-oracle"

    def __init__(self, delay: float = 0.0, **options):
        super().__init__(**options)
        self.delay = delay  # not in config: it does not change the targets

    def targets(self, frames, intrinsics=None, gt=None):
        time.sleep(self.delay)
        return super().targets(frames, intrinsics, gt)


register_teacher("slow-oracle", SlowOracle)

if __name__ == "__main__":
    clips, out, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
    run_distill(
        clips,
        "slow-oracle",
        out,
        device="cpu",
        clips_per_shard=1,
        options={"delay": delay},
        progress=False,
    )
