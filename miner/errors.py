"""Named errors: the CLI turns each into a one-line message and exit code 2."""


class MinerError(Exception):
    """Base class for every error a user can fix (bad input, missing file, missing credentials)."""


class BadInput(MinerError):
    """An input file or value cannot be used as given."""


class MissingCredentials(MinerError):
    """A source needs a secret from the environment that is not set."""


class ModelError(MinerError):
    """A model folder is missing, incomplete, or not a trusted skops file."""


class SourceError(MinerError):
    """A remote API kept failing after the retries it was allowed."""
