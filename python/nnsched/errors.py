"""The exceptions nnsched raises: every one is an ``nnsched.Error``."""


class Error(Exception):
    """Anything nnsched refuses or fails at."""


class ModelError(Error):
    """A model that cannot be loaded: an unknown name, a malformed or
    unsupported ONNX file (the message names the file and node)."""


class HardwareError(Error, ValueError):
    """A hardware description that is missing or invalid (the message names
    the file or the field)."""


class OptionsError(Error, ValueError):
    """Search options that do not go together, or are out of range."""


class NoScheduleError(Error):
    """No mapping of a layer fits the hardware or the constraints.

    Attributes: ``layer`` (its name) and ``reason`` (which constraint)."""

    layer: str = ""
    reason: str = ""


class Stopped(Error):
    """The search stopped at its time limit.

    Attributes: ``partial`` (the best ``Schedule`` of the layers done,
    marked incomplete), ``reason``, ``done`` and ``total`` layers."""

    partial = None
    reason: str = ""
    done: int = 0
    total: int = 0


class Interrupted(Stopped, KeyboardInterrupt):
    """The search was interrupted (Ctrl-C); ``partial`` as for ``Stopped``.
    Also a ``KeyboardInterrupt``, so that scripts stop as usual."""


class DocumentError(Error):
    """A schedule document that cannot be read or does not hold together."""


class FileError(Error, OSError):
    """A file that cannot be read or written."""


class InternalError(Error):
    """A bug: a schedule failed its consistency checks."""
