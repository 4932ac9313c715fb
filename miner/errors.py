"""Named errors: the CLI turns each into a one-line message and exit code 2."""


class MinerError(Exception):
    """Base class for every error a user can fix (bad input, missing file, missing credentials)."""


class BadInput(MinerError):
    """An input file or value cannot be used as given."""


class BrokenInput(BadInput):
    """An input breaks off part-way (a truncated or corrupt gzip stream, a failing disk): the rows before the
    break were used, the rest cannot be read."""


class StoreError(MinerError):
    """The database cannot be reached or used (a wrong URL, a server down, a file that is no database)."""


class MissingCredentials(MinerError):
    """A source needs a secret from the environment that is not set."""


class ModelError(MinerError):
    """A model folder is missing, incomplete, or not a trusted skops file."""


class SourceError(MinerError):
    """A remote API kept failing after the retries it was allowed."""
