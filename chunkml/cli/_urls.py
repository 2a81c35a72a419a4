"""INPUT, OUT and MODEL as fsspec URLs: a URL's protocol, ``file://`` URLs made local
paths, and the filesystem of a URL, with the errors of a missing package or an unknown
protocol."""

import re

from ._errors import CommandError, UsageError, one_line

_URL = re.compile(r"^(?P<protocol>[A-Za-z][A-Za-z0-9+.-]*)://")


def url_protocol(path):
    """The protocol of an fsspec URL (``memory``, ``s3``, ...), or None for a local
    path; ``file://`` URLs are made local paths first (:func:`local`)."""
    match = _URL.match(str(path))
    return match["protocol"].lower() if match else None


def local(path):
    """``path`` with a ``file://`` URL made the local path it names: local files keep
    every guarantee of a path. Other URLs and paths are returned as they are."""
    path = str(path)
    if url_protocol(path) == "file":
        return path[len("file://"):] or "/"
    return path


def url_filesystem(path, what="INPUT"):
    """(fsspec filesystem, path in it) of a URL; a protocol whose package is not
    installed (s3fs for s3://) is a CommandError naming it."""
    try:
        import fsspec
    except ImportError:
        raise CommandError(f"reading {what} {path!r} needs fsspec: "
                           "pip install fsspec") from None
    try:
        return fsspec.core.url_to_fs(path)
    except ImportError as exc:
        raise CommandError(f"reading {what} {path!r} needs another package: "
                           f"{one_line(exc)}") from None
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{what} {path!r} is not a URL fsspec knows: "
                         f"{one_line(exc)}") from None
