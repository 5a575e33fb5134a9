"""Our MTA-STS policy parser (proxy/sts.c, sts_policy_parse, through
tests/tools/stsparse.c) against an independent one: Debian's
postfix-mta-sts-resolver 1.1.2 (the Python package
postfix_mta_sts_resolver), on the policy bodies in tests/fixtures/mta-sts/.

The oracle. The package's policy parser is utils.parse_mta_sts_policy, but
it only splits lines: what makes a policy valid (version, mode, max_age
range, mx present), the 64 KiB bound and the ASCII decoding live in
resolver.STSResolver.resolve(). So the oracle is resolve() itself, run
as shipped, with its two network edges answered in-process: the TXT query
of _mta-sts.lab.test (one "v=STSv1; id=1;" record) and the HTTPS GET
(aiohttp.ClientSession replaced by a stand-in answering 200, text/plain,
Content-Length, the fixture's bytes in 4 KiB reads). No network, no port,
no resolv.conf. VALID means valid; anything else (FETCH_ERROR) invalid.

Our parser follows RFC 8461 3.2's ABNF strictly; the oracle is laxer on
most points (it splits on any line break, keeps the last of a repeated
field, takes anything as an mx pattern, reads max_age with Python's int()).
Every fixture on which the two disagree is listed in DIFFER with both
verdicts and the reason; a fixture missing from EXPECT, or a disagreement
not listed, fails the test, so a change on either side shows up.
"""

import asyncio
import os
import subprocess
from unittest import mock

import pytest

import stplib

FIXTURES = os.path.join(stplib.SOURCE_DIR, "tests", "fixtures", "mta-sts")
STSPARSE = os.path.abspath(os.environ.get("STP_STSPARSE")
                           or os.path.join(os.path.dirname(stplib.BINARY), "tests", "stsparse"))

MX1 = ("mx1.lab.test",)
OK = ("ok", "enforce", 86400, MX1)
BAD = ("invalid",)

# Our verdict on every fixture: ("ok", mode, max_age, mx patterns) or BAD.
EXPECT = {
    "valid-enforce-crlf": ("ok", "enforce", 86400, ("mx1.lab.test", "*.backup.lab.test")),
    "valid-enforce-lf": ("ok", "enforce", 86400, ("mx1.lab.test", "*.backup.lab.test")),
    "valid-testing": ("ok", "testing", 86400, MX1),
    "valid-none-no-mx": ("ok", "none", 86400, ()),
    "valid-no-final-newline": OK,
    "valid-field-order-free": OK,
    "valid-unknown-keys": OK,
    "valid-no-space-after-colon": OK,
    "valid-wsp-after-colon-and-at-end": OK,
    "valid-mixed-crlf-lf": OK,              # each sts-policy-term is LF or CRLF
    "valid-mx-uppercase": OK,               # patterns compared lower-cased
    "valid-max-age-zero": ("ok", "enforce", 0, MX1),
    "valid-max-age-max": ("ok", "enforce", 31557600, MX1),
    "valid-max-age-leading-zeros": OK,      # 1*10 DIGIT
    "valid-utf8-in-extension": OK,
    "size-64kib-exact": OK,
    "dup-mode-first-wins": OK,
    "dup-max-age-first-wins": OK,
    "max-age-too-big": ("ok", "enforce", 31557600, MX1),
    "max-age-eleven-digits": BAD,
    "max-age-negative": BAD,
    "max-age-plus-sign": BAD,
    "max-age-underscore": BAD,
    "max-age-missing": BAD,
    "mode-missing": BAD,
    "version-missing": BAD,
    "version-stsv2": BAD,
    "mode-bad": BAD,
    "mode-uppercase": BAD,
    "key-uppercase": BAD,                   # "Mode" is an unknown field: no mode
    "enforce-without-mx": BAD,
    "mx-bad-chars": BAD,
    "mx-trailing-dot": BAD,
    "mx-double-wildcard": BAD,
    "mx-partial-wildcard": BAD,
    "mx-empty-value": BAD,
    "empty-line-between-fields": BAD,
    "empty-lines-at-end": BAD,
    "empty-line-at-start": BAD,
    "leading-space-on-line": BAD,
    "space-before-colon": BAD,
    "line-without-colon": BAD,
    "bare-cr-line-ends": BAD,
    "nul-in-unknown-field": BAD,
    "empty-file": BAD,
    "json-not-a-policy": BAD,
    "size-over-64kib": BAD,
}

# Known, deliberate disagreements: fixture -> (the oracle's verdict, why we
# differ). Our verdict is EXPECT's.
ABNF = ("RFC 8461 3.2 ABNF: sts-policy-record = sts-policy-field *WSP *(sts-policy-term "
        "sts-policy-field *WSP) [sts-policy-term], sts-policy-term = LF / CRLF")
DIFFER = {
    "bare-cr-line-ends": (
        OK, "the oracle splits lines with str.splitlines(), which breaks on a bare CR (and "
            "VT, FF, U+2028...); " + ABNF + ": a bare CR is no line end"),
    "empty-line-between-fields": (OK, "the oracle skips empty lines; " + ABNF + ": no empty "
                                      "line is allowed"),
    "empty-lines-at-end": (OK, "the oracle skips empty lines; " + ABNF + ": at most one "
                               "sts-policy-term after the last field"),
    "empty-line-at-start": (OK, "the oracle skips empty lines; " + ABNF + ": the record "
                                "begins with a field"),
    "leading-space-on-line": (
        OK, "the oracle takes \" mx\" as an unknown key and ignores the line; the ABNF has "
            "no white space before a field name (sts-policy-ext-name begins with ALPHA / "
            "DIGIT), so the policy is malformed"),
    "line-without-colon": (
        OK, "the oracle takes the whole line as an unknown key; a line that is no "
            "sts-policy-field makes the policy malformed"),
    "nul-in-unknown-field": (
        OK, "the oracle ignores unknown fields whatever they hold; sts-policy-ext-value is "
            "visible US-ASCII, SP and UTF-8, never NUL or another control octet"),
    "dup-mode-first-wins": (
        ("ok", "testing", 86400, MX1),
        "RFC 8461 3.2: for a field given more than once \"all entries except for the first "
        "SHALL be ignored\"; the oracle keeps the last (a dict overwritten line by line)"),
    "dup-max-age-first-wins": (
        ("ok", "enforce", 60, MX1),
        "as dup-mode-first-wins: we keep the first max_age, the oracle the last"),
    "max-age-plus-sign": (
        OK, "the oracle reads max_age with Python's int(), which takes \"+86400\"; "
            "sts-policy-max-age-value = 1*10(DIGIT)"),
    "max-age-underscore": (
        OK, "Python's int() takes \"86_400\" too; 1*10(DIGIT) does not"),
    "max-age-too-big": (
        BAD, "the ABNF allows 1*10(DIGIT); the prose gives 31557600 as the maximum value. "
             "The oracle refuses a larger value (no policy); our sts.h takes it as "
             "31557600, the longest lifetime allowed, so that a domain that overshoots still "
             "gets its policy applied (a deliberate reading, not a parse error)"),
    "mx-bad-chars": (
        ("ok", "enforce", 86400, ("mx_1.lab.test",)),
        "the oracle takes any text as an mx pattern; sts-policy-mx-value = [\"*.\"] Domain "
        "(RFC 5321 4.1.2: letters, digits, inner hyphens)"),
    "mx-trailing-dot": (
        ("ok", "enforce", 86400, ("mx1.lab.test.",)),
        "a Domain of RFC 5321 has no trailing dot (no empty label)"),
    "mx-double-wildcard": (
        ("ok", "enforce", 86400, ("*.*.lab.test",)),
        "the wildcard is only [\"*.\"] in front of a Domain, once"),
    "mx-partial-wildcard": (
        ("ok", "enforce", 86400, ("mx*.lab.test",)),
        "\"*\" inside a label is no Domain"),
    "mx-empty-value": (
        ("ok", "enforce", 86400, ("mx1.lab.test", "")),
        "the oracle keeps an empty mx pattern; the ABNF requires a Domain"),
    "valid-utf8-in-extension": (
        BAD, "here the oracle is the stricter one: without a charset parameter it decodes the "
             "body as ASCII and fails on UTF-8, but sts-policy-vchar includes UTF8-2/3/4 "
             "(RFC 8461 3.2), so an extension value in UTF-8 is valid"),
}


def fixture_names():
    return sorted(f[:-4] for f in os.listdir(FIXTURES) if f.endswith(".txt"))


def read(name):
    with open(os.path.join(FIXTURES, name + ".txt"), "rb") as f:
        return f.read()


def ours(name):
    """Our parser's verdict, normalised."""
    r = subprocess.run([STSPARSE, os.path.join(FIXTURES, name + ".txt")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30,
                       universal_newlines=True)
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip()
    if line.startswith("invalid"):
        return BAD, line
    fields = dict(kv.split("=", 1) for kv in line.split()[1:])
    mx = tuple(fields["mx"].split(",")) if fields["mx"] else ()
    return ("ok", fields["mode"], int(fields["max_age"]), mx), line


# --------------------------------------------------------------------------
# The oracle: STSResolver.resolve() with DNS and HTTP answered in-process

try:
    from postfix_mta_sts_resolver import resolver as oracle_resolver
    from postfix_mta_sts_resolver import constants as oracle_constants
    ORACLE_ERROR = None
except Exception as e:  # ImportError, or a dependency (aiodns, aiohttp) missing
    oracle_resolver = None
    ORACLE_ERROR = "postfix_mta_sts_resolver cannot be imported (%s: %s); " \
                   "scripts/setup.sh installs postfix-mta-sts-resolver" % (type(e).__name__, e)


class _Txt:
    def __init__(self, text):
        self.text = text


class _Content:
    def __init__(self, body):
        self.body = body
        self.pos = 0

    async def read(self, n):
        chunk = self.body[self.pos:self.pos + n]
        self.pos += len(chunk)
        return chunk


class _Response:
    def __init__(self, body):
        self.status = 200
        self.headers = {"Content-Type": "text/plain", "Content-Length": str(len(body))}
        self.charset = None
        self.content = _Content(body)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False


class _Session:
    """Stands in for aiohttp.ClientSession: every GET gets body."""
    body = b""
    urls = []

    def __init__(self, *a, **kw):
        pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False

    def get(self, url, **kw):
        _Session.urls.append((url, kw.get("allow_redirects")))
        return _Response(_Session.body)


def oracle(body):
    """The oracle's verdict on body, normalised, and its raw result."""
    async def run():
        r = oracle_resolver.STSResolver(loop=asyncio.get_running_loop(), timeout=5)

        async def txt(name, qtype):
            assert (name, qtype) == ("_mta-sts.lab.test", "TXT")
            return [_Txt("v=STSv1; id=1;")]
        r._resolver.query = txt
        return await r.resolve("lab.test")

    _Session.body = body
    _Session.urls = []
    with mock.patch.object(oracle_resolver.aiohttp, "ClientSession", _Session):
        res = asyncio.run(run())
    assert _Session.urls == [("https://mta-sts.lab.test/.well-known/mta-sts.txt", False)]
    status, payload = res
    if status != oracle_resolver.STSFetchResult.VALID:
        return BAD, res
    pol = payload[1]
    mx = tuple(m.lower() for m in pol["mx"]) if pol["mode"] != "none" else ()
    return ("ok", pol["mode"], pol["max_age"], mx), res


# --------------------------------------------------------------------------

def test_every_fixture_has_an_expected_verdict():
    names = fixture_names()
    assert sorted(EXPECT) == names
    assert set(DIFFER) <= set(names)
    # The size fixtures are the bounds they claim to be.
    assert len(read("size-64kib-exact")) == 65536
    assert len(read("size-over-64kib")) == 65537
    if oracle_resolver is not None:
        assert oracle_constants.HARD_RESP_LIMIT == 65536


@pytest.mark.parametrize("name", fixture_names())
def test_our_parser(name):
    got, line = ours(name)
    assert got == EXPECT[name], line


@pytest.mark.parametrize("name", fixture_names())
def test_against_oracle(name):
    if oracle_resolver is None:
        pytest.skip(ORACLE_ERROR)
    mine, line = ours(name)
    theirs, raw = oracle(read(name))
    if name in DIFFER:
        want, why = DIFFER[name]
        assert mine != theirs, "listed as a difference but both say %r: %s" % (mine, why)
        assert (mine, theirs) == (EXPECT[name], want), (line, raw, why)
    else:
        assert mine == theirs, "unlisted disagreement: ours %s, oracle %r" % (line, raw)
