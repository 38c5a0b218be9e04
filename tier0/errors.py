"""The one error tree of tier0.

    Tier0Error                      base of every error tier0 raises on purpose
    ├── InvalidInput                the caller sent something malformed            -> HTTP 422
    │   └── ArticleFormatError      a Markdown article could not be parsed (file, line)
    ├── Unauthorized                no valid sign-in (desk routes)                 -> HTTP 401
    │   └── TokenExpired            a customer token unused for too long           -> HTTP 401 token_expired
    ├── NotFound                    the thing asked for does not exist             -> HTTP 404
    ├── Forbidden                   the caller may not see or do this              -> HTTP 403
    │   └── PasswordChangeRequired  sign-in with a password that must be changed   -> HTTP 403 password_change_required
    ├── Conflict                    the request clashes with the current state     -> HTTP 409
    ├── RateLimited                 over a limit; try again after ``retry_after`` s -> HTTP 429 + Retry-After
    └── NotReady                    a component is not loaded / trained yet        -> HTTP 503

The HTTP layer maps this tree to status codes in one exception handler (api.app); services never raise
HTTPException. The CLI maps it to exit code 2 and one line on stderr.
"""

from __future__ import annotations

from typing import Optional


class Tier0Error(Exception):
    status_code = 500
    code = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(Tier0Error, ValueError):
    status_code = 422
    code = "invalid_input"


class ArticleFormatError(InvalidInput):
    code = "article_format"

    def __init__(self, path: str, line: Optional[int], reason: str):
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


class Unauthorized(Tier0Error, PermissionError):
    status_code = 401
    code = "unauthorized"


class TokenExpired(Unauthorized):
    code = "token_expired"


class NotFound(Tier0Error, LookupError):
    status_code = 404
    code = "not_found"


class Forbidden(Tier0Error, PermissionError):
    status_code = 403
    code = "forbidden"


class PasswordChangeRequired(Forbidden):
    code = "password_change_required"


class Conflict(Tier0Error):
    status_code = 409
    code = "conflict"


class RateLimited(Tier0Error):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class NotReady(Tier0Error, RuntimeError):
    status_code = 503
    code = "not_ready"
