"""Pure parts of the platform's audit model: admin-path spellings, client addresses, field encryption."""

from __future__ import annotations

import pytest

from procops.sandbox.secure import FieldCipher, forwarded_client, is_admin_path, normalised_path


@pytest.mark.parametrize(
    "raw",
    [
        "/_admin/fault",
        "/%5Fadmin/fault",
        "/%255Fadmin/fault",
        "//_admin",
        "/_ADMIN",
        "/_admin/../_admin",
        "/static/..%2f_admin",
        "/static/..%2F..%2F_admin/fault",
        "/static/..\\_admin",
        "/_admin;jsessionid=1",
        "/_admin./fault",
        "/admin",
        "/%61dmin",
        "/ADMIN/",
    ],
)
def test_every_spelling_of_an_admin_path_is_an_admin_path(raw):
    assert is_admin_path(raw)


@pytest.mark.parametrize(
    "raw",
    ["/api/announcements", "/api/documents/7", "/healthz", "/api/administrative", "/docs", "/api/announcements/search"],
)
def test_ordinary_paths_are_not_admin_paths(raw):
    assert not is_admin_path(raw)


def test_normalised_path_resolves_dots_slashes_case_and_encoding():
    assert normalised_path("/Static/..%2F%5Fadmin//Fault?x=1") == "/_admin/fault"
    assert normalised_path("/../../etc") == "/etc"


def test_the_forwarded_client_is_trusted_only_from_the_local_proxy():
    assert forwarded_client("127.0.0.1", "10.0.0.1, 198.51.100.7", True) == "198.51.100.7"
    assert forwarded_client("203.0.113.9", "198.51.100.7", False) == "203.0.113.9"
    assert forwarded_client("127.0.0.1", None, True) == "127.0.0.1"


def test_a_credit_code_decrypts_only_with_its_key_and_its_row():
    cipher = FieldCipher(b"k" * 32)
    sealed = cipher.encrypt("91110000MA01ABCD3X", "a@example.test")
    assert sealed.startswith("v1:") and "91110000MA01ABCD3X" not in sealed
    assert cipher.encrypt("91110000MA01ABCD3X", "a@example.test") != sealed  # a fresh nonce each time
    assert len(FieldCipher(b"k" * 32).encrypt("X" * 64, "a@example.test")) <= 200  # fits the column
    assert cipher.decrypt(sealed, "a@example.test") == "91110000MA01ABCD3X"
    with pytest.raises(ValueError, match="does not decrypt"):
        cipher.decrypt(sealed, "b@example.test")  # copied onto another supplier's row
    with pytest.raises(ValueError, match="does not decrypt"):
        FieldCipher(b"j" * 32).decrypt(sealed, "a@example.test")
    with pytest.raises(ValueError, match="not encrypted"):
        cipher.decrypt("91110000MA01ABCD3X", "a@example.test")
