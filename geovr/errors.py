"""Errors a user can act on. The CLI prints their message as a one-line reason and exits 2."""


class GeoVRError(Exception):
    """A failure with a message meant for the user (bad input, missing artifact, ...)."""


class ArtifactError(GeoVRError):
    """An artifact is missing, half-written, or of a schema this version does not know."""
