"""A Web Push service of the tests' own, on 127.0.0.1: it checks what a real one checks and reads what a phone reads.

For each POST to /push/<token> it verifies the VAPID JWT (RFC 8292: ES256 signature against the server's public key,
`aud` = the endpoint's origin, `exp` in the future and at most 24 h away, a `sub`), then decrypts the aes128gcm body
(RFC 8291) with the subscriber's private key and auth secret, as the browser would, and records the JSON message.
A token can be told to answer with another status (404/410 for a gone subscription, 500 for an outage).
"""

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64d(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Subscriber:
    """What a browser holds for one subscription: its key pair and auth secret."""

    token: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    status: int = 201  # what the push service answers for this token

    @property
    def p256dh(self) -> str:
        return b64e(self.private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                               serialization.PublicFormat.UncompressedPoint))


@dataclass
class Received:
    token: str
    message: dict
    headers: dict
    at: float


@dataclass
class PushService:
    server_public_key: str  # base64url of the VAPID public key the JWT must verify against
    subscribers: dict = field(default_factory=dict)
    received: list = field(default_factory=list)  # messages accepted (decrypted)
    requests: list = field(default_factory=list)  # every request, accepted or not: (token, status, reason)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = None
    origin: str = ""

    def subscribe(self, status: int = 201) -> Subscriber:
        sub = Subscriber(token=b64e(os.urandom(9)), private_key=ec.generate_private_key(ec.SECP256R1()), auth=os.urandom(16),
                         status=status)
        self.subscribers[sub.token] = sub
        return sub

    def endpoint(self, sub: Subscriber) -> str:
        return f"{self.origin}/push/{sub.token}"

    def subscription_json(self, sub: Subscriber) -> dict:
        return {"endpoint": self.endpoint(sub), "keys": {"p256dh": sub.p256dh, "auth": b64e(sub.auth)}}

    def messages(self, sub: Subscriber | None = None) -> list[dict]:
        with self.lock:
            return [r.message for r in self.received if sub is None or r.token == sub.token]

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.arrived.wait(left)
        return True

    # --- what a real push service checks ---------------------------------------------------------------------

    def verify_vapid(self, authorization: str) -> str:
        """'' when the VAPID header is valid, else why not."""
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            return "not vapid"
        parts = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
        if parts.get("k") != self.server_public_key:
            return "unknown application server key"
        try:
            header_b64, claims_b64, signature_b64 = parts["t"].split(".")
            header, claims = json.loads(b64d(header_b64)), json.loads(b64d(claims_b64))
            signature = b64d(signature_b64)
        except (KeyError, ValueError):
            return "malformed JWT"
        if header.get("alg") != "ES256" or len(signature) != 64:
            return "not ES256"
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(parts["k"]))
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        try:
            public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return "bad signature"
        if claims.get("aud") != self.origin:
            return f"aud {claims.get('aud')!r} is not {self.origin!r}"
        now = time.time()
        if not (now < int(claims.get("exp", 0)) <= now + 24 * 3600):
            return "exp not within 24 h"
        if not claims.get("sub"):
            return "no sub"
        return ""


def _handler(service: PushService):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _answer(self, status: int, token: str, reason: str = ""):
            with service.lock:
                service.requests.append((token, status, reason))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            token = self.path.rsplit("/", 1)[-1]
            sub = service.subscribers.get(token)
            if sub is None:
                return self._answer(404, token, "no such subscription")
            problem = service.verify_vapid(self.headers.get("Authorization", ""))
            if problem:
                return self._answer(401, token, problem)
            if self.headers.get("Content-Encoding") != "aes128gcm" or not self.headers.get("TTL"):
                return self._answer(400, token, "not aes128gcm or no TTL")
            if sub.status != 201:
                return self._answer(sub.status, token, "told to")
            try:
                plaintext = http_ece.decrypt(body, private_key=sub.private_key, auth_secret=sub.auth, version="aes128gcm")
                message = json.loads(plaintext)
            except Exception as exc:
                return self._answer(400, token, f"cannot decrypt: {exc}")
            headers = {k.lower(): v for k, v in self.headers.items()}
            with service.arrived:
                service.received.append(Received(token=token, message=message, headers=headers, at=time.time()))
                service.arrived.notify_all()
            self._answer(201, token)

    return Handler


class running_push_service:
    """`with running_push_service(public_key) as service:` a threaded server on a free port of 127.0.0.1."""

    def __init__(self, server_public_key: str):
        self.service = PushService(server_public_key=server_public_key)
        self.service.arrived = threading.Condition(self.service.lock)

    def __enter__(self) -> PushService:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.service))
        self.server.daemon_threads = True
        self.service.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self.service

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
