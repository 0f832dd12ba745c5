"""An email's wire form: what a mail client reads back from the bytes ordermill sends,
whatever the customer's name, the subject or the store's name hold."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.charset import QP, Charset
from email.header import Header
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart

import pytest

from ordermill.notify.email_mime import mailbox, sender, wire_form

MESSAGE = {
    "mail_from": "Pâtisserie Zoë <orders@cakes.example>",
    "to_name": "Zoë Müller",
    "to": "zoe@example.com",
    "subject": "Votre commande 2026-00001 est prête ✓",
    "message_id": "<ordermill.3.7@cakes.example>",
    "text": "Bonjour Zoë,\n\n=_ordermill_ and =3D stay as written.\n" + "x" * 200,
    "html": "<p>Bonjour Zoë &amp; co</p>",
}


def _wire(**overrides: str) -> bytes:
    return wire_form(**{**MESSAGE, **overrides})


def _read(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)


def _lines(content: str) -> str:
    return content.replace("\r\n", "\n")  # as a mail client shows it


def test_names_and_subjects_outside_ascii_read_back_as_written() -> None:
    raw = _wire()
    mail = _read(raw)

    assert raw.isascii()  # 7-bit clean: encoded words and quoted-printable
    assert mail["From"] == "Pâtisserie Zoë <orders@cakes.example>"
    assert mail["To"] == "Zoë Müller <zoe@example.com>"
    assert mail["Subject"] == "Votre commande 2026-00001 est prête ✓"
    assert mail["Message-ID"] == "<ordermill.3.7@cakes.example>"
    assert mail["Date"] is not None


def test_both_bodies_read_back_exactly_even_text_that_looks_like_the_boundary() -> None:
    mail = _read(_wire())

    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert (
        _lines(text.get_content())
        == "Bonjour Zoë,\n\n=_ordermill_ and =3D stay as written.\n" + "x" * 200
    )
    assert _lines(html.get_content()) == "<p>Bonjour Zoë &amp; co</p>"
    assert [part.get_content_type() for part in mail.iter_parts()] == ["text/plain", "text/html"]


def test_every_line_ends_in_crlf_and_none_is_longer_than_smtp_allows() -> None:
    subject = ("A long subject " * 20).strip()
    raw = _wire(subject=subject)
    lines = raw.split(b"\r\n")

    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in lines) <= 998
    assert _read(raw)["Subject"] == subject


def test_a_domain_outside_ascii_is_sent_in_its_idna_form() -> None:
    mail = _read(_wire(to="zoe@bäckerei.example"))

    assert mail["To"].addresses[0].addr_spec == "zoe@xn--bckerei-5wa.example"


@pytest.mark.parametrize("address", ["zoë@example.com", "no-at-sign", "a b@example.com", "@x"])
def test_an_address_that_cannot_go_out_without_smtputf8_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="not an address"):
        _wire(to=address)


def test_a_name_cannot_smuggle_a_header_in() -> None:
    mail = _read(_wire(to_name='Eve" <eve@evil.example>, "x'))

    assert [a.addr_spec for a in mail["To"].addresses] == ["zoe@example.com"]
    assert mail["Bcc"] is None


def _as_the_standard_library_writes_it(raw: bytes, **overrides: str) -> bytes:
    """The same message built from ``email.mime`` objects and flattened by the
    ``compat32`` generator, with the boundary and date ``raw`` has."""
    fields = {**MESSAGE, **overrides}
    boundary = re.search(rb'boundary="([^"]+)"', raw)
    date = re.search(rb"\r\nDate: ([^\r]+)\r\n", raw)
    assert boundary is not None
    assert date is not None
    mail = MIMEMultipart("alternative", boundary=boundary[1].decode())
    for name, value in (
        ("From", sender(fields["mail_from"])),
        ("To", mailbox(fields["to_name"], fields["to"])),
        ("Subject", fields["subject"]),
        ("Date", date[1].decode()),
        ("Message-ID", fields["message_id"]),
    ):
        mail[name] = Header(value, "us-ascii" if value.isascii() else "utf-8", header_name=name)  # type: ignore[assignment]  # compat32 takes a Header
    utf8_qp = Charset("utf-8")
    utf8_qp.body_encoding = QP
    for body, subtype in ((fields["text"], "plain"), (fields["html"], "html")):
        part = MIMENonMultipart("text", subtype)
        part.set_payload(body, utf8_qp)
        del part["MIME-Version"]  # once, on the message
        mail.attach(part)
    return mail.as_bytes(policy=policy.compat32.clone(linesep="\r\n"))


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"subject": ("A long subject " * 20).strip()},
        {"subject": "Ein sehr langer Betreff über Zoës Bestellung " * 4},
        {"subject": "tabs\tand  double  spaces", "to_name": 'O\'Brien, "Jo" (shop)'},
        {"subject": "  spaces at both ends  ", "message_id": "<a b>"},
        {"subject": "x" * 69, "message_id": "<" + "y" * 64 + "@cakes.example>"},
        {"subject": "x" * 70, "message_id": "<" + "y" * 90 + "@cakes.example>"},
        {"to_name": "Zoë " * 30, "mail_from": "orders@cakes.example"},
        {"to_name": "", "to": "zoe@bäckerei.example"},
        {"text": "", "html": ""},
        {"text": "ends in a newline\n", "html": "<p>✓</p>\n"},
        {"text": "trailing spaces   \nand a tab\t\n.a dot first\r\nCRLF lines\r\n"},
        {"text": "é" * 300 + "\n" + "😀" * 40, "html": "<p>" + "x" * 500 + "</p>"},
        {"text": "From the start\n--=_ordermill_0 not a boundary\n=\n=="},
    ],
    ids=range(14),
)
def test_the_message_is_byte_for_byte_what_the_standard_library_writes(
    overrides: dict[str, str],
) -> None:
    raw = _wire(**overrides)

    assert raw == _as_the_standard_library_writes_it(raw, **overrides)


@pytest.mark.parametrize(
    "subject", [("A long subject " * 20).strip(), "Ein langer Betreff über Zoës Torte " * 6]
)
def test_a_long_subject_is_folded_to_lines_of_at_most_78_characters(subject: str) -> None:
    raw = _wire(subject=subject)
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")

    assert max(len(line) for line in head) <= 78
    assert _read(raw)["Subject"] == subject
