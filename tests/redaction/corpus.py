"""A corpus of realistic (fake) secrets and of look-alikes that must survive redaction untouched.

Every :class:`Secret` has a ``needle`` (the exact text that must never be exported) and a
``carrier`` (the needle with whatever context its detector needs: an AWS secret key is only
recognisable after ``aws_secret_access_key=``, a Basic credential after ``Basic``). The
``placements`` helper embeds each carrier in every shape a span can carry it: a bare value,
free text, an exception message with a stack trace, nested JSON, a URL query parameter.

All values are made up; their formats follow the real ones (prefixes, lengths, Luhn checks).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Secret:
    kind: str
    needle: str
    carrier: str = ""
    # Extra substrings that must not survive either (e.g. the digits of a card without spaces).
    also: tuple[str, ...] = field(default_factory=tuple)

    @property
    def text(self) -> str:
        return self.carrier or self.needle


_PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    "LxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo\n"
    "-----END RSA PRIVATE KEY-----"
)
_OPENSSH = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBq7Ry5pTz3yN0l4jKqgkVvLsQ2s0pL6b8f8yqkT8nUHwAAAJgQ3uDiEN7g\n"
    "-----END OPENSSH PRIVATE KEY-----"
)

SECRETS: tuple[Secret, ...] = (
    Secret(
        "jwt",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTQyIiwiaWF0IjoxNzAwMDAwMDAwfQ."
        "3q2-7Xv1GsQm0aB9kT8yLr4wZp6cN5eJ2uVhFd1oIxY",
    ),
    Secret(
        "bearer",
        "9f8e7d6c5b4a39281706f5e4d3c2b1a0ZYXWVUts",
        "Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0ZYXWVUts",
    ),
    Secret("basic", "YWxpY2U6czNjcjN0LXBhc3N3MHJk", "Authorization: Basic YWxpY2U6czNjcjN0LXBhc3N3MHJk"),
    Secret("aws_access_key_id", "AKIAZ7Q3XK5MPLR4TN2W"),
    Secret("aws_session_key_id", "ASIAJ4WQ7RZ2KX9PLM3N"),
    Secret(
        "aws_secret_access_key",
        "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",
        "aws_secret_access_key=Zx9vQ2mK7pL4nR8tW1yB/6cD3fG5hJ0kS2aE7uI9",
    ),
    Secret("github_pat_classic", "ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sX"),
    Secret("github_oauth", "gho_16C7e42F292c6912E7710c838347Ae178B4a"),
    Secret("github_app", "ghs_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
    Secret("github_user_to_server", "ghu_Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8"),
    Secret("github_refresh", "ghr_1B4a2e77838347a7E420ce178F2E7c6912E1"),
    Secret(
        "github_fine_grained",
        "github_pat_11ABCDEFG0123456789abc_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUv",
    ),
    Secret("slack_bot", "xoxb-2048137265-4096273519-Qw3rTy8uIo2pAs5dFg7hJk1L"),
    Secret("slack_user", "xoxp-1234567890-1234567890-1234567890-a1b2c3d4e5f60718293a4b5c6d7e8f90"),
    Secret("stripe_live", "sk_live_51HqX8aK2Lm9Np3Qr7St1Uv5WxYz"),
    Secret("stripe_test", "sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
    Secret("stripe_restricted", "rk_live_7Hh2Jj4Kk6Ll8Mm0Nn1Pp3Qq5Rr"),
    Secret("stripe_publishable_live", "pk_live_TYooMQauvdEDq54NiTphI7jx"),
    Secret("openai_project", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAB7CD0EF3GH6IJ9KLmN0pQ"),
    Secret("openai_legacy", "sk-7Hq2Lm9Np3Qr7St1Uv5WT3BlbkFJxYz8aK2Lm9Np3Qr7St1Uv5W"),
    Secret(
        "anthropic",
        "sk-ant-api03-Xy9Zw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8Ba7Zy6Xw5Vu4Ts3Rq2Po1Nm0Lk9Ji8Hg7Fe6Dc5Ba4"
        "Zy3Xw2Vu1-TsRqPoNmAA",
    ),
    Secret("google_api_key", "AIzaSyD-8qX3mK9pL2nR5tW7yB4cF6hJ1kS0aE3"),
    Secret("google_oauth", "ya29.a0AfH6SMBx7Lm9Np3Qr7St1Uv5WxYz2Ab4Cd6Ef8Gh"),
    Secret("gitlab", "glpat-x7Yz2Ab4Cd6Ef8Gh0Ij2"),
    Secret("npm", "npm_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAB7C"),
    Secret("huggingface", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
    Secret("sendgrid", "SG.Ab3dEf6hIj9kLm2nOp5qRs.8tUv1wXy4zAB7CD0EF3GH6IJ9KLmN0pQrS2tU4vW6x"),
    Secret("pem_rsa", _PEM, also=("MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",)),
    Secret(
        "pem_openssh",
        _OPENSSH,
        also=("QyNTUxOQAAACBq7Ry5pTz3yN0l4jKqgkVvLsQ2s0pL6b8f8yqkT8nUHwAAAJgQ3uDiEN7g",),
    ),
    Secret("dsn_password", "Sup3r-S3cret-Pw", "postgres://app_user:Sup3r-S3cret-Pw@db.internal:5432/orders"),
    Secret("url_password", "hunter2-horse", "https://deploy:hunter2-horse@git.example.com/repo.git"),
    Secret("visa_spaces", "4111 1111 1111 1111", also=("4111111111111111",)),
    Secret("mastercard_dashes", "5500-0000-0000-0004", also=("5500000000000004",)),
    Secret("amex", "378282246310005"),
    Secret("visa_plain", "4012888888881881"),
    Secret(
        "generic_key_assignment", "f3a9c1e7b5d2048a6c9e1f3b7d5a2c8e", "key=f3a9c1e7b5d2048a6c9e1f3b7d5a2c8e"
    ),
    Secret("password_assignment", "hunter2-correct-horse", "password=hunter2-correct-horse"),
    Secret("json_password", "Tr0ub4dor&3", '{"username": "alice", "password": "Tr0ub4dor&3"}'),
    Secret("client_secret", "cs_8fJ2kL9mN4pQ7rS1tU5v", "client_secret: cs_8fJ2kL9mN4pQ7rS1tU5v"),
    Secret(
        "url_query_api_key",
        "9a8b7c6d5e4f3a2b1c0dQ",
        "https://api.example.com/v1/search?q=shoes&api_key=9a8b7c6d5e4f3a2b1c0dQ&page=2",
    ),
    Secret(
        "url_query_signature",
        "Zm9vYmFyYmF6cXV4cXV1eA",
        "https://bucket.s3.amazonaws.com/report.pdf?X-Amz-Expires=300&X-Amz-Signature=Zm9vYmFyYmF6cXV4cXV1eA",
    ),
    Secret(
        "url_path_token",
        "Gq7Vb2Xk9LmN4pR8sT1wY6zA",
        "https://hooks.slack.com/services/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",
    ),
    Secret(
        "url_fragment_token",
        "aB3cD4eF5gH6iJ7kL8mN9",
        "https://app.example.com/callback#access_token=aB3cD4eF5gH6iJ7kL8mN9&token_type=bearer",
    ),
    Secret("cookie_header", "s%3Aj7Kq2Lm9Np3Qr7St1Uv5", "Cookie: sessionid=s%3Aj7Kq2Lm9Np3Qr7St1Uv5"),
    Secret("escaped_json", "Pa55w0rd!x", '{\\"user\\": \\"bob\\", \\"password\\": \\"Pa55w0rd!x\\"}'),
    Secret("python_repr", "s3cr3t-v4lue", "{'db_password': 's3cr3t-v4lue', 'host': 'db'}"),
    Secret(
        "connection_string",
        "Qm9vbXNoYWthbGFrYQ==",
        "Server=tcp:db;Database=x;AccountKey=Qm9vbXNoYWthbGFrYQ==;",
    ),
)

# Strings that look busy but are not secrets: they must arrive byte for byte.
LOOKALIKES: tuple[str, ...] = (
    "550e8400-e29b-41d4-a716-446655440000",
    "018f6b2e-7c1a-7d4e-9f3b-2a6c8e0d1f57",
    "3f786850e387550fdab836ed7e6dc881de23001b",
    "3f78685",
    "507f1f77bcf86cd799439011",
    "ORD-2024-000123",
    "order_7Hq2Lm9N",
    "INV-000045-B",
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    "password reset page",
    "Enter your password to continue",
    "token count exceeded the limit",
    "author: Jane Doe",
    "auth_method=oauth2",
    "session count 42",
    "input_tokens=1234 output_tokens=567",
    "Bearer of bad news",
    "Basic plan",
    "https://api.example.com/v1/orders/12345?page=2&sort=desc",
    "https://github.com/open-telemetry/opentelemetry-python/commit/3f786850e387550fdab836ed7e6dc881de23001b",
    "https://example.com/blog/how-to-rotate-your-api-keys-safely",
    "https://example.com/users/550e8400-e29b-41d4-a716-446655440000/orders/98765",
    "/v1/orders/{order_id}/items",
    "1700000000123456789",
    "4111 1111 1111 1112",
    "+1 415 555 2671",
    "jane.doe@example.com",
    "10.0.0.1",
    "python-requests/2.32.3",
    "2024-01-15T10:30:00Z",
    "task-1234567890abcdefghijkl",
    "sk-learn-compatible-estimator",
    "use a ghp_ token from the settings page",
    "#ff00aa",
    "gen_ai.usage.input_tokens",
    "SELECT * FROM orders WHERE id = $1",
    "The quick brown fox jumps over the lazy dog",
    "ValueError: invalid literal for int() with base 10: 'abc'",
    "GET /api/v2/customers/{id}",
    "checkout",
    "",
)

# Attribute keys whose *values* must survive (false positives of naive key matching).
NON_SENSITIVE_KEYS: tuple[str, ...] = (
    "author",
    "auth_method",
    "authored_by",
    "session_count",
    "session.duration",
    "token_count",
    "token_type",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "max_tokens",
    "password_reset_page_views",
    "password_strength",
    "secret_name",
    "cache.key",
    "messaging.kafka.message.key",
    "public_key",
    "keyboard",
    "monkey",
    "passenger",
    "compass",
    "tokenizer",
    "cookie_consent",
    "card_type",
)

SENSITIVE_KEYS: tuple[str, ...] = (
    "password",
    "passwd",
    "pwd",
    "userPassword",
    "db.password",
    "new_password",
    "password_hash",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "x-auth-token",
    "csrftoken",
    "api_key",
    "apiKey",
    "APIKey",
    "x-api-key",
    "X-API-KEY",
    "apikey",
    "authorization",
    "http.request.header.authorization",
    "proxy-authorization",
    "cookie",
    "http.response.header.set-cookie",
    "session",
    "session_id",
    "sessionId",
    "private_key",
    "privateKey",
    "credentials",
    "aws_secret_access_key",
    "aws_access_key_id",
    "ssn",
    "social_security_number",
    "credit_card",
    "card_number",
    "creditCardNumber",
    "cvv",
    "cvc",
    "jwt",
)


def placements(secret: Secret) -> dict[str, str]:
    """The secret's carrier embedded in every shape a span attribute can take."""
    text = secret.text
    return {
        "bare": text,
        "free_text": f"upstream call failed while using {text} (retrying in 5s)",
        "exception_message": f"AuthError: upstream rejected {text}",
        "stacktrace": (
            "Traceback (most recent call last):\n"
            '  File "/app/billing/client.py", line 88, in charge\n'
            "    response = session.post(url, headers=headers)\n"
            f"AuthError: upstream rejected {text}\n"
        ),
        "json": json.dumps({"request": {"note": f"sent {text}", "attempt": 2}, "tags": ["billing", text]}),
        "multiline": f"line one\n\t{text}\nline three",
    }


def leaked(needles: tuple[str, ...] | list[str], haystack: str | bytes) -> list[str]:
    """Needles still present in the haystack (str, or raw bytes searched as UTF-8)."""
    if isinstance(haystack, bytes):
        return [n for n in needles if n.encode("utf-8") in haystack]
    return [n for n in needles if n in haystack]


def all_needles() -> list[str]:
    out: list[str] = []
    for secret in SECRETS:
        out.append(secret.needle)
        out.extend(secret.also)
    return out
