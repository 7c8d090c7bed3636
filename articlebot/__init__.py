"""articlebot: a chat bot that answers questions about a corpus of articles."""

__version__ = "0.1.0"
