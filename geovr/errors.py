"""Errors a user can act on. The CLI prints their message as a one-line reason and exits with
their `exit_code` (2 unless a subclass says what else happened)."""


class GeoVRError(Exception):
    """A failure with a message meant for the user (bad input, missing artifact, ...)."""

    exit_code = 2


class ArtifactError(GeoVRError):
    """An artifact is missing, half-written, or of a schema this version does not know."""
