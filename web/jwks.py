"""`/.well-known/jwks.json`: the public half of the signing key, to verify webhook signatures."""

from __future__ import annotations

import falcon

from core.runtime import Runtime
from core.signing import signing_key


class JWKSResource:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        key = signing_key(self.runtime.config.signing_key_path)
        resp.media = {"keys": [key.jwk()]}
        resp.cache_control = ["public", "max-age=3600"]
