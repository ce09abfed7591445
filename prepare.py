"""
The one module the scripts share: dataset preparation, tokenizers, and the config override helper.

Prepare a dataset (writes data/NAME/{train,val[,test]}.bin and meta.json):
$ python prepare.py shakespeare_char                     # bundled, no network
$ python prepare.py ptb --from ../shared/data/ptb        # a local copy instead of a download

The config helper every script uses:
$ python train_gpt.py config/gpt2.py --batch_size=8
"""

import ast
import difflib
import json
import os
import sys

import numpy as np

REPO_DIR = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(REPO_DIR, "data")

# -----------------------------------------------------------------------------
# config: module globals overridden by config files and --key=value


def _coerce(key, value, default):
    """Check a config value against the type of its default; an int is fine where a float is expected."""
    if default is None or value is None:
        return value
    if isinstance(default, bool):  # bool before int: bool is a subclass of int
        if isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, type(default)):
        return value
    raise SystemExit(f"config: {key} must be {type(default).__name__} (default {default!r}), got {value!r}")


def _unknown(key, known, where):
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else f"; known keys: {', '.join(sorted(known))}"
    return SystemExit(f"config: unknown key '{key}' in {where}{hint}")


def configure(defaults, argv=None):
    """Resolve a script's settings: `defaults` (name -> value), then each config file and --key=value in argv order.

    Config files are Python run in a namespace holding the current settings, so they can compute one setting
    from another; any new name they bind (not starting with _) is an error, like an unknown --key.
    Config paths are tried as given, then relative to the repository, so scripts work from any directory.
    Returns the resolved dict; every mistake is one SystemExit line.
    """
    config = dict(defaults)
    for arg in sys.argv[1:] if argv is None else argv:
        if arg.startswith("--"):
            key, sep, text = arg[2:].partition("=")
            if not sep:
                raise SystemExit(f"config: '{arg}' needs a value: write --{key}=VALUE")
            if key not in config:
                raise _unknown(key, config, "the command line")
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                value = text  # a bare word is a string: --dataset=ptb
            if isinstance(config[key], str) and not isinstance(value, str):
                value = text  # --out_dir=123 is still a path
            config[key] = _coerce(key, value, config[key])
        else:
            path = arg if os.path.exists(arg) else os.path.join(REPO_DIR, arg)
            if not os.path.isfile(path):
                raise SystemExit(f"config: no config file '{arg}' (settings are written --key=value)")
            namespace = dict(config)
            with open(path) as f:
                code = compile(f.read(), path, "exec")
            exec(code, namespace)
            for key, value in namespace.items():
                if key.startswith("_") or type(value).__name__ in ("module", "function", "type"):
                    continue
                if key not in config:
                    raise _unknown(key, config, path)
                config[key] = _coerce(key, value, config[key])
    return config

# -----------------------------------------------------------------------------
# reading prepared data


def dataset_dir(name):
    return os.path.join(DATA_DIR, name)


def load_meta(name):
    """meta.json of a prepared dataset; the bundled default is prepared on first use, others say how to make them."""
    path = os.path.join(dataset_dir(name), "meta.json")
    if not os.path.exists(path) and name in BUNDLED:
        print(f"preparing the bundled dataset {name} (first run only)")
        prepare(name)
    if not os.path.exists(path):
        raise SystemExit(f"data: dataset '{name}' is not prepared: run `python prepare.py {PREPARE_HINT.get(name, name)}`")
    with open(path) as f:
        return json.load(f)


def load_split(name, split, meta=None):
    """The token stream of one split as a read-only memmap (nothing is read until it is indexed)."""
    meta = meta or load_meta(name)
    path = os.path.join(dataset_dir(name), f"{split}.bin")
    if not os.path.exists(path):
        raise SystemExit(f"data: {path} is missing: run `python prepare.py {PREPARE_HINT.get(name, name)}` again")
    return np.memmap(path, dtype=meta["dtype"], mode="r")
