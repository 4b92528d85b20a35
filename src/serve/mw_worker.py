# mw_worker.py - the Python side of mw's python runtime (src/serve/rt_python.c).
#
# This file is not installed anywhere: CMake embeds it into the mw binary as a
# byte array (gen/mw_worker_py.h) and rt_python.c starts each worker as
#
#     python3 -B -c BOOT mw-worker
#
# where BOOT drops '' from sys.path and runs
# exec(compile(sys.stdin.buffer.read(), 'mw_worker.py', 'exec')), with this
# source on the worker's stdin (read to EOF; stdin is then /dev/null).  The
# worker then talks to mw over two inherited pipes:
#
#     fd 3  requests from mw      fd 4  replies to mw
#
# fd 1 (stdout) is a copy of fd 2, so a model that prints cannot corrupt the
# protocol.  Every message is one frame:
#
#     u32 LE  header length H     (1 .. 16 MiB)
#     u32 LE  payload length P    (0 .. 4 GiB - 1; mw sends and accepts <= 1 GiB)
#     H bytes UTF-8 JSON object   (the header)
#     P bytes raw payload         (little-endian float32, row-major)
#
# Requests and replies (one reply per request, in order):
#
#     {"op":"load","dir":D,"file":F|null,"mlmodel":{...}|null}     P = 0
#       -> {"ok":true,"info":{features, outputs, feature_names, kind, ...}}
#     {"op":"predict","id":N,"rows":R,"cols":C}                    P = R*C*4
#       -> {"ok":true,"id":N,"rows":R,"outputs":K}                 P = R*K*4
#     any failure -> {"ok":false,"id":N?,"code":C,"error":"message"}, P = 0
#
# load also carries "dir_fd" (the model directory as an inherited O_PATH
# descriptor: the worker reads the model through /proc/self/fd/N, so a
# worker running as an unprivileged user needs no access to the data
# directory above it), "cpu_seconds" (re-armed as the RLIMIT_CPU soft limit
# before each request: SIGXCPU kills a model that spins) and "memory" (the
# RLIMIT_AS mw set, for messages).  A MemoryError is answered, then the
# worker exits so that mw replaces it with a fresh one.
#
# code is "invalid" (bad model file, bad input: mw answers 400-like),
# "unsupported" (a model kind this runtime cannot serve) or "internal".
# The worker exits 0 when fd 3 reaches EOF; mw kills it when it hangs.
#
# Model kinds (see docs/runtime-python.md): an MLflow model directory (MLmodel
# with the sklearn, xgboost or python_function flavor), a plain module file
# exposing predict(batch), or a bare pickle.  Only the standard library and
# numpy are required; sklearn, xgboost, yaml, pandas, cloudpickle and joblib
# are used when the model needs them and they are importable.

import importlib
import importlib.util
import json
import os
import pickle
import re
import select
import struct
import sys
import threading
import traceback
import warnings

import numpy as np

MAX_HEADER = 16 << 20
PROTO_IN = 3
PROTO_OUT = 4


class WorkerError(Exception):
    """An error with a protocol code, reported to mw as is."""

    def __init__(self, message, code="invalid"):
        super().__init__(message)
        self.code = code


def describe_exc(e):
    msg = str(e).strip()
    name = type(e).__name__
    return "%s: %s" % (name, msg) if msg else name


# ------------------------------------------------------------------ confinement
#
# Every file a model names (MLmodel paths: data, model_path, pickled_model,
# code; the module file; the pickle) must stay inside the model directory:
# no absolute path, no '..' component, and its realpath under the realpath of
# the directory.  mw checks the same in C before it starts a worker; this is
# the check right before the file is opened, imported or unpickled.  Errors
# name the path as the model wrote it, never its content or an absolute path.

def show(rel):
    out = []
    for ch in rel[:100]:
        out.append(ch if " " <= ch < "\x7f" and ch not in "\\'" else "\\x%02x" % (ord(ch) & 0xff))
    return "".join(out) + ("..." if len(rel) > 100 else "")


def under(root, real):
    return real == root or real.startswith(root.rstrip("/") + "/")


# (realpath of the model directory, the path the worker opens it by): with a
# directory descriptor, realpath gives names the worker may not be allowed
# to walk to; reroot maps them back under /proc/self/fd/N.
_ROOT = [None, None]


def reroot(real):
    rr, fd_root = _ROOT
    if rr and fd_root and under(rr, real):
        return fd_root + real[len(rr.rstrip("/")):]
    return real


def confined(model_dir, rel, what, must_exist=True):
    """The resolved path of rel (as the model wrote it) inside model_dir."""
    if not isinstance(rel, str) or not rel:
        raise WorkerError("the model's %s path is empty" % what)
    if rel.startswith("/") or "\0" in rel or ".." in rel.split("/"):
        raise WorkerError("the model's %s path '%s' leaves the model directory"
                          % (what, show(rel)))
    root = os.path.realpath(model_dir)
    real = os.path.realpath(os.path.join(root, rel))
    if not under(root, real):
        raise WorkerError("the model's %s path '%s' leaves the model directory"
                          % (what, show(rel)))
    real = reroot(real)
    if must_exist and not os.path.exists(real):
        raise WorkerError("cannot read the model file '%s'" % show(rel))
    return real


def confined_abs(model_dir, path):
    """An absolute path mw chose (the model file) inside model_dir."""
    root = os.path.realpath(model_dir)
    real = os.path.realpath(path)
    rel = os.path.relpath(path, model_dir) if path.startswith(model_dir) else \
        os.path.basename(path)
    if not under(root, real):
        raise WorkerError("the model's file '%s' leaves the model directory" % show(rel))
    real = reroot(real)
    if not os.path.isfile(real):
        raise WorkerError("cannot read the model file '%s'" % show(rel))
    return real


MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


# ------------------------------------------------------------------ frames

def read_exact(f, n):
    buf = f.read(n)
    if buf is None or len(buf) != n:
        return None
    return buf


def read_frame(f):
    prefix = f.read(8)
    if not prefix:
        return None
    if len(prefix) != 8:
        raise EOFError("truncated frame prefix")
    hlen, plen = struct.unpack("<II", prefix)
    if hlen == 0 or hlen > MAX_HEADER:
        raise EOFError("bad header length %d" % hlen)
    hdr = read_exact(f, hlen)
    if hdr is None:
        raise EOFError("truncated header")
    payload = read_exact(f, plen) if plen else b""
    if payload is None:
        raise EOFError("truncated payload")
    return json.loads(hdr.decode("utf-8")), payload


def write_frame(f, hdr, payload=b""):
    h = json.dumps(hdr, separators=(",", ":"), allow_nan=False).encode("utf-8")
    f.write(struct.pack("<II", len(h), len(payload)))
    f.write(h)
    if payload:
        f.write(payload)
    f.flush()


# ------------------------------------------------------------------ MLmodel YAML

def yaml_scalar(s):
    """A plain YAML scalar as MLflow's safe_dump writes them."""
    if s in ("", "~", "null", "Null", "NULL"):
        return None
    if s in ("true", "True", "TRUE"):
        return True
    if s in ("false", "False", "FALSE"):
        return False
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        pass
    return s


def unquote(text):
    """A complete quoted scalar (continuation lines already joined)."""
    if text[0] == "'":
        return text[1:-1].replace("''", "'")
    return json.loads(text)


def quote_closed(text):
    """Whether a scalar opened with a quote is closed at the end of text."""
    q = text[0]
    i = 1
    while i < len(text):
        c = text[i]
        if q == '"' and c == "\\":
            i += 2
            continue
        if c == q:
            if q == "'" and i + 1 < len(text) and text[i + 1] == "'":
                i += 2
                continue
            return i == len(text) - 1
        i += 1
    return False


def mini_yaml(text):
    """The block-mapping subset of YAML that MLflow writes in MLmodel files:
    nested 'key: value' mappings by indentation, plain, single- and
    double-quoted scalars (quoted ones may be folded over several lines),
    '- item' sequences of scalars, {} and [] for empty collections."""
    lines = []
    raw = text.splitlines()
    i = 0
    while i < len(raw):
        line = raw[i].rstrip()
        i += 1
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#") or stripped in ("---", "..."):
            continue
        indent = len(line) - len(stripped)
        # fold the continuation lines of a quoted scalar into one line
        body = stripped
        if body.startswith("- "):
            head, value = "- ", body[2:].strip()
        elif ": " in body or body.endswith(":"):
            k, _, v = body.partition(":")
            head, value = k + ": ", v.strip()
        else:
            head, value = "", body
        if value[:1] in ("'", '"'):
            while not quote_closed(value):
                if i >= len(raw):
                    raise ValueError("unterminated quoted scalar in MLmodel")
                nxt = raw[i].strip()
                i += 1
                value = value + "\n" if not nxt else value + " " + nxt
            # YAML folding: a single line break is a space, an empty line a newline
            value = value.replace(" \n", "\n").replace("\n ", "\n")
        if head == "" and lines and indent > lines[-1][0] and lines[-1][2] and \
                lines[-1][2][:1] not in ("'", '"'):
            # the continuation of a long plain scalar folded by the writer
            prev = lines[-1]
            lines[-1] = (prev[0], prev[1], prev[2] + " " + value)
            continue
        lines.append((indent, head, value))

    pos = 0

    def parse_block(indent):
        nonlocal pos
        if pos >= len(lines):
            return None
        if lines[pos][1] == "- ":
            seq = []
            while pos < len(lines) and lines[pos][0] == indent and lines[pos][1] == "- ":
                seq.append(value_of(lines[pos][2]))
                pos += 1
            return seq
        mapping = {}
        while pos < len(lines) and lines[pos][0] == indent:
            ind, head, value = lines[pos]
            if not head.endswith(": "):
                raise ValueError("unsupported MLmodel line: %r" % (head + value))
            key = head[:-2].strip()
            if key[:1] in ("'", '"'):
                key = unquote(key)
            pos += 1
            if value == "":
                if pos < len(lines) and (lines[pos][0] > ind or
                                         (lines[pos][0] == ind and lines[pos][1] == "- ")):
                    mapping[key] = parse_block(lines[pos][0])
                else:
                    mapping[key] = None
            else:
                mapping[key] = value_of(value)
        return mapping

    def value_of(v):
        if v[:1] in ("'", '"'):
            return unquote(v)
        if v == "{}":
            return {}
        if v == "[]":
            return []
        return yaml_scalar(v)

    if not lines:
        return {}
    result = parse_block(lines[0][0])
    if pos != len(lines):
        raise ValueError("unsupported MLmodel structure near %r" % (lines[pos][1] + lines[pos][2]))
    return result


def untype(v):
    """mw hands over MLmodel with every scalar as a string (its YAML reader
    guesses no types): give back the nulls and booleans."""
    if isinstance(v, dict):
        return {k: untype(x) for k, x in v.items()}
    if isinstance(v, list):
        return [untype(x) for x in v]
    if isinstance(v, str):
        if v in ("", "~", "null", "Null", "NULL"):
            return None
        if v in ("true", "True", "TRUE"):
            return True
        if v in ("false", "False", "FALSE"):
            return False
    return v


def read_mlmodel(path):
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    if _LIMITS.get("yaml") != "mini":
        try:
            import yaml
        except ImportError:
            yaml = None
        if yaml is not None:
            doc = yaml.safe_load(text)
            if not isinstance(doc, dict):
                raise WorkerError("MLmodel is not a mapping")
            return doc
    doc = mini_yaml(text)
    if not isinstance(doc, dict):
        raise WorkerError("MLmodel is not a mapping")
    return doc


# ------------------------------------------------------------------ signature

NUMERIC_TYPES = {"double", "float", "long", "integer", "boolean", "datetime"}


def parse_signature(mlmodel):
    """(features, feature_names, outputs) from MLmodel's signature, each None
    when the signature does not say."""
    sig = mlmodel.get("signature") if isinstance(mlmodel, dict) else None
    if not isinstance(sig, dict):
        return None, None, None
    features = names = outputs = None

    def load(field):
        v = sig.get(field)
        if isinstance(v, str):
            try:
                v = json.loads(v)
            except ValueError:
                raise WorkerError("MLmodel signature.%s is not valid JSON" % field)
        return v if isinstance(v, list) and v else None

    inputs = load("inputs")
    if inputs:
        if all(isinstance(c, dict) and c.get("type") != "tensor" for c in inputs):
            for c in inputs:
                t = c.get("type")
                if t not in NUMERIC_TYPES:
                    raise WorkerError("input column %r has type %r; the python runtime feeds "
                                      "float32 features only" % (c.get("name"), t), "unsupported")
            features = len(inputs)
            if all(isinstance(c.get("name"), str) for c in inputs):
                names = [c["name"] for c in inputs]
        elif len(inputs) == 1 and inputs[0].get("type") == "tensor":
            shape = (inputs[0].get("tensor-spec") or {}).get("shape") or []
            if len(shape) == 2 and isinstance(shape[1], int) and shape[1] > 0:
                features = shape[1]
    outs = load("outputs")
    if outs:
        if all(isinstance(c, dict) and c.get("type") != "tensor" for c in outs):
            outputs = len(outs)
        elif len(outs) == 1:
            shape = (outs[0].get("tensor-spec") or {}).get("shape") or []
            if len(shape) == 1:
                outputs = 1
            elif len(shape) == 2 and isinstance(shape[1], int) and shape[1] > 0:
                outputs = shape[1]
    return features, names, outputs


# ------------------------------------------------------------------ loaders

def open_model_file(path, rel):
    try:
        return open(path, "rb")
    except OSError:
        raise WorkerError("cannot read the model file '%s'" % show(rel))


def load_pickle(path, fmt=None, rel=None):
    rel = rel or os.path.basename(path)
    if path.endswith(".joblib") or fmt == "joblib":
        import joblib
        with open_model_file(path, rel) as f:
            return joblib.load(f)
    if fmt == "cloudpickle":
        try:
            import cloudpickle
        except ImportError:
            cloudpickle = None
        if cloudpickle is not None:
            with open_model_file(path, rel) as f:
                return cloudpickle.load(f)
        # cloudpickle writes standard pickles; plain pickle reads those of
        # importable classes (every sklearn estimator)
    with open_model_file(path, rel) as f:
        return pickle.load(f)


def load_module_file(path):
    spec = importlib.util.spec_from_file_location("mw_user_model", path)
    if spec is None or spec.loader is None:
        raise WorkerError("cannot import %s" % show(os.path.basename(path)))
    mod = importlib.util.module_from_spec(spec)
    sys.modules["mw_user_model"] = mod
    d = os.path.dirname(os.path.abspath(path))
    if d not in sys.path:
        sys.path.insert(0, d)
    spec.loader.exec_module(mod)
    if not callable(getattr(mod, "predict", None)):
        raise WorkerError("%s has no predict(batch) function" % os.path.basename(path))
    return mod


def add_code_path(model_dir, flavor):
    code = flavor.get("code") if isinstance(flavor, dict) else None
    if isinstance(code, str) and code:
        p = confined(model_dir, code, "code", must_exist=False)
        if os.path.isdir(p) and p not in sys.path:
            sys.path.insert(0, p)


def have_module(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class Model:
    """What a loaded model needs for prediction: the callable, how to feed
    it, what it returns."""

    def __init__(self):
        self.kind = None        # "sklearn", "xgboost", "module", "pyfunc"
        self.obj = None
        self.method = "predict"
        self.features = None
        self.outputs = None
        self.feature_names = None
        self.classes = None
        self.label_index = None  # non-numeric labels -> index into classes_
        self.dtype = np.float64
        self.flavor = None
        self.source = None

    def info(self):
        info = {
            "kind": self.kind,
            "flavor": self.flavor,
            "source": self.source,
            "class": (None if self.kind == "module" else
                      type(self.obj).__module__ + "." + type(self.obj).__name__),
            "method": self.method,
            "features": self.features or 0,
            "outputs": self.outputs or 1,
            "feature_names": self.feature_names,
            "python": "%d.%d.%d" % sys.version_info[:3],
            "numpy": np.__version__,
        }
        if self.classes is not None:
            info["classes"] = [c if isinstance(c, (str, int, float, bool)) else str(c)
                               for c in self.classes]
        return info


def as_list_of_str(v):
    try:
        out = [str(x) for x in list(v)]
    except TypeError:
        return None
    return out or None


PREDICT_METHODS = ("predict", "predict_proba")


def setup_sklearn(m, obj, method="predict"):
    """sklearn estimators (and anything that looks like one: predict,
    optionally predict_proba and classes_).  method is what MLflow's pyfunc
    would call: predict (its default: a classifier's labels), or
    predict_proba when the model was logged with pyfunc_predict_fn
    (python_function's predict_fn in MLmodel)."""
    m.kind = "sklearn"
    m.obj = obj
    m.dtype = np.float64
    if not callable(getattr(obj, "predict", None)):
        raise WorkerError("the pickled object (%s) has no predict method" % type(obj).__name__)
    nf = getattr(obj, "n_features_in_", None)
    if isinstance(nf, (int, np.integer)) and nf > 0:
        m.features = int(nf)
    names = getattr(obj, "feature_names_in_", None)
    if names is not None:
        m.feature_names = as_list_of_str(names)
    classes = getattr(obj, "classes_", None)
    is_clf = classes is not None and getattr(obj, "_estimator_type", "classifier") == "classifier"
    if is_clf:
        classes = np.asarray(classes)
        if classes.ndim != 1:
            raise WorkerError("multi-output classifiers are not supported", "unsupported")
        m.classes = classes.tolist()
        if method == "predict_proba":
            if not callable(getattr(obj, "predict_proba", None)):
                raise WorkerError("the model's predict_fn is predict_proba, which %s does not "
                                  "have" % type(obj).__name__, "unsupported")
            m.method = "predict_proba"
            m.outputs = len(m.classes)
        else:
            m.method = "predict"
            m.outputs = 1
            if classes.dtype.kind not in "biuf":
                m.label_index = {c: i for i, c in enumerate(m.classes)}
    else:
        if method == "predict_proba":
            raise WorkerError("the model's predict_fn is predict_proba, but %s is not a "
                              "classifier" % type(obj).__name__, "unsupported")
        n_out = getattr(obj, "n_outputs_", None)
        if isinstance(n_out, (int, np.integer)) and n_out > 0:
            m.outputs = int(n_out)
        elif m.features:
            m.outputs = probe_outputs(m)
        else:
            m.outputs = 1


def setup_xgboost(m, path, flavor, method="predict"):
    import xgboost
    model_class = flavor.get("model_class") if isinstance(flavor, dict) else None
    if isinstance(model_class, str) and model_class.rsplit(".", 1)[-1] != "Booster":
        cls = getattr(xgboost, model_class.rsplit(".", 1)[-1], None)
        if cls is None:
            raise WorkerError("unknown xgboost model_class %s" % model_class, "unsupported")
        obj = cls()
        obj.load_model(path)
        setup_sklearn(m, obj, method)
        m.kind = "xgboost-sklearn"
        m.dtype = np.float32
        return
    booster = xgboost.Booster()
    booster.load_model(path)
    m.kind = "xgboost"
    m.obj = booster
    m.dtype = np.float32
    m.features = int(booster.num_features()) or None
    if booster.feature_names:
        m.feature_names = list(booster.feature_names)
    m.outputs = probe_outputs(m) if m.features else 1


def probe_outputs(m):
    """Outputs per row, from one prediction on a row of zeros (only for
    sklearn and xgboost models, whose predict is a pure function)."""
    y = run_model(m, np.zeros((1, m.features), dtype=np.float32))
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[0] == 1:
        return int(y.shape[1])
    return 1


def setup_module(m, mod):
    m.kind = "module"
    m.obj = mod
    m.dtype = np.float32
    f = getattr(mod, "FEATURES", None)
    if isinstance(f, int) and f > 0:
        m.features = f
    o = getattr(mod, "OUTPUTS", None)
    m.outputs = o if isinstance(o, int) and o > 0 else 1
    names = getattr(mod, "FEATURE_NAMES", None)
    if names is not None:
        m.feature_names = as_list_of_str(names)
        if m.feature_names and not m.features:
            m.features = len(m.feature_names)


def load_mlflow(m, model_dir, mlmodel):
    flavors = mlmodel.get("flavors")
    if not isinstance(flavors, dict) or not flavors:
        raise WorkerError("MLmodel has no flavors")
    sk = flavors.get("sklearn")
    xg = flavors.get("xgboost")
    pf = flavors.get("python_function")
    # the method MLflow's pyfunc calls: predict, unless the model was logged
    # with pyfunc_predict_fn (recorded as python_function's predict_fn)
    method = pf.get("predict_fn") if isinstance(pf, dict) else None
    method = method if isinstance(method, str) and method else "predict"
    if method not in PREDICT_METHODS:
        raise WorkerError("the model's predict_fn '%s' is not one mw serves (%s)"
                          % (show(method), ", ".join(PREDICT_METHODS)), "unsupported")
    # Native flavors first: their outputs do not depend on whether mlflow is
    # installed, and are what mlflow's pyfunc returns (predict, or predict_fn).
    if isinstance(sk, dict) and sk.get("pickled_model"):
        add_code_path(model_dir, sk)
        path = confined(model_dir, sk["pickled_model"], "pickled_model")
        fmt = sk.get("serialization_format") or "cloudpickle"
        if fmt not in ("pickle", "cloudpickle"):
            raise WorkerError("unsupported sklearn serialization_format %r" % fmt, "unsupported")
        m.flavor = "sklearn"
        m.source = sk["pickled_model"]
        setup_sklearn(m, load_pickle(path, fmt, sk["pickled_model"]), method)
        return
    if isinstance(xg, dict) and xg.get("data"):
        add_code_path(model_dir, xg)
        m.flavor = "xgboost"
        m.source = xg["data"]
        setup_xgboost(m, confined(model_dir, xg["data"], "data"), xg, method)
        return
    if isinstance(pf, dict):
        loader = pf.get("loader_module")
        if not isinstance(loader, str) or not loader:
            if pf.get("python_model") or pf.get("cloudpickle_version"):
                raise WorkerError("this python_function model (a custom mlflow.pyfunc "
                                  "PythonModel) needs mlflow, which is not installed"
                                  if not have_module("mlflow") else
                                  "python_function model without loader_module", "unsupported")
            raise WorkerError("python_function flavor without loader_module")
        if not MODULE_NAME.match(loader):
            raise WorkerError("the model's loader_module '%s' is not a module name"
                              % show(loader))
        if loader.split(".")[0] == "mlflow" and not have_module("mlflow"):
            raise WorkerError("the model's loader_module %s needs mlflow, which is not installed, "
                              "and the model has no sklearn or xgboost flavor to fall back to"
                              % loader, "unsupported")
        add_code_path(model_dir, pf)
        if model_dir not in sys.path:
            sys.path.insert(0, model_dir)
        data = pf.get("data") or pf.get("model_path")
        if isinstance(data, str):
            path = confined(model_dir, data,
                            "data" if pf.get("data") else "model_path", must_exist=False)
        else:
            path = reroot(os.path.realpath(model_dir))
        mod = importlib.import_module(loader)
        fn = getattr(mod, "_load_pyfunc", None)
        if not callable(fn):
            raise WorkerError("loader_module %s has no _load_pyfunc" % loader)
        obj = fn(path)
        if not callable(getattr(obj, "predict", None)):
            raise WorkerError("%s._load_pyfunc returned an object without predict" % loader)
        m.kind = "pyfunc"
        m.flavor = "python_function"
        m.source = loader
        m.obj = obj
        m.dtype = np.float64
        return
    raise WorkerError("MLmodel has none of the flavors this runtime serves "
                      "(sklearn, xgboost, python_function): %s" % ", ".join(sorted(flavors)),
                      "unsupported")


def pick_file(model_dir):
    """A model file in a directory without MLmodel: one .py module, else one
    pickle (model.pkl preferred)."""
    names = sorted(os.listdir(model_dir))
    py = [n for n in names if n.endswith(".py")]
    if len(py) == 1:
        return confined(model_dir, py[0], "model file")
    for n in ("model.pkl", "model.pickle", "model.joblib"):
        if n in names:
            return confined(model_dir, n, "model file")
    pk = [n for n in names if n.endswith((".pkl", ".pickle", ".joblib"))]
    if len(pk) == 1:
        return confined(model_dir, pk[0], "model file")
    raise WorkerError("the model directory has no MLmodel file, no single .py module and no "
                      "single pickle")


def load_model(hdr):
    model_dir = hdr.get("dir")
    file = hdr.get("file")
    mlmodel = hdr.get("mlmodel")
    if not isinstance(model_dir, str) or not model_dir:
        raise WorkerError("load needs a model directory")
    dir_fd = hdr.get("dir_fd")
    if isinstance(dir_fd, int) and dir_fd >= 0:
        real_dir = model_dir.rstrip("/") or "/"
        model_dir = "/proc/self/fd/%d" % dir_fd
        _ROOT[0], _ROOT[1] = os.path.realpath(model_dir), model_dir
        if isinstance(file, str) and file.startswith(real_dir + "/"):
            file = file[len(real_dir) + 1:]
    if os.path.isfile(model_dir) and not file:
        file, model_dir = model_dir, os.path.dirname(model_dir) or "."
    if not os.path.isdir(model_dir):
        raise WorkerError("the model directory does not exist")
    if file and not os.path.isabs(file):
        file = confined(model_dir, file, "model file")
    elif file:
        file = confined_abs(model_dir, file)
    m = Model()
    if file and file.endswith(".py"):
        m.flavor = None
        m.source = os.path.basename(file)
        setup_module(m, load_module_file(file))
        return m, None
    if isinstance(mlmodel, dict):
        mlmodel = untype(mlmodel)
    else:
        path = confined(model_dir, "MLmodel", "MLmodel", must_exist=False)
        mlmodel = read_mlmodel(path) if os.path.isfile(path) else None
    if mlmodel is not None:
        load_mlflow(m, model_dir, mlmodel)
        return m, mlmodel
    if not file:
        file = pick_file(model_dir)
    m.source = os.path.basename(file)
    if file.endswith(".py"):
        setup_module(m, load_module_file(file))
    elif file.endswith((".json", ".ubj", ".xgb", ".model", ".bst")):
        setup_xgboost(m, file, None)
    else:
        setup_sklearn(m, load_pickle(file))
        m.kind = "pickle"
    return m, None


def scrub(msg, model_dir):
    """msg without the model directory's absolute path (the data directory's
    layout is nobody's business)."""
    if isinstance(model_dir, str) and model_dir:
        for d in {os.path.realpath(model_dir), model_dir.rstrip("/"), _ROOT[0], _ROOT[1]}:
            if not d:
                continue
            if len(d) > 1:
                msg = msg.replace(d + "/", "").replace(d, ".")
    return msg


def handle_load(hdr):
    try:
        m, mlmodel = load_model(hdr)
        features, names, outputs = parse_signature(mlmodel) if mlmodel else (None, None, None)
    except WorkerError as e:
        raise WorkerError("cannot load model: %s" % e, e.code)
    except Exception as e:  # the model's own code: any exception is a load error
        raise WorkerError("cannot load model: %s" % scrub(describe_exc(e), hdr.get("dir")))
    # what the model knows wins; the signature fills the gaps
    if not m.features and features:
        m.features = features
    if not m.feature_names and names and (not m.features or len(names) == m.features):
        m.feature_names = names
    if m.kind == "pyfunc" and outputs:
        m.outputs = outputs
    if not m.outputs:
        m.outputs = outputs or 1
    if m.feature_names and m.features and len(m.feature_names) != m.features:
        m.feature_names = None
    if m.features and features and m.features != features:
        raise WorkerError("cannot load model: the model takes %d features but its MLmodel "
                          "signature lists %d" % (m.features, features))
    return m


# ------------------------------------------------------------------ predict

_pandas = False


def pandas_module():
    global _pandas
    if _pandas is False:
        try:
            import pandas
            _pandas = pandas
        except ImportError:
            _pandas = None
    return _pandas


def run_model(m, x):
    if m.kind == "xgboost":
        import xgboost
        return m.obj.predict(xgboost.DMatrix(x, missing=np.nan), validate_features=False)
    data = x if x.dtype == m.dtype else x.astype(m.dtype)
    if m.kind in ("sklearn", "pickle", "xgboost-sklearn", "pyfunc") and m.feature_names:
        pd = pandas_module()
        if pd is not None and (m.kind == "pyfunc" or
                               getattr(m.obj, "feature_names_in_", None) is not None):
            data = pd.DataFrame(data, columns=m.feature_names)
    y = getattr(m.obj, m.method)(data)
    if m.label_index is not None:
        y = np.array([m.label_index[v] for v in np.asarray(y).tolist()], dtype=np.float32)
    return y


def handle_predict(m, hdr, payload):
    rows, cols = hdr.get("rows"), hdr.get("cols")
    if not isinstance(rows, int) or not isinstance(cols, int) or rows < 1 or cols < 1:
        raise WorkerError("predict needs rows and cols", "internal")
    if len(payload) != rows * cols * 4:
        raise WorkerError("payload is %d bytes, expected %d" % (len(payload), rows * cols * 4),
                          "internal")
    if m.features and cols != m.features:
        raise WorkerError("the model takes %d features, the batch has %d" % (m.features, cols))
    x = np.frombuffer(payload, dtype="<f4").reshape(rows, cols).astype(np.float32)
    try:
        y = run_model(m, x)
    except WorkerError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as e:
        raise WorkerError("prediction failed: %s" % describe_exc(e), "invalid")
    except Exception as e:
        raise WorkerError("prediction failed: %s" % describe_exc(e), "internal")
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    try:
        y = np.asarray(y)
    except Exception as e:
        raise WorkerError("the model returned %s, not numbers (%s)"
                          % (type(y).__name__, describe_exc(e)), "internal")
    if y.dtype.kind not in "biuf":
        raise WorkerError("the model returned %s values, not numbers" % y.dtype, "internal")
    if y.ndim == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[0] != rows or y.shape[1] != m.outputs:
        raise WorkerError("the model returned shape %s for %d rows; expected (%d, %d)%s"
                          % (tuple(y.shape), rows, rows, m.outputs,
                             " (a module declares other widths with OUTPUTS = k)"
                             if m.kind == "module" else ""), "internal")
    return np.ascontiguousarray(y, dtype="<f4").tobytes()


# ------------------------------------------------------------------ main loop

_LIMITS = {"cpu": 0, "memory": 0}


def arm_cpu():
    """Let the next request use cpu_seconds more CPU time (all threads)."""
    n = _LIMITS["cpu"]
    if not n:
        return
    import resource
    ru = resource.getrusage(resource.RUSAGE_SELF)
    used = int(ru.ru_utime + ru.ru_stime) + 1
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = used + n
    if hard != resource.RLIM_INFINITY and soft > hard:
        soft = hard
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ValueError, OSError):
        pass


def out_of_memory():
    lim = _LIMITS["memory"]
    return ("the model ran out of memory%s; the python worker is being replaced"
            % (" (its limit is %d MiB: python-worker-memory)" % (lim >> 20) if lim else ""))


def exit_on_hangup():
    p = select.poll()
    p.register(PROTO_IN, 0)  # POLLHUP and POLLERR are always reported
    while True:
        for _fd, ev in p.poll():
            if ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                os._exit(0)


def main():
    # stdin held this program; from now on it is /dev/null
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.dont_write_bytecode = True
    warnings.filterwarnings("ignore", message=".*does not have valid feature names.*")
    warnings.filterwarnings("ignore", message=".*Trying to unpickle estimator.*")
    # mw gone (its end of the request pipe closed, even by SIGKILL): exit at
    # once, even in the middle of a long batch
    threading.Thread(target=exit_on_hangup, name="mw-hangup", daemon=True).start()
    inp = os.fdopen(PROTO_IN, "rb")
    out = os.fdopen(PROTO_OUT, "wb")
    model = None
    while True:
        try:
            frame = read_frame(inp)
        except (EOFError, ValueError, UnicodeDecodeError) as e:
            sys.stderr.write("mw_worker: bad request frame: %s\n" % e)
            return 2
        if frame is None:
            return 0
        hdr, payload = frame
        op = hdr.get("op") if isinstance(hdr, dict) else None
        rid = hdr.get("id") if isinstance(hdr, dict) else None
        try:
            if op == "load":
                if model is not None:
                    raise WorkerError("model already loaded", "internal")
                for k, v in (("cpu", hdr.get("cpu_seconds")), ("memory", hdr.get("memory"))):
                    _LIMITS[k] = v if isinstance(v, int) and v > 0 else 0
                _LIMITS["yaml"] = hdr.get("yaml")
                model = handle_load(hdr)
                write_frame(out, {"ok": True, "info": model.info()})
            elif op == "predict":
                if model is None:
                    raise WorkerError("no model loaded", "internal")
                arm_cpu()
                y = handle_predict(model, hdr, payload)
                write_frame(out, {"ok": True, "id": rid, "rows": hdr["rows"],
                                  "outputs": model.outputs}, y)
            else:
                raise WorkerError("unknown op %r" % (op,), "internal")
        except WorkerError as e:
            if isinstance(e.__cause__, MemoryError) or isinstance(e.__context__, MemoryError):
                write_frame(out, {"ok": False, "id": rid, "code": "internal",
                                  "error": ("cannot load model: " if op == "load" else "")
                                  + out_of_memory()})
                return 3
            write_frame(out, {"ok": False, "id": rid, "code": e.code, "error": str(e)[:4000]})
        except MemoryError:
            write_frame(out, {"ok": False, "id": rid, "code": "internal",
                              "error": out_of_memory()})
            return 3
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            write_frame(out, {"ok": False, "id": rid, "code": "internal",
                              "error": describe_exc(e)[:4000]})


if __name__ == "__main__":
    try:
        code = main()
    except BrokenPipeError:
        code = 0
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    os._exit(code)
