"""Named exceptions of the corpus layer. Each message names the file or field at fault."""


class ArticlebotError(Exception):
    """Base class of every error articlebot reports to a user."""


class ParseError(ArticlebotError):
    """A file could not be turned into an article (unreadable, binary, empty, too large...)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class StoreError(ArticlebotError):
    """The store cannot be opened or written (bad path, newer schema, corrupt file)."""


class StoreNotFound(StoreError):
    """No store at the path given, and the command only reads (it creates nothing)."""


class IdCollision(StoreError):
    """Two different contents got the same article id (a clash of the id's 12 hex digits)."""


class ArticleNotFound(ArticlebotError):
    """No stored article has the given id (or id prefix)."""


class AmbiguousId(ArticlebotError):
    """An id prefix matches more than one article."""
