"""URLs (http and https, scheme and host lower-cased) and IP addresses."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.fields import bad, ok


# spec/url-spec.js "valid values"
@pytest.mark.parametrize(
    "raw", ["https://google.com/search?q=hi#results", "    HTTPS://Google.com/search?q=hi#results     "]
)
def test_leadconduit_valid_urls(raw: str) -> None:
    result = ok("url", raw)
    assert result.normal == result.value == "https://google.com/search?q=hi#results"
    assert dict(result.parts) == {
        "scheme": "https",
        "host": "google.com",
        "port": None,
        "path": "/search",
        "query": "q=hi",
        "fragment": "results",
    }


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("centennialbulb.org", "http://centennialbulb.org"),  # spec/url-spec.js "coerced to valid"
        ("172.0.0.1", "http://172.0.0.1"),  # spec/url-spec.js "coerced to valid"
        ("www.Example.com/Landing?utm_source=FB", "http://www.example.com/Landing?utm_source=FB"),
        ("https://google.com", "https://google.com"),  # lib/types/url.js examples
        (
            "https://yourwebsite.com/some/file.asp?type=offer",
            "https://yourwebsite.com/some/file.asp?type=offer",
        ),
        ("http://referringurl.com/a/landing/page.html", "http://referringurl.com/a/landing/page.html"),
        ("https://User@Example.COM:8443/Path?Q=1", "https://User@example.com:8443/Path?Q=1"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("http://localhost:3000/", "http://localhost:3000/"),
        ("example.com:8080/x", "http://example.com:8080/x"),
        ("https://my_site.example.com/", "https://my_site.example.com/"),
    ],
)
def test_url_normal(raw: str, normal: str) -> None:
    assert ok("url", raw).normal == normal


def test_url_port_and_ipv6_host() -> None:
    parts = ok("url", "http://[::1]:8080/x").parts
    assert (parts["host"], parts["port"], parts["path"]) == ("::1", 8080, "/x")


@pytest.mark.parametrize(
    "raw",
    [
        "https://",  # spec/url-spec.js "invalid values"
        "donkey://google.com",  # spec/url-spec.js "invalid values"
        "whatever",  # coerced to valid by LeadConduit; a lone word is not a web address here
        "http",
        "ftp://example.com/file",
        "http://exa mple.com",
        "http://-bad-.com",
        "http://example..com",
        "http://example.com:99999/",
        "http://[nope]/",
        "mailto:jane@example.com",
        "javascript:alert(1)",
        "tel:+15125551212",
        True,
    ],
)
def test_url_errors(raw: Any) -> None:
    assert bad("url", raw) == "not a valid URL"


@pytest.mark.parametrize(
    ("raw", "normal", "version"),
    [
        # lib/types/ip.js examples
        ("198.51.90.161", "198.51.90.161", 4),
        ("https://198.51.90.162", "198.51.90.162", 4),
        ("0d49:6f05:e485:29bb:3122:f151:aa71:4a3b", "d49:6f05:e485:29bb:3122:f151:aa71:4a3b", 6),
        ("[ffff::198.51.90.163]", "ffff::c633:5aa3", 6),
        ("https://[56c6:75e8:cddf:199b:f696:4192:baae:eb2e]", "56c6:75e8:cddf:199b:f696:4192:baae:eb2e", 6),
        # ours
        (" 8.8.8.8 ", "8.8.8.8", 4),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1", 6),
        ("::ffff:192.168.1.1", "::ffff:c0a8:101", 6),
    ],
)
def test_ip(raw: str, normal: str, version: int) -> None:
    result = ok("ip", raw)
    assert result.normal == result.value == normal
    assert result.parts["version"] == version


@pytest.mark.parametrize(
    ("raw", "private"), [("10.0.0.1", True), ("192.168.1.20", True), ("fd00::1", True), ("8.8.8.8", False)]
)
def test_ip_is_private(raw: str, private: bool) -> None:
    assert ok("ip", raw).parts["is_private"] is private


@pytest.mark.parametrize(
    "raw", ["256.1.1.1", "1.2.3", "01.2.3.4", "abc", "google.com", "1.2.3.4.5", "::g", 12]
)
def test_ip_errors(raw: Any) -> None:
    assert bad("ip", raw) == "not a valid IP address"
