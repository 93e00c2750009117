"""The classes of gaps an outside review found (issue 17, "Redaction"), each tested as a class.

1. URLs without a scheme (HTTP clients' error messages print only the path and query).
2. What counts as a placeholder after ``password=`` (only true reference syntax is skipped).
3. How far a free-text value goes (not cut at ``&``, ``(`` or a blank; no length shown).
4. An AWS secret right after its key id, URLs nested in a parameter, lower-case PEM headers.
"""

from __future__ import annotations

import urllib.parse

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import Status, StatusCode

from botanu.redaction import RedactingSpanProcessor, Redactor
from botanu.redaction._shapes import is_not_a_secret

MASK = Redactor()
REMOVE = Redactor(mode="remove")
HASH = Redactor(mode="hash", hash_key="k")
MODES = st.sampled_from([MASK, REMOVE, HASH])
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@st.composite
def random_secrets(draw: st.DrawFn, alphabet: str = _ALNUM + "-._~", min_size: int = 10) -> str:
    """A random credential: long enough to be unique in the output, and mixed enough not to read
    as a word or a number."""
    value = draw(st.text(alphabet=alphabet, min_size=min_size, max_size=40))
    assume(any(c.isdigit() for c in value) and any(c.isalpha() for c in value))
    assume(not is_not_a_secret(value))
    return value


# ---------------------------------------------------------------------- 1. scheme-less URLs

# Parameters the URL rules know as secret (by key name or as URL-only names such as code, sig).
SECRET_PARAMS = st.sampled_from(
    ["code", "token", "access_token", "api_key", "key", "sig", "signature", "password", "otp", "sas",
     "bearer", "client_secret", "X-Amz-Signature", "auth", "refresh_token", "id_token", "apikey"]
)  # fmt: skip
PLAIN_PARAMS = st.sampled_from(["state", "page", "q", "lang", "scope", "limit"])
SEGMENTS = st.lists(st.from_regex(r"[a-z][a-z0-9_\-]{0,11}", fullmatch=True), min_size=1, max_size=4)
# How HTTP clients and servers print a request target without scheme and host.
CLIENT_MESSAGES = st.sampled_from(
    [
        "HTTPSConnectionPool(host='api.example.com', port=443): Max retries exceeded with url: {} "
        "(Caused by NewConnectionError('Failed to establish a new connection'))",
        "Client error '401 Unauthorized' for url '{}'",
        "400 Client Error: Bad Request for url: {}",
        'GET {} HTTP/1.1" 500 -',
        "request to {} failed",
        "redirect to <{}>",
        "({})",
        "{}",
    ]
)


@PROPERTY
@given(
    segments=SEGMENTS,
    name=SECRET_PARAMS,
    secret=random_secrets(),
    plain=PLAIN_PARAMS,
    plain_value=st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True),
    host=st.sampled_from(["", "api.example.com", "localhost:8080"]),
    secret_first=st.booleans(),
    template=CLIENT_MESSAGES,
    redactor=MODES,
)
def test_a_path_with_a_query_is_redacted_without_a_scheme(
    segments: list[str],
    name: str,
    secret: str,
    plain: str,
    plain_value: str,
    host: str,
    secret_first: bool,
    template: str,
    redactor: Redactor,
) -> None:
    params = [f"{name}={secret}", f"{plain}={plain_value}"]
    if not secret_first:
        params.reverse()
    path = host + "/" + "/".join(segments)
    target = f"{path}?{'&'.join(params)}"
    out = redactor.redact_text(template.format(target))
    assert secret not in out
    # The rest of the URL is kept: path, parameter names, ordinary values.
    assert path + "?" in out
    assert f"{plain}={plain_value}" in out
    assert f"{name}=" in out


@PROPERTY
@given(segments=SEGMENTS, secret=random_secrets(), redactor=MODES)
def test_a_token_in_a_fragment_is_redacted_without_a_scheme(
    segments: list[str], secret: str, redactor: Redactor
) -> None:
    text = f"callback failed: /{'/'.join(segments)}#access_token={secret}&token_type=bearer"
    out = redactor.redact_text(text)
    assert secret not in out
    assert "&token_type=bearer" in out


def test_a_token_shaped_path_segment_is_redacted_when_the_path_has_a_query() -> None:
    token = "Gq7Vb2Xk9LmN4pR8sT1wY6zA"
    out = REMOVE.redact_text(f"Max retries exceeded with url: /hooks/T024/{token}?retry=1")
    assert out == "Max retries exceeded with url: /hooks/T024/[REDACTED]?retry=1"


def test_question_marks_in_prose_and_ordinary_queries_are_kept() -> None:
    for text in (
        "why? because=reasons",
        "Is it done? yes",
        "GET /v1/orders?page=2&limit=50 took 12 ms",
        "see /search?q=shoes#results",
        "color #fff=white",
    ):
        assert MASK.redact_text(text) == text


class _Keep(SpanProcessor):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def test_client_exception_and_status_on_a_real_span_lose_the_code_like_url_full() -> None:
    keep = _Keep()
    provider = TracerProvider()
    provider.add_span_processor(RedactingSpanProcessor(keep, Redactor(mode="remove")))
    code = "4/0AbCdEf1GhIj2KlMn3OpQr"
    message = f"Max retries exceeded with url: /oauth/token?code={code}&state=xyz"
    try:
        with provider.get_tracer("t").start_as_current_span("POST") as span:
            span.set_attribute("url.full", f"https://idp.example.com/oauth/token?code={code}&state=xyz")
            span.set_status(Status(StatusCode.ERROR, message))
            raise ConnectionError(message)
    except ConnectionError:
        pass
    provider.shutdown()
    (span,) = keep.spans
    event = span.events[0]
    exported = [
        span.attributes["url.full"],
        span.status.description,
        event.attributes["exception.message"],
        event.attributes["exception.stacktrace"],
    ]
    for value in exported:
        assert code not in value
        assert "code=[REDACTED]&state=xyz" in value


# ---------------------------------------------------------------------- 2. reference syntax


@st.composite
def bracketed_passwords(draw: st.DrawFn) -> tuple[str, str]:
    """(value, its random part): a password that starts with $ or sits in brackets."""
    inner = draw(random_secrets(alphabet=_ALNUM + "!#%*+-.?@^_~"))
    left, right = draw(st.sampled_from([("$", ""), ("{", "}"), ("[", "]"), ("<", ">"), ("$", "$")]))
    # Not through is_not_a_secret (the rule under test): only what is reference syntax by the
    # definition is left out, an all-caps $NAME. (Digits and letters are both in ``inner``, so
    # it is never a {0} field or a marker word.)
    assume(not (left == "$" and not right and inner.replace("_", "").isalnum() and inner.isupper()))
    return left + inner + right, inner


@PROPERTY
@given(
    password=bracketed_passwords(),
    form=st.sampled_from(["password={}", 'password="{}"', "{{'password': '{}'}}", "password: {}", "pwd={}"]),
    redactor=MODES,
)
def test_passwords_that_look_bracketed_or_dollar_prefixed_are_redacted(
    password: tuple[str, str], form: str, redactor: Redactor
) -> None:
    value, inner = password
    out = redactor.redact_text("login failed with " + form.format(value))
    assert inner not in out


@PROPERTY
@given(password=bracketed_passwords(), name=st.sampled_from(["password", "token", "code"]))
def test_bracketed_passwords_in_a_url_query_are_redacted(password: tuple[str, str], name: str) -> None:
    value, inner = password
    encoded = urllib.parse.quote(value, safe="")
    texts = [f"https://h/login?{name}={encoded}&x=1"]
    if not any(c in value for c in "#?&"):  # unencoded, these would end the value by URL syntax
        texts.append(f"https://h/login?{name}={value}&x=1")
    for text in texts:
        out = MASK.redact_text(text)
        assert inner not in out
        assert "&x=1" in out


IDENT = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
ENV = st.from_regex(r"[A-Z_][A-Z0-9_]{1,15}", fullmatch=True)
TEMPLATES = ["{{ %s }}", "{{%s}}", "${{ %s }}"]
MARKERS = [
    "<redacted>", "[REDACTED]", "[FILTERED]", "<your-api-key>", "<YOUR_TOKEN>", "<hidden>", "***", "%s",
    "%(password)s", "{}", "{0}", "null", "None", "xxxxxxxx",
]  # fmt: skip
REFERENCES = st.one_of(
    ENV.map(lambda name: "$" + name),
    st.lists(IDENT, min_size=1, max_size=3).map(lambda parts: "${" + ".".join(parts) + "}"),
    st.tuples(st.lists(IDENT, min_size=1, max_size=3), st.sampled_from(TEMPLATES)).map(
        lambda pair: pair[1] % ".".join(pair[0])
    ),
    st.sampled_from(MARKERS),
)


@PROPERTY
@given(reference=REFERENCES, form=st.sampled_from(["password={}", 'token: "{}"', "api_key = {}"]))
def test_true_references_and_markers_are_kept(reference: str, form: str) -> None:
    text = "config " + form.format(reference)
    assert MASK.redact_text(text) == text


def test_the_reference_syntax_is_precise() -> None:
    assert not is_not_a_secret("$ecretPass99")  # not all-caps: a password, not $NAME
    assert not is_not_a_secret("${X:-hunter2}")  # a default value is a literal secret
    assert not is_not_a_secret("{secretish}")  # not a positional format field
    assert not is_not_a_secret("<hunter2>")  # not a marker word
    assert not is_not_a_secret("[abc123]")
    assert is_not_a_secret("$DB_PASSWORD") and is_not_a_secret("${db.password}")


# ---------------------------------------------------------------------- 3. value extent

# Anything a password may contain, except what ends a line or opens a quoted form, and the
# separators that would start a new "name=" pair.
PASSWORD_CHARS = _ALNUM + "&;,()[]{}<> !#$%*+-./?@^_|~"


@PROPERTY
@given(
    secret=st.text(alphabet=PASSWORD_CHARS, min_size=1, max_size=40).filter(
        # (">" first would read as the "=>" separator: "password=>x" is "password => x".)
        lambda v: v.strip() == v and not v.startswith(">") and not is_not_a_secret(v)
    ),
    key=st.sampled_from(["password", "pwd", "secret", "api_key", "client_secret", "passphrase"]),
    separator=st.sampled_from(["=", ": ", " = ", ":", " => "]),
    prefix=st.sampled_from(["", "login failed: ", "retrying with "]),
    redactor=st.sampled_from([MASK, REMOVE]),
)
def test_a_free_text_secret_is_masked_to_its_end_and_its_length_is_not_shown(
    secret: str, key: str, separator: str, prefix: str, redactor: Redactor
) -> None:
    assume(not (separator == ":" and secret.startswith("//")))  # "password://x" reads as a URL scheme
    text = f"{prefix}{key}{separator}{secret}\nnext line"
    out = redactor.redact_text(text)
    assert out == f"{prefix}{key}{separator}[REDACTED]\nnext line"


ENCLOSING_FORMS = [
    "connect(host=db, password={}, user=bob)", "connect(password={})", "msg='password={}' sent",
    "[password={}]", "{{token: {}}}", "password={}; user=bob", "password={}, user: bob",
]  # fmt: skip


@PROPERTY
@given(
    secret=st.text(alphabet=_ALNUM + "&!#$%*+-./?@^_|~ ", min_size=1, max_size=30).filter(
        lambda v: v.strip() == v and not is_not_a_secret(v)
    ),
    form=st.sampled_from(ENCLOSING_FORMS),
)
def test_surrounding_syntax_ends_the_value(secret: str, form: str) -> None:
    text = form.format(secret)
    out = REMOVE.redact_text(text)
    assert out == form.format("[REDACTED]")


def test_review_examples() -> None:
    assert MASK.redact_text("password=Tr0ub4dor&3xyz") == "password=[REDACTED]"
    assert MASK.redact_text("password: correct horse battery staple") == "password: [REDACTED]"
    assert MASK.redact_text("password=$ecretPass99") == "password=[REDACTED]"


# ---------------------------------------------------------------------- 4. pairs, nesting, PEM

AWS_ID = st.from_regex(r"A[KS]IA[A-Z0-9]{16}", fullmatch=True)
AWS_SECRET = st.text(alphabet=_ALNUM + "/+", min_size=40, max_size=40).filter(
    lambda v: sum(c.isdigit() for c in v) >= 2 and any(c.islower() for c in v) and any(c.isupper() for c in v)
)


@PROPERTY
@given(
    key_id=AWS_ID,
    secret=AWS_SECRET,
    between=st.sampled_from([" ", ":", ",", "\t", " | ", "  ", '", "', "=", "\n"]),
    redactor=MODES,
)
def test_an_aws_secret_right_after_its_key_id_is_redacted(
    key_id: str, secret: str, between: str, redactor: Redactor
) -> None:
    out = redactor.redact_text(f"creds {key_id}{between}{secret} end")
    assert key_id[4:] not in out
    assert secret not in out
    assert out.startswith("creds ")


@PROPERTY
@given(
    outer=st.sampled_from(["next", "redirect_uri", "return_to", "continue", "redirect", "target"]),
    name=SECRET_PARAMS,
    secret=random_secrets(),
    layers=st.integers(min_value=0, max_value=3),
    schemeless=st.booleans(),
)
def test_secrets_inside_a_nested_url_are_redacted(
    outer: str, name: str, secret: str, layers: int, schemeless: bool
) -> None:
    inner = f"{'' if schemeless else 'https://api.example.com'}/cb?{name}={secret}&x=1"
    value = inner
    for _ in range(layers):
        value = urllib.parse.quote(value, safe="")
    out = MASK.redact_text(f"redirecting to https://app.example.com/login?{outer}={value}&lang=en")
    assert secret not in out
    assert urllib.parse.quote(secret, safe="") not in out
    assert f"?{outer}=" in out and out.endswith("&lang=en")


def test_userinfo_inside_an_encoded_redirect_is_redacted() -> None:
    url = "https://app/login?redirect_uri=https%3A%2F%2Fu%3Apw1234%40api.example.com%2Fcb&lang=en"
    assert REMOVE.redact_url(url) == "https://app/login?redirect_uri=[REDACTED]&lang=en"


def test_an_ordinary_nested_url_is_kept() -> None:
    url = "https://app/login?next=https%3A%2F%2Fapp.example.com%2Forders%3Fpage%3D2&lang=en"
    assert MASK.redact_url(url) == url
    assert MASK.redact_text(url) == url


PEM_KINDS = st.sampled_from(["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", "DSA "])


@PROPERTY
@given(
    kind=PEM_KINDS,
    case=st.lists(st.booleans(), min_size=64, max_size=64),
    body=st.lists(st.text(alphabet=_ALNUM + "+/", min_size=16, max_size=64), min_size=1, max_size=4),
    with_end=st.booleans(),
)
def test_private_key_blocks_are_found_in_any_letter_case(
    kind: str, case: list[bool], body: list[str], with_end: bool
) -> None:
    def recase(text: str) -> str:
        return "".join(c.upper() if up else c.lower() for c, up in zip(text, case * 4, strict=False))

    block = f"-----{recase('BEGIN ' + kind + 'PRIVATE KEY')}-----\n" + "\n".join(body)
    if with_end:
        block += f"\n-----{recase('END ' + kind + 'PRIVATE KEY')}-----"
    out = MASK.redact_text(f"loaded key:\n{block}\ndone")
    for line in body:
        assert line not in out
    assert out.startswith("loaded key:\n")
