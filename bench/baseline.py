"""The design doodlestream replaces, rebuilt for comparison: one HTTP request per guess.

``python -m bench.baseline --port 0`` serves ``POST /predict`` with Flask (a dev-only
dependency): the body is JSON ``{"image": "data:image/png;base64,..."}`` holding a PNG
of the whole canvas; the server decodes it, preprocesses it as the original did
(:func:`server.render.render_image`: threshold, invert, crop, resize) and runs Keras
``model.predict`` on the same model the server ships (its Keras twin,
:func:`training.model.load_keras`), one request at a time per call.  It answers
``{"guesses": [{"word", "score"} x5], "ms": float}``.  It prints
``baseline listening on http://HOST:PORT`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def create_app(model_dir: Path) -> Any:
    """The Flask app with the Keras model loaded."""
    import numpy as np
    from flask import Flask, jsonify, request

    from server.errors import BadImage
    from server.infer import top_k
    from training.model import load_keras

    model = load_keras(model_dir)
    labels = [w for w in (model_dir / "labels.txt").read_text(encoding="utf-8").splitlines() if w]
    model.predict(np.zeros((1, 64, 64, 1), np.float32), verbose=0)  # build the predict function once
    app = Flask("baseline")

    @app.post("/predict")
    def predict() -> Any:
        from server.render import render_image

        start = time.perf_counter()
        payload = request.get_json(silent=True) or {}
        data = str(payload.get("image", ""))
        try:
            png = base64.b64decode(data.split(",", 1)[-1], validate=True)
            x = render_image(png).astype(np.float32)[None, :, :, None]
        except (binascii.Error, ValueError, BadImage) as e:
            return jsonify(error=str(e)), 400
        probs = model.predict(x, verbose=0)[0]
        top = top_k(labels, probs)
        return jsonify(
            guesses=[{"word": w, "score": round(s, 5)} for w, s in top], ms=(time.perf_counter() - start) * 1000
        )

    return app


def main(argv: list[str] | None = None) -> int:
    from werkzeug.serving import make_server

    from server.infer import DEFAULT_MODEL_DIR

    p = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    args = p.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = create_app(args.model)
    srv = make_server(args.host, args.port, app, threaded=True)
    print(f"baseline listening on http://{args.host}:{srv.server_port}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
