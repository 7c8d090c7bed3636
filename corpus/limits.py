"""Limits shared by the library and the command line (a module without heavy imports)."""

DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # largest article file read; larger ones are reported
