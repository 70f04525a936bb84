"""MLflow registration and promotion of GeoVR students (docs/contracts.md section 6).

    geovr register --checkpoint DIR --metrics FILE --model geovr-student [--tracking-uri URI]
    geovr promote --model geovr-student --version 3 [--alias champion] [--copy-to NAME]
    geovr promote --model geovr-student --rollback             # one step back in the history

Modules: `inputs` (checkpoint and metrics.json), `gate` (the promotion policy, pure),
`connection` (server probe with bounded retries), `verify` (the checkpoint loads, before
and after upload), `register` (log + register + gate), `lock` (one alias move at a time),
`history` (the append-only promotion record), `promotion` (alias moves, rollback, copies),
`loading` (download a version by alias), `student_model` (the pyfunc MLflow runs at load
time), `serving` (its code, signature and input example).
"""

from geovr.registry.connection import RegistryError, RegistryUnavailable, RetryBudget, connect
from geovr.registry.gate import Candidate, Decision, GatePolicy, MetricRule, decide
from geovr.registry.loading import LoadedVersion, alias_uri, load_champion
from geovr.registry.promotion import CHALLENGER, CHAMPION, Promotion, promote, rollback
from geovr.registry.register import DEFAULT_MODEL, Registration, RunLinks, register_checkpoint

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DEFAULT_MODEL",
    "Candidate",
    "Decision",
    "GatePolicy",
    "LoadedVersion",
    "MetricRule",
    "Promotion",
    "Registration",
    "RegistryError",
    "RegistryUnavailable",
    "RetryBudget",
    "RunLinks",
    "alias_uri",
    "connect",
    "decide",
    "load_champion",
    "promote",
    "register_checkpoint",
    "rollback",
]
