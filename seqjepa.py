"""Lets `import seqjepa` work from the repository root without installing anything:
the package lives in python/seqjepa/ (build its library with `make python`). Elsewhere,
put python/ on PYTHONPATH instead."""
import os as _os
import sys as _sys

_pkg_parent = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "python")
if _pkg_parent not in _sys.path:
    _sys.path.insert(0, _pkg_parent)
del _sys.modules[__name__]
import seqjepa as _real  # noqa: E402  (now python/seqjepa/)

_sys.modules[__name__] = _real
