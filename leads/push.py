"""Web Push transport (RFC 8030 delivery, RFC 8291 aes128gcm encryption, RFC 8292 VAPID) through pywebpush.

A subscription's endpoint comes from a browser, so it is untrusted input: the server only ever calls https hosts in
WEB_PUSH_ALLOWED_HOSTS whose addresses are all public, without following redirects, with a short timeout. A loopback
host is allowed only when the setting names it literally (the test settings do, for the tests' own push service).
"""

import functools
import ipaddress
import json
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

PAYLOAD_MAX_BYTES = 3000  # the push services accept 4 KiB of ciphertext; leave room for the encryption's overhead


class EndpointRefused(ValueError):
    """The endpoint is not one the server will call."""


def _host_allowed(host: str, allowed: list[str]) -> bool:
    for pattern in allowed:
        pattern = pattern.strip().lower()
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


def _literal_ip(host: str):
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def endpoint_check(endpoint: str, *, resolve: bool = True) -> None:
    """Raise EndpointRefused unless the endpoint may be called: an allowed host, https, and (when `resolve`) every
    address it resolves to public. A host named literally in the allow-list as an IP (tests' 127.0.0.1) may be http."""
    try:
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError as exc:
        raise EndpointRefused("not a URL") from exc
    if not host or parts.username or parts.password:
        raise EndpointRefused("not a push service URL")
    allowed = list(settings.WEB_PUSH_ALLOWED_HOSTS)
    if not _host_allowed(host, allowed):
        raise EndpointRefused(f"host {host} is not an allowed push service")
    literal = _literal_ip(host)
    named_literally = literal is not None and host in [a.strip().lower() for a in allowed]
    if parts.scheme != "https" and not (parts.scheme == "http" and named_literally):
        raise EndpointRefused("push services are called over https only")
    if named_literally or not resolve:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)}
    except OSError as exc:
        raise EndpointRefused(f"host {host} does not resolve") from exc
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            raise EndpointRefused(f"host {host} resolves to a private address")


class _NoRedirects(requests.Session):
    """A push service answers; it never sends the server somewhere else (a redirect could point inside)."""

    def __init__(self):
        super().__init__()
        self.trust_env = False  # no proxy from the environment decides where an untrusted URL goes
        self.max_redirects = 0

    def request(self, method, url, **kwargs):
        kwargs["allow_redirects"] = False
        return super().request(method, url, **kwargs)


def payload_bytes(payload: dict) -> str:
    """The contract's JSON; a long body is shortened so the message always fits a push service's limit."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    while len(text.encode()) > PAYLOAD_MAX_BYTES and payload.get("body"):
        payload = {**payload, "body": payload["body"][: max(0, len(payload["body"]) - 200)]}
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return text


@dataclass
class PushResult:
    accepted: bool
    gone: bool = False  # 404/410: the browser unsubscribed; delete the subscription
    permanent: bool = False  # retrying cannot help (refused endpoint, 400/401/403/413)
    error: str = ""


def vapid_key() -> Vapid:
    return Vapid.from_string(settings.WEB_PUSH_VAPID_PRIVATE_KEY)


def push_send(*, endpoint: str, p256dh: str, auth: str, payload: dict, topic: str = "",
              urgency: str = "high", vapid: Vapid | None = None) -> PushResult:
    """Encrypt and send one message. Never raises for the push service's answers: the outbox records the result."""
    try:
        endpoint_check(endpoint)
    except EndpointRefused as exc:
        return PushResult(accepted=False, permanent=True, error=str(exc))
    headers = {"Urgency": urgency}
    if topic:
        headers["Topic"] = topic  # the push service replaces an undelivered message with the same topic: no double buzz
    try:
        webpush({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}, data=payload_bytes(payload),
                vapid_private_key=vapid or vapid_key(), vapid_claims={"sub": settings.WEB_PUSH_VAPID_SUBJECT},
                content_encoding="aes128gcm", timeout=settings.WEB_PUSH_TIMEOUT, ttl=settings.WEB_PUSH_TTL,
                headers=headers, requests_session=_NoRedirects())
    except WebPushException as exc:
        code = exc.response.status_code if exc.response is not None else None
        text = f"{code} {str(exc)[:200]}" if code else str(exc)[:250]
        return PushResult(accepted=False, gone=code in (404, 410), permanent=code in (400, 401, 403, 413), error=text)
    except (requests.RequestException, ValueError, OSError) as exc:  # timeout, refused connection, a bad key
        return PushResult(accepted=False, error=f"{type(exc).__name__}: {str(exc)[:200]}")
    return PushResult(accepted=True)


def keys_check(*, p256dh: str, auth: str) -> None:
    """Raise ValueError unless the browser's keys are a P-256 public point and a 16-byte secret (RFC 8291)."""
    import base64

    from cryptography.hazmat.primitives.asymmetric import ec

    def decode(value: str) -> bytes:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))

    try:
        point, secret = decode(p256dh), decode(auth)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except (ValueError, TypeError) as exc:
        raise ValueError("p256dh is not a P-256 public key") from exc
    if len(secret) != 16:
        raise ValueError("auth must be 16 bytes")


def user_agent_label(user_agent: str) -> str:
    """A short name for the device list ("Chrome on Android"), not a fingerprint."""
    ua = user_agent or ""
    browsers = (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("SamsungBrowser", "Samsung Internet"), ("Chrome/", "Chrome"),
                ("Safari/", "Safari"))
    systems = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
               ("Mac OS X", "macOS"), ("Linux", "Linux"))
    browser = next((name for token, name in browsers if token in ua), "")
    system = next((name for token, name in systems if token in ua), "")
    return " · ".join(filter(None, [browser, system]))[:120]


def vapid_public_key() -> str:
    """The application server key a browser subscribes with (base64url of the uncompressed point), derived from the
    private key so the two can never disagree."""
    return _public_key_of(settings.WEB_PUSH_VAPID_PRIVATE_KEY)


@functools.lru_cache(maxsize=4)
def _public_key_of(private_key: str) -> str:
    import base64

    from cryptography.hazmat.primitives import serialization

    raw = Vapid.from_string(private_key).public_key.public_bytes(serialization.Encoding.X962,
                                                                 serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
