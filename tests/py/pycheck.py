"""Shared bits of the Python tests (tests/test_*.py): the package on the path, the
seqjepa binary and a way to run it, and the pass/fail count. A test makes one Checks,
calls its check() for every assertion and ends with its done() line."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
EXE = os.path.join(ROOT, os.environ.get("SEQJEPA_EXE", "bin/seqjepa"))


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, cond, what, extra=""):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {what} {extra}", file=sys.stderr)
        return cond

    def raises(self, exc, words, fn, what):
        """fn() must raise exc with every word of `words` in its message."""
        try:
            fn()
        except exc as e:
            msg = str(e)
            return self.check(all(w in msg for w in words), what, f"message: {msg!r}")
        except Exception as e:  # noqa: BLE001 - reported as a failure
            return self.check(False, what, f"raised {type(e).__name__}: {e}")
        return self.check(False, what, "raised nothing")

    def done(self):
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def torch_or_exit(checks):
    """The torch module; where it is not installed, says so, prints the closing line
    and exits (nothing to check)."""
    try:
        import torch
    except ImportError:
        print("torch is not installed: nothing to check")
        sys.exit(checks.done())
    return torch


def run(*args, timeout=600, **kw):
    """The seqjepa command with args in the repository root (its configs/ and assets/);
    kw goes to subprocess.run (env=...). timeout is a guard against a hang."""
    kw.setdefault("cwd", ROOT)
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout, **kw)
