"""The baseline for bench_api.py: a bare Flask app answering a constant JSON body."""

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

app = Flask(__name__)
BODY = {
    "items": [{"id": i, "name": f"server-{i:04d}", "status": "up"} for i in range(50)],
    "next_cursor": None,
}


@app.get("/")
def constant() -> ResponseReturnValue:
    return jsonify(BODY)
