"""A local OpenID Connect identity provider for tests: a discovery document and a JWKS served
over HTTP from a thread, with keys a test adds and rotates, and tokens signed by them."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cowork.devtools import free_port

ISSUER_PATH = "/realms/comune"


class JwksServer:
    """A local identity provider's discovery document and JWKS, whose keys a test rotates."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.jwks_requests = 0
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}{ISSUER_PATH}"
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body: dict[str, Any]
                if self.path == f"{ISSUER_PATH}/.well-known/openid-configuration":
                    body = {"issuer": server.issuer,
                            "jwks_uri": f"{server.issuer}/protocol/openid-connect/certs"}
                elif self.path == f"{ISSUER_PATH}/protocol/openid-connect/certs":
                    server.jwks_requests += 1
                    body = {"keys": [jwt.algorithms.get_default_algorithms()[alg].to_jwk(
                        key.public_key(), as_dict=True) | {"kid": kid, "alg": alg, "use": "sig"}
                        for kid, (alg, key) in server.keys.items()]}
                else:
                    self.send_error(404)
                    return
                payload = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def add_key(self, kid: str, alg: str = "RS256") -> None:
        key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS256"
               else ec.generate_private_key(ec.SECP256R1()))
        self.keys[kid] = (alg, key)

    def token(self, kid: str, *, sub: str, roles: list[str], audience: str = "booking",
              issuer: str | None = None, roles_at: str = "realm_access",
              ttl: timedelta = timedelta(minutes=5)) -> str:
        alg, key = self.keys[kid]
        now = datetime.now(UTC)
        claims = {"sub": sub, "iss": issuer or self.issuer, "aud": audience, "iat": now,
                  "exp": now + ttl, roles_at: {"roles": [*roles, "offline_access"]}}
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})

    def __enter__(self) -> JwksServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
