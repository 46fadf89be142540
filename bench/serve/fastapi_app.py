"""The Python peer of `relearn serve`: FastAPI + uvicorn + PyTorch, same HTTP API.

Serves one `relearn export` file (safetensors) with the preprocessing of
docs/export-python.md:

    MODEL=model.safetensors uvicorn fastapi_app:app --workers 2 --port 8000

API (as `relearn serve`):
  POST /v1/predict  {"rows": [{"x0": 0.1, ...}, ...]}
      -> {"id", "run", "request_id", "predictions": [{"prediction", "probabilities"}]}
         (regression: {"prediction": value}); the X-Request-Id header is echoed
         (a uuid4 hex when the request has none), in the response header and the body.
  GET  /healthz, GET /readyz -> 200

The model is loaded once per worker process at import (uvicorn imports the app in each
worker), and each worker runs torch on one thread: `--workers N` uses N cores.
"""

from __future__ import annotations

import json
import math
import os
import uuid

import numpy as np
import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from safetensors import safe_open
from safetensors.torch import load_file

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:  # already set (the module imported twice in one process)
    pass

DEFAULT_MISSING = ["", "NA", "N/A", "NaN", "null"]


def fnv1a64(text: str) -> int:
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


class BadRequest(ValueError):
    pass


class Model:
    """A relearn export: weights in an nn.Sequential, preprocessing from `__metadata__`."""

    def __init__(self, path: str):
        with safe_open(path, framework="pt") as f:
            meta = f.metadata()
        tensors = load_file(path)
        self.meta = meta
        self.id = meta["checkpoint_id"]
        self.run = meta["run"]
        self.task = meta["task"]
        self.features = json.loads(meta["feature_names"])
        self.classes = json.loads(meta["classes"])
        self.mean = np.array(json.loads(meta["scaler_mean"]), dtype=np.float64)
        self.std = np.array(json.loads(meta["scaler_std"]), dtype=np.float64)
        self.clip = float(meta["scaler_clip"]) if meta["scaler_mode"] != "none" else math.inf
        self.t_mean = float(meta.get("target_mean", 0))
        self.t_std = float(meta.get("target_std", 1))
        enc = json.loads(meta.get("encoders", "null"))
        self.enc = enc
        self.missing = set(enc["missing"]) if enc else set(DEFAULT_MISSING)
        # the value a missing numeric cell takes before scaling (the mean: 0 once scaled)
        if enc and enc.get("fill"):
            self.fill = np.array([f["mean"] for f in enc["fill"]], dtype=np.float64)
        else:
            self.fill = self.mean.copy()
        self.indicators = list(enc["indicators"]) if enc else []
        self.categorical = list(enc["categorical"]) if enc else []
        for col in self.categorical:
            col["index"] = {v: i for i, v in enumerate(col["vocabulary"])}

        widths = json.loads(meta["widths"])
        n_layers = len(widths) - 1
        act = {
            "relu": torch.nn.ReLU,
            "tanh": torch.nn.Tanh,
            "gelu": lambda: torch.nn.GELU(approximate="none"),  # exact, erf-based
        }[meta["activation"]]
        modules: list[torch.nn.Module] = []
        state = {}
        for i in range(n_layers):
            w = tensors[f"layers.{i}.weight"]
            b = tensors[f"layers.{i}.bias"]
            modules.append(torch.nn.Linear(w.shape[1], w.shape[0]))
            # Sequential indices: every other module is an activation
            state[f"{2 * i}.weight"] = w
            state[f"{2 * i}.bias"] = b
            if i < n_layers - 1:
                modules.append(act())
        self.net = torch.nn.Sequential(*modules)
        self.net.load_state_dict(state)
        self.net.eval()
        self.n_inputs = widths[0]

    # -- preprocessing -------------------------------------------------------------------

    def _numeric(self, r: dict, name: str, i: int):
        """One numeric cell: a float, or None when missing."""
        try:
            v = r[name]
        except KeyError:
            raise BadRequest(f"row {i}: missing feature {name!r}") from None
        if v is None:
            return None
        if isinstance(v, bool):
            raise BadRequest(f"row {i}: feature {name!r} is not a number: {v!r}")
        if isinstance(v, (int, float)):
            if math.isnan(v):
                return None
            if math.isinf(v):
                raise BadRequest(f"row {i}: feature {name!r} is not finite")
            return float(v)
        if isinstance(v, str):
            s = v.strip()
            if s in self.missing:
                return None
            try:
                f = float(s)
            except ValueError:
                raise BadRequest(f"row {i}: feature {name!r} is not a number: {v!r}") from None
            if not math.isfinite(f):
                raise BadRequest(f"row {i}: feature {name!r} is not finite")
            return f
        raise BadRequest(f"row {i}: feature {name!r} is not a number: {v!r}")

    def inputs(self, rows: list) -> np.ndarray:
        """The float32 model inputs of raw rows (dicts of feature name -> value)."""
        if not isinstance(rows, list):
            raise BadRequest("'rows' must be a list of objects")
        n = len(rows)
        x = None
        if not self.categorical:
            # fast path: every cell a finite number
            try:
                x = np.array([[r[c] for c in self.features] for r in rows], dtype=np.float64)
                if x.shape != (n, len(self.features)) or not np.isfinite(x).all():
                    x = None
            except (TypeError, ValueError, KeyError, IndexError):
                x = None
        if x is not None:
            blank = None
        else:
            x = np.empty((n, len(self.features)), dtype=np.float64)
            blank = np.zeros((n, len(self.features)), dtype=bool)
            for i, r in enumerate(rows):
                if not isinstance(r, dict):
                    raise BadRequest(f"row {i} is not an object")
                for j, c in enumerate(self.features):
                    v = self._numeric(r, c, i)
                    if v is None:
                        blank[i, j] = True
                        x[i, j] = self.fill[j]
                    else:
                        x[i, j] = v
        # relearn reads feature values as float32, then scales in float64 and casts the
        # scaled values to float32 (docs/export-python.md)
        x = x.astype(np.float32).astype(np.float64)
        if blank is not None and blank.any():
            x[blank] = np.broadcast_to(self.fill, x.shape)[blank]
        h = np.clip((x - self.mean) / self.std, -self.clip, self.clip).astype(np.float32)
        if not self.enc:
            return h
        parts = [h]
        if self.indicators:
            parts.append(blank[:, self.indicators].astype(np.float32))
        for col in self.categorical:
            one = np.zeros((n, col["slots"] + col["buckets"]), dtype=np.float32)
            name = col["name"]
            for i, r in enumerate(rows):
                try:
                    v = r[name]
                except KeyError:
                    raise BadRequest(f"row {i}: missing feature {name!r}") from None
                if v is None:
                    continue
                if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                    raise BadRequest(f"row {i}: feature {name!r} must be a string: {v!r}")
                v = v.strip() if isinstance(v, str) else str(v)
                if v in self.missing:
                    continue
                k = col["index"].get(v)
                if k is not None:
                    one[i, k] = 1.0
                elif col["buckets"]:
                    one[i, col["slots"] + fnv1a64(v) % col["buckets"]] = 1.0
            parts.append(one)
        return np.concatenate(parts, axis=1)

    # -- inference -----------------------------------------------------------------------

    def predict(self, rows: list) -> list:
        x = self.inputs(rows)
        if len(x) == 0:
            return []
        with torch.inference_mode():
            out = self.net(torch.from_numpy(x)).numpy()
        if self.task == "regression":
            y = (out[:, 0].astype(np.float64) * self.t_std + self.t_mean).astype(np.float32)
            return [{"prediction": v} for v in y.tolist()]
        logits = out.astype(np.float64)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        classes = self.classes
        best = p.argmax(axis=1).tolist()
        return [
            {"prediction": classes[k], "probabilities": dict(zip(classes, ps))}
            for k, ps in zip(best, p.tolist())
        ]


MODEL_PATH = os.environ.get("MODEL", "model.safetensors")
model = Model(MODEL_PATH)  # once per worker process, at startup

app = FastAPI(title="relearn export server (Python peer)")


def _error(status: int, message: str, rid: str) -> JSONResponse:
    return JSONResponse(
        {"error": message, "request_id": rid}, status_code=status, headers={"X-Request-Id": rid}
    )


@app.post("/v1/predict")
async def predict(request: Request) -> Response:
    rid = request.headers.get("x-request-id") or uuid.uuid4().hex
    try:
        body = json.loads(await request.body())
    except ValueError as e:
        return _error(400, f"invalid JSON: {e}", rid)
    if not isinstance(body, dict) or "rows" not in body:
        return _error(400, "the body must be an object with a 'rows' list", rid)
    try:
        predictions = model.predict(body["rows"])
    except BadRequest as e:
        return _error(400, str(e), rid)
    # json.dumps directly: FastAPI's jsonable_encoder walk costs more than the model here
    payload = json.dumps(
        {"id": model.id, "run": model.run, "request_id": rid, "predictions": predictions},
        separators=(",", ":"),
    )
    return Response(payload, media_type="application/json", headers={"X-Request-Id": rid})


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@app.get("/readyz")
async def readyz() -> dict:
    return {"status": "ready", "id": model.id}
