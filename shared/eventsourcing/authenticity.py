"""Authentic events: what the relay signs, and the checks every reader of a topic makes.

A service's relay signs the events it publishes, 64 at a time (``sign_batch``): each
event's *leaf* is the SHA-256 of ``signed_bytes``, its body and every ``ce_*`` attribute it
carries, so no attribute can be changed, added or removed, and no body swapped, without its
leaf changing. The batch's leaves are the leaves of a Merkle tree, whose root the service
signs with Ed25519. Each event carries the signature (``ce_signature``) and the path from
its leaf to the root (``ce_signatureproof``), so it is verifiable on its own, by any reader,
whatever else of its batch that reader sees. Why a batch: an Ed25519 signature costs about as
much as everything else the relay does for an event, and a verification two to three times
that; a reader verifies each root once (``Authenticity`` remembers the roots it verified),
so per event only a few hashes remain.

Before an event is applied or counted, its reader (a service's inbox, the auditor's replay)
makes the same three checks, with ``check_authentic``:

1. its type belongs to the service that owns the topic it was read from (the contracts say
   which service owns each type: ``shared.contracts``);
2. its ``ce_source`` is that service (``/songji/<service>``);
3. its signature verifies under that service's public key.

A message failing one is refused with the reason (``Forged``); the inbox dead-letters it.

For integrators (docs/integrators.md), with every length a 4-byte big-endian unsigned integer
and ``H`` SHA-256:

- ``signed_bytes``: the 16 bytes ``songji-event-v1\\n``; then for each ``ce_*`` header except
  ``ce_signature`` and ``ce_signatureproof``, sorted by name, the name's length, the name,
  the value's length and the value (the bytes as they travel, UTF-8); then the body's length
  and the body;
- the leaf: ``H(0x00 + signed_bytes)``; a node: ``H(0x01 + left + right)``;
- ``ce_signatureproof`` (absent for a batch of one): URL-safe base64 of 33-byte steps from the
  leaf up, each a side byte (``0x00``: the sibling is on the left, ``0x01``: on the right) and
  the sibling's 32 bytes;
- ``ce_signature``: URL-safe base64 of the Ed25519 signature of ``songji-events-root-v1\\n``
  followed by the root's 32 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Iterable, Mapping, Sequence

from shared.contracts.base import UnknownEventType, model_for
from shared.contracts.envelope import InvalidMessage
from shared.eventsourcing.signing import BadSignature, PublicKeys, SigningKey

SIGNATURE_HEADER = "ce_signature"
PROOF_HEADER = "ce_signatureproof"
_NOT_SIGNED = frozenset((SIGNATURE_HEADER, PROOF_HEADER))
DOMAIN = b"songji-event-v1\n"  # what a leaf is of: never valid as anything else
ROOT_DOMAIN = b"songji-events-root-v1\n"  # what the signature is of
_LEAF, _NODE = b"\x00", b"\x01"  # a leaf can never pass for a node, nor a node for a leaf
_LEFT, _RIGHT = 0, 1  # where the sibling is, in a proof's step
_STEP = 33
# Events under one signature. Each proof step adds 44 bytes (base64) to every event, and the
# broker and the client pay for bytes too: measured on the relay benchmark, 500 at a time
# (9 steps) was no faster than 64 (6 steps), and one at a time (a signature per event) was
# slowest by far. A reader verifies a signature per 64 events.
SIGNED_TOGETHER = 64
MAX_PROOF_STEPS = 32  # a proof longer than this is refused unread
_VERIFIED_KEPT = 4096  # roots remembered as verified, per reader
_LENGTH = struct.Struct(">I").pack
_sha256 = hashlib.sha256


class Forged(InvalidMessage):
    """A message that is not what its owning service published: dead-lettered, never applied."""


def source_of(service: str) -> str:
    """The ``ce_source`` of everything ``service`` publishes."""
    return f"/songji/{service}"


def signed_bytes(headers: Iterable[tuple[str, bytes | str]] | Mapping[str, bytes | str],
                 body: bytes | None) -> bytes:
    """What an event's leaf is the hash of: ``headers``' ``ce_*`` attributes (all but the
    signature and its proof) sorted by name, and the body, each length-prefixed (see the
    module's docstring). ``headers`` (pairs, or a mapping: what a reader passes) must not
    repeat a name. Sorted by the names as text: UTF-8 keeps the order of the code points, so
    it is the order of their bytes."""
    if isinstance(headers, Mapping):
        return _signed_bytes_of_mapping(headers, body)
    parts = [DOMAIN]
    add = parts.append
    for name, value in sorted(headers):
        if name[:3] == "ce_" and name not in _NOT_SIGNED:
            add(_NAMES.get(name) or _name(name))
            raw = value if value.__class__ is bytes else value.encode()  # type: ignore[union-attr]
            add(_LENGTH(len(raw)))
            add(raw)
    body = body or b""
    add(_LENGTH(len(body)))
    add(body)
    return b"".join(parts)


# A name's length and bytes, as they go into ``signed_bytes``: the same dozen names in every
# event (every reader and the auditor's replay compute this for each event they read).
_NAMES: dict[str, bytes] = {}


def _name(name: str) -> bytes:
    raw = name.encode()
    prefixed = _LENGTH(len(raw)) + raw
    if len(_NAMES) < 256:
        _NAMES[name] = prefixed
    return prefixed


# For each sequence of header names a reader met (the same one or two in every event of a
# topic), the names that are signed, in their order, with their prefixes (``_name``): every
# reader computes ``signed_bytes`` of every event it reads, and sorting and sifting a dozen
# names each time was a third of the cost of checking an event (measured on the auditor's
# replay). The bytes are the same as the pairs' (a unit test compares them).
_ORDERS: dict[tuple[str, ...], tuple[tuple[str, bytes], ...]] = {}
_ORDERS_KEPT = 64


def _signed_bytes_of_mapping(headers: Mapping[str, bytes | str], body: bytes | None
                             ) -> bytes:
    names = tuple(headers)
    order = _ORDERS.get(names)
    if order is None:
        order = tuple((name, _NAMES.get(name) or _name(name)) for name in sorted(names)
                      if name[:3] == "ce_" and name not in _NOT_SIGNED)
        if len(_ORDERS) < _ORDERS_KEPT:
            _ORDERS[names] = order
    parts = [DOMAIN]
    for name, prefixed in order:
        value = headers[name]
        raw = value if value.__class__ is bytes else value.encode()  # type: ignore[union-attr]
        parts += (prefixed, _LENGTH(len(raw)), raw)
    body = body or b""
    parts += (_LENGTH(len(body)), body)
    return b"".join(parts)


def leaf_of(headers: Iterable[tuple[str, bytes | str]] | Mapping[str, bytes | str],
            body: bytes | None) -> bytes:
    return _sha256(_LEAF + signed_bytes(headers, body)).digest()


def sign_batch(records: Sequence[tuple[list[tuple[str, bytes]], bytes]], key: SigningKey
               ) -> None:
    """Sign ``records`` (each its headers and body), ``SIGNED_TOGETHER`` at a time: the
    signature and each one's proof are added to its headers (the relay, for each batch it
    publishes)."""
    for start in range(0, len(records), SIGNED_TOGETHER):
        _sign_tree(records[start:start + SIGNED_TOGETHER], key)


def _sign_tree(records: Sequence[tuple[list[tuple[str, bytes]], bytes]], key: SigningKey
               ) -> None:
    if not records:
        return
    levels = [[leaf_of(headers, body) for headers, body in records]]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([_sha256(_NODE + below[i] + below[i + 1]).digest()
                       if i + 1 < len(below) else below[i]  # an odd one out goes up as it is
                       for i in range(0, len(below), 2)])
    signature = base64.urlsafe_b64encode(key.sign(ROOT_DOMAIN + levels[-1][0]))
    for index, (headers, _) in enumerate(records):
        steps, i = [], index
        for level in levels[:-1]:
            sibling = i ^ 1
            if sibling < len(level):
                side = b"\x01" if sibling > i else b"\x00"
                steps += (side, level[sibling])
            i //= 2
        headers.append((SIGNATURE_HEADER, signature))
        if steps:
            headers.append((PROOF_HEADER, base64.urlsafe_b64encode(b"".join(steps))))


def sign(headers: list[tuple[str, bytes]], body: bytes, key: SigningKey
         ) -> list[tuple[str, bytes]]:
    """``headers`` with the signature of a batch of this one event added."""
    sign_batch([(headers, body)], key)
    return headers


def owner_of_type(ce_type: str) -> str:
    """The service whose contract declares ``ce_type``; UnknownEventType if none does."""
    return model_for(ce_type).service


def _text(value: bytes | str | None) -> str | None:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value


# ``base64.b64decode(raw, altchars=b"-_", validate=True)`` is this translation then
# ``binascii.a2b_base64(..., strict_mode=True)``; done here, without making the table anew
# for every header.
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _decoded(value: bytes | str, what: str) -> bytes:
    try:
        raw = value if isinstance(value, bytes) else value.encode()
        return binascii.a2b_base64(raw.translate(_FROM_URLSAFE), strict_mode=True)
    except (ValueError, binascii.Error):
        raise Forged(f"{what} is not URL-safe base64") from None


# Signatures decoded lately: the 64 events of a batch carry the same one.
_SIGNATURES: dict[bytes | str, bytes] = {}
_SIGNATURES_KEPT = 256


def _signature(encoded: bytes | str) -> bytes:
    signature = _SIGNATURES.get(encoded)
    if signature is None:
        signature = _decoded(encoded, SIGNATURE_HEADER)  # Forged: not kept
        if len(_SIGNATURES) >= _SIGNATURES_KEPT:
            _SIGNATURES.clear()
        _SIGNATURES[encoded] = signature
    return signature


def root_of(headers: Mapping[str, bytes | str], body: bytes | None) -> bytes:
    """The root the event's proof leads to from its leaf; Forged if the proof is malformed."""
    node = leaf_of(headers, body)
    proof = headers.get(PROOF_HEADER)
    if not proof:
        return node
    steps = _decoded(proof, PROOF_HEADER)
    if len(steps) % _STEP or len(steps) > MAX_PROOF_STEPS * _STEP:
        raise Forged(f"{PROOF_HEADER} is not a proof")
    for at in range(0, len(steps), _STEP):
        side, sibling = steps[at], steps[at + 1:at + _STEP]
        if side == _RIGHT:
            node = _sha256(_NODE + node + sibling).digest()
        elif side == _LEFT:
            node = _sha256(_NODE + sibling + node).digest()
        else:
            raise Forged(f"{PROOF_HEADER} is not a proof")
    return node


def check_authentic(headers: Mapping[str, bytes | str], body: bytes | None,
                    owner: str | None, keys: PublicKeys,
                    verified: dict[tuple[str, bytes, bytes], None] | None = None) -> None:
    """Raise ``Forged`` naming the first check the message fails (see the module's
    docstring), or ``UnknownEventType`` for a type no contract declares. ``owner`` is the
    service owning the topic it was read from (None: a topic no service owns). ``headers``
    are the message's, name -> value (text or the bytes as they travel), the last of a
    repeated name winning, as the envelope is read. ``verified`` holds (service, root,
    signature) already verified, and gains what is verified here."""
    if owner is None:
        raise Forged("read from a topic that no service owns")
    ce_type = _text(headers.get("ce_type"))
    if not ce_type:
        raise Forged("no ce_type")
    type_owner = owner_of_type(ce_type)  # UnknownEventType: refused as unknown, as before
    if type_owner != owner:
        raise Forged(f"event type {ce_type} belongs to {type_owner}, "
                     f"not to the topic of {owner}")
    source = _text(headers.get("ce_source"))
    if source != source_of(owner):
        raise Forged(f"ce_source {(source or '')[:200]!r} is not {source_of(owner)}")
    encoded = headers.get(SIGNATURE_HEADER)
    if not encoded:
        raise Forged(f"unsigned (no {SIGNATURE_HEADER})")
    signature = _signature(encoded)
    root = root_of(headers, body)
    seen = (owner, root, signature)
    if verified is not None and seen in verified:
        return
    try:
        keys.verify(owner, ROOT_DOMAIN + root, signature)
    except BadSignature as exc:
        raise Forged(str(exc)) from None
    if verified is not None:
        if len(verified) >= _VERIFIED_KEPT:
            verified.clear()  # a new batch's root is verified again once: cheap enough
        verified[seen] = None


# ``Authenticity.verdict``: a message is authentic (``AUTHENTIC``), of a type no contract
# declares (``UNKNOWN_TYPE``: dead-lettered as unknown), or forged, refused with the reason
# (the text of its ``Forged``). Plain values, so that a process that checked messages can
# hand its verdicts to the one that acts on them (the auditor's topic reader does).
Verdict = bool | str
AUTHENTIC: Verdict = True
UNKNOWN_TYPE: Verdict = False


class Authenticity:
    """The checks for one reader: everyone's public keys and the owner of each topic it reads
    (a topic missing from ``owners`` is owned by no one: everything read from it is refused).
    It remembers the batch roots it verified, so each is verified once."""

    def __init__(self, keys: PublicKeys, owners: Mapping[str, str | None]) -> None:
        self.keys = keys
        self.owners = dict(owners)
        self._verified: dict[tuple[str, bytes, bytes], None] = {}

    def check(self, headers: Mapping[str, bytes | str], body: bytes | None, topic: str
              ) -> None:
        """``check_authentic`` for a message read from ``topic``: raises ``Forged`` (or
        ``UnknownEventType``)."""
        check_authentic(headers, body, self.owners.get(topic), self.keys, self._verified)

    def verdict(self, headers: Mapping[str, bytes | str], body: bytes | None, topic: str
                ) -> Verdict:
        """``check``'s outcome as a value that can be handed to another process (see
        ``Verdict``); any other exception is raised, as ``check`` raises it."""
        try:
            self.check(headers, body, topic)
        except Forged as exc:
            return str(exc)
        except UnknownEventType:
            return UNKNOWN_TYPE
        return AUTHENTIC

