"""Google user credentials for a connected mailbox, refreshed against the token endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.oauth2.credentials import Credentials

# gmail.modify covers reading, drafting and sending. A refresh that names scopes must name
# only granted ones (Google answers invalid_scope otherwise), so this is the grant's subset.
GMAIL_SCOPES = ("https://www.googleapis.com/auth/gmail.modify",)


def user_credentials(
    refresh_token: str,
    *,
    client_id: str,
    client_secret: str,
    token_uri: str,
    scopes: tuple[str, ...] = GMAIL_SCOPES,
) -> Credentials:
    """Credentials that fetch an access token on first use and refresh it before expiry."""
    from google.oauth2.credentials import Credentials

    return Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=refresh_token,
        token_uri=token_uri,
        client_id=client_id,
        client_secret=client_secret,
        scopes=list(scopes),
    )
