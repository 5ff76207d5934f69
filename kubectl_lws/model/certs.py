"""X.509 facts from a PEM bundle (a webhook's caBundle): fingerprint, subject CN, validity window.

Why our own DER walk: doctor and report only need the validity dates and a fingerprint, and the
plugin has no crypto dependency; the ``cryptography`` package would be a heavy wheel for 60 lines.
Signatures are not verified: this answers "when does it expire", not "is it trustworthy".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)
_CN_OID = bytes([0x06, 0x03, 0x55, 0x04, 0x03])


class CertError(ValueError):
    """The bytes are not a PEM/DER certificate this parser understands."""


@dataclass(frozen=True)
class CertInfo:
    subject_cn: str
    not_before: datetime
    not_after: datetime
    sha256: str  # hex, colon-free, of the DER
    validity_offsets: tuple[tuple[int, int, int], tuple[int, int, int]]  # (tag, start, end) of both times

    def fingerprint(self) -> str:
        return "SHA256:" + self.sha256

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400.0

    def to_dict(self, now: datetime | None = None) -> dict:
        out = {"subject": self.subject_cn, "fingerprint": self.fingerprint(),
               "notBefore": _iso(self.not_before), "notAfter": _iso(self.not_after)}
        if now is not None:
            out["expired"] = self.not_after <= now
            out["daysLeft"] = round(self.days_left(now), 1)
        return out


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``pos``."""
    if pos + 2 > len(data):
        raise CertError("truncated DER")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise CertError("bad DER length")
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    end = pos + length
    if end > len(data):
        raise CertError("truncated DER")
    return tag, pos, end


def _time(tag: int, raw: bytes) -> datetime:
    text = raw.decode("ascii", "replace")
    try:
        if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ (RFC 5280: 50-99 -> 19xx)
            t = datetime.strptime(text, "%y%m%d%H%M%SZ")
            if t.year >= 2050:
                t = t.replace(year=t.year - 100)
        elif tag == 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
            t = datetime.strptime(text, "%Y%m%d%H%M%SZ")
        else:
            raise CertError(f"unexpected time tag 0x{tag:02x}")
    except ValueError as exc:
        raise CertError(f"bad certificate time {text!r}") from exc
    return t.replace(tzinfo=timezone.utc)


def _subject_cn(data: bytes, start: int, end: int) -> str:
    cut = data.find(_CN_OID, start, end)
    if cut < 0:
        return ""
    try:
        _, vs, ve = _tlv(data, cut + len(_CN_OID))
    except CertError:
        return ""
    return data[vs:ve].decode("utf-8", "replace")


def parse_der(der: bytes) -> CertInfo:
    tag, cs, _ = _tlv(der, 0)
    if tag != 0x30:
        raise CertError("not a certificate (no outer SEQUENCE)")
    tag, pos, tbs_end = _tlv(der, cs)
    if tag != 0x30:
        raise CertError("not a certificate (no tbsCertificate)")
    fields: list[tuple[int, int, int]] = []
    while pos < tbs_end and len(fields) < 7:
        t, s, e = _tlv(der, pos)
        fields.append((t, s, e))
        pos = e
    if fields and fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    if len(fields) < 5:
        raise CertError("truncated tbsCertificate")
    _, vs, ve = fields[3]  # serial, signature, issuer, validity, subject
    t1, s1, e1 = _tlv(der, vs)
    t2, s2, e2 = _tlv(der, e1)
    if e2 > ve:
        raise CertError("bad validity")
    _, ss, se = fields[4]
    return CertInfo(_subject_cn(der, ss, se), _time(t1, der[s1:e1]), _time(t2, der[s2:e2]),
                    hashlib.sha256(der).hexdigest(), ((t1, s1, e1), (t2, s2, e2)))


def pem_blocks(data: bytes | str) -> list[bytes]:
    """DER bytes of every CERTIFICATE block in a PEM bundle."""
    raw = data.encode() if isinstance(data, str) else data
    out = []
    for match in _PEM.finditer(raw):
        try:
            out.append(base64.b64decode(b"".join(match.group(1).split()), validate=True))
        except (binascii.Error, ValueError) as exc:
            raise CertError("bad base64 in a PEM block") from exc
    return out


def parse_ca_bundle(ca_bundle_b64: str | None) -> list[CertInfo]:
    """Certificates of a webhook ``caBundle`` (base64 of PEM). Raises CertError when unusable."""
    if not ca_bundle_b64:
        raise CertError("caBundle is empty")
    try:
        pem = base64.b64decode(ca_bundle_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CertError("caBundle is not base64") from exc
    blocks = pem_blocks(pem)
    if not blocks:
        raise CertError("caBundle holds no PEM certificate")
    return [parse_der(b) for b in blocks]
