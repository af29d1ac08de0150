"""The one error type every pvesim handler raises, shaped as PVE answers it."""


class ApiError(Exception):
    """An API failure: HTTP status, PVE's message (sent as the reason phrase) and
    the per-parameter ``errors`` object PVE adds to 400 answers."""

    def __init__(self, status, message, errors=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or None

    @classmethod
    def param(cls, errors):
        """PVE's 400 for bad parameters: ``{"errors": {name: text}}``."""
        return cls(400, "Parameter verification failed.", dict(errors))

    @classmethod
    def not_found(cls, message):
        # PVE reports most missing objects as a plain 500, not a 404.
        return cls(500, message)

    @classmethod
    def forbidden(cls, path, privilege):
        return cls(403, "Permission check failed (%s, %s)" % (path, privilege))


def assert_if_modified(given, current, prefix=""):
    """PVE::Tools::assert_if_modified: refuse an update whose ``digest`` parameter is not the
    digest of the config as it is now. ``prefix`` is the context some calls put before the text
    (``update ha group failed: ``)."""
    if given and current and given != current:
        raise ApiError(500, prefix + "detected modified configuration - file changed by other user? Try again.")
