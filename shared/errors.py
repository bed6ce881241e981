"""One exception tree. Entry points map it to HTTP: 4xx = bad input, change nothing and do not
retry; 5xx = a fault outside us, retry later."""

from __future__ import annotations


class AppError(Exception):
    """Base of every error we raise on purpose. `public_message` is safe to show a caller."""

    http_status = 500
    retryable = True

    def __init__(self, public_message: str, *, detail: str | None = None) -> None:
        super().__init__(public_message)
        self.public_message = public_message
        self.detail = detail


class ConfigError(AppError):
    """A setting is missing or invalid: the function cannot work until it is fixed."""

    http_status = 500
    retryable = False


class BadRequest(AppError):
    http_status = 400
    retryable = False


class Unauthorized(AppError):
    http_status = 401
    retryable = False


class Forbidden(AppError):
    http_status = 403
    retryable = False


class NotFound(AppError):
    http_status = 404
    retryable = False


class PayloadTooLarge(AppError):
    http_status = 413
    retryable = False


class ConflictError(AppError):
    http_status = 409
    retryable = False


class TransientError(AppError):
    """An outside service failed in a way that may pass: retry later with backoff."""

    http_status = 503
    retryable = True


class PermanentExternalError(AppError):
    """An outside service refused for good (revoked token, missing permission).

    Retrying cannot help; the fault is recorded for a person to act on.
    """

    http_status = 502
    retryable = False


class AuthorizationRefused(PermanentExternalError):
    """The stored grant itself was refused (revoked, expired, replaced): reconnecting fixes it."""


class CredentialRefused(AuthorizationRefused):
    """A stored API credential (the HubSpot token, the OpenAI key) was refused: replacing it
    on the connections page fixes it. `connection` names which."""

    def __init__(self, public_message: str, *, connection: str, detail: str | None = None):
        super().__init__(public_message, detail=detail)
        self.connection = connection


class NotImplementedYet(AppError):
    """A route whose capability has not landed yet (answers 501, never pretends to work)."""

    http_status = 501
    retryable = False
