"""torchrun's agent as `geovr train` starts it: it dies with `geovr train` (then stops its
workers), and it reports a failed worker by that worker's exit code in one line, not
torchrun's traceback (the worker has printed its own error).

    python -m geovr.train.agent --standalone --nproc-per-node 2 -m geovr.train.worker ...
"""

from __future__ import annotations

import signal
import sys

from geovr.train.lifetime import EXIT_FAILED, die_with_parent


def main() -> int:
    die_with_parent(signal.SIGTERM)  # SIGTERM: the agent then stops its workers itself
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    try:
        torchrun()
    except ChildFailedError as e:
        rank, failure = e.get_first_failure()
        code = failure.exitcode
        print(f"geovr: worker rank {rank} exited with {code}", file=sys.stderr)
        return 128 - code if code < 0 else code or EXIT_FAILED  # -N: killed by signal N
    except SignalException as e:
        return 128 + int(e.sigval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
