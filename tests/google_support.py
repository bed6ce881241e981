"""Google credentials for a person at the local OAuth fake, as the adapters receive them in
production (a refresh token of the connected account, refreshed on first use)."""

from __future__ import annotations

from typing import Any

from shared.adapters.google_auth import GMAIL_SCOPES, user_credentials


def fake_credentials(local: Any, email: str, scopes: tuple[str, ...] | None = None) -> Any:
    """`scopes` None: the OAuth fake's default grant (Gmail, Drive and Calendar read)."""
    oauth = local.fakes["oauth"][0]
    if scopes is None:
        refresh = oauth.issue_refresh_token(email)
    else:
        refresh = oauth.accounts.issue_refresh_token(email, scopes, client_id=oauth.client_id)
    return user_credentials(
        refresh,
        client_id=oauth.client_id or "local-client",
        client_secret=oauth.client_secret or "local-secret",
        token_uri=f"{local.fake_url('oauth')}/token",
        scopes=scopes if scopes is not None else GMAIL_SCOPES,
    )
