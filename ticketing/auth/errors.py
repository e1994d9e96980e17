"""Why a credential was refused; each maps to a 401 (or 503) the client can act on."""

from ..errors import Unauthorized, Unavailable


class MissingCredential(Unauthorized):
    def __init__(self) -> None:
        super().__init__("Missing credential: send Authorization: Bearer <token or API key>")


class InvalidCredential(Unauthorized):
    def __init__(self) -> None:
        super().__init__("Invalid credential")


class ExpiredCredential(Unauthorized):
    def __init__(self) -> None:
        super().__init__("Expired credential")


class KeySetUnavailable(Unavailable):
    """Supabase's signing keys could not be fetched and no cached key matches the token."""

    headers = {"Retry-After": "5"}

    def __init__(self) -> None:
        super().__init__("Cannot verify the token right now, try again shortly")
