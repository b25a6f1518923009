"""Text that came from outside Python: command-line arguments and file names."""

from __future__ import annotations


def is_utf8(text: str) -> bool:
    """False for text holding bytes that were not UTF-8. Python hands such bytes over (in
    sys.argv, in os.listdir) as lone surrogates, which pass for text until a database driver, a
    log line or a JSON file has to encode them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
