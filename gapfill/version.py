"""The distribution's version (pyproject.toml's), for code that reports it: the API, the package."""

__version__ = "0.1.0"
