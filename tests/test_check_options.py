"""Options that every kind reads the same way: conditions, IP addresses."""

from __future__ import annotations

import ipaddress

import pytest

from engine.checks.options import is_ipv4
from engine.errors import ValidationError
from engine.model import monitor_from_dict


@pytest.mark.parametrize(
    ("kind", "target", "provides"),
    [
        (
            "http",
            "http://127.0.0.1/",
            "status, response_time, body, text, headers, cert_days, size",
        ),
        ("tcp", "127.0.0.1:80", "reply, response_time"),
        ("dns", "example.com", "answers, rcode, response_time"),
    ],
)
def test_a_condition_reading_a_name_the_kind_lacks_is_refused(
    kind: str, target: str, provides: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        monitor_from_dict(
            {
                "name": "typo",
                "kind": kind,
                "target": target,
                "options": {"condition": "stauts == 200"},
            }
        )

    assert [str(error) for error in caught.value.errors] == [
        "options.condition: reads stauts, which this check does not provide; "
        f"it provides {provides}"
    ]


@pytest.mark.parametrize("kind", ["http", "tcp", "dns"])
def test_a_condition_must_be_text(kind: str) -> None:
    target = {"http": "http://127.0.0.1/", "tcp": "127.0.0.1:80"}.get(kind, "a.b")

    with pytest.raises(ValidationError, match=r"options\.condition: must be non-empty"):
        monitor_from_dict(
            {"name": "n", "kind": kind, "target": target, "options": {"condition": 5}}
        )


@pytest.mark.parametrize(
    "text",
    [
        "0.0.0.0",
        "127.0.0.1",
        "255.255.255.255",
        "10.0.199.249",
        "256.1.1.1",
        "1.2.3.04",
        "01.2.3.4",
        "00.0.0.0",
        "1.2.3",
        "1.2.3.4.5",
        "1.2.3.",
        ".1.2.3",
        "1..2.3",
        "1.2.3.4 ",
        "1.2.3.4\n",
        "1.2.3.\u0663",
        "+1.2.3.4",
        "1.2.3.4/32",
        "0x1.2.3.4",
        "1000.1.1.1",
        "example.com",
        "",
    ],
)
def test_ipv4_addresses_are_told_apart_as_ipaddress_tells_them(text: str) -> None:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        expected = False
    else:
        expected = True

    assert is_ipv4(text) is expected
