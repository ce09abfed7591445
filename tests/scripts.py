"""Run a training script's __main__ in this process (no torch re-import per run), for the loop tests."""

import runpy
import sys

import pytest


def run_script(script, argv):
    """Run script with argv; return its exit code (0 when it finished). A message exit (bad input) propagates."""
    saved = sys.argv
    sys.argv = [script, *argv]
    try:
        runpy.run_path(script, run_name="__main__")
        return 0
    except SystemExit as e:
        if e.code is not None and not isinstance(e.code, int):
            raise
        return e.code or 0
    finally:
        sys.argv = saved


def script_error(script, argv):
    """The SystemExit message script gives for bad input, checked to be exactly one line."""
    with pytest.raises(SystemExit) as e:
        run_script(script, argv)
    message = str(e.value.code)
    assert message and "\n" not in message
    return message
