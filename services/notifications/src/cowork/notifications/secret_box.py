"""The webhooks' signing secrets at rest: encrypted with Fernet (AES-128-CBC + HMAC-SHA256)
under keys from a Secret (`NOTIFICATIONS_WEBHOOK_SECRET_KEYS`, comma-separated: the first
encrypts, every one decrypts, so a key is rotated by putting the new one first and dropping the
old one once `rotate_stored` has re-encrypted the table). A database dump or backup alone
does not give anyone the power to sign as Cowork."""

from __future__ import annotations

import base64
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

# The local stack's key, published here like the development JWT secret: refused elsewhere.
LOCAL_DEV_SECRET_KEY = "Y293b3JrLWxvY2FsLWRldmVsb3BtZW50LWtleS0xMjM="  # noqa: S105


class SecretBox:
    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise ValueError("no key to encrypt the webhook secrets with")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in parts])

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("a webhook secret cannot be decrypted with the keys given "
                             "(NOTIFICATIONS_WEBHOOK_SECRET_KEYS)") from exc

    def reseal(self, sealed: str) -> str:
        """Re-encrypted under the first key (after a key rotation)."""
        return self._fernet.rotate(sealed.encode()).decode()


def new_signing_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + the base64 of 32 random bytes (the HMAC key)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
