"""Hostile messages for `documents.incoming`, deterministic by seed, and what ingest must make of
each: the `error.type` of its dead letter, or None when it is a document to store.

`catalogue` holds one message per known class of trouble, each with its expected reason written
out; `random_messages` mutates valid documents, bytes and headers at random, and `predicted`
derives a random message's fate from the parser and the validation rules the consumer runs
(pure functions, no I/O). Both the bounded test and the long `make fuzz` run use them.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from docflow.common.errors import DocflowError
from docflow.ingest.documents.validation import prepare_document
from docflow.ingest.settings import IngestSettings
from docflow.ingest.upstream.parsing import Rejected, parse_incoming

Headers = tuple[tuple[str, bytes | None], ...]

# The broker's `message.max.bytes` (Kafka's default; deploy/local/kafka.sh leaves it): a record
# batch of one message, with its framing, may not exceed it.
BROKER_MAX_MESSAGE_BYTES = 1_048_588
_BATCH_FRAMING_BYTES = 1024  # batch and record headers, with room to spare
DEEP = 100_000  # nesting depth of the deep-JSON cases


@dataclass(frozen=True, slots=True)
class Hostile:
    """One message for the upstream topic and the dead letter it must end as (or not)."""

    case: str
    value: bytes | None
    key: bytes | None = None
    headers: Headers = ()
    reason: str | None = None  # `error.type` of its dead letter; None: a document to store
    says: str = ""  # a fragment its `error.message` must contain
    tags: tuple[str, ...] = field(default=())


def document(content: str, **fields: Any) -> bytes:
    return orjson.dumps({"content": content, **fields})


def catalogue(settings: IngestSettings, *, run: str) -> list[Hostile]:
    """Every known class of hostile message, once. `run` makes the stored contents unique."""
    return [*_bytes_cases(settings), *_shape_cases(settings, run), *_envelope_cases(run)]


def _bytes_cases(settings: IngestSettings) -> list[Hostile]:
    just_under_broker = BROKER_MAX_MESSAGE_BYTES - _BATCH_FRAMING_BYTES
    too_large = settings.max_message_bytes + 1
    return [
        Hostile("tombstone", None, key=b"doc-1", reason="empty_message", says="null value"),
        Hostile("empty value", b"", reason="empty_message", says="empty"),
        Hostile("random bytes", random.Random(1).randbytes(512), reason="invalid_utf8"),
        Hostile("invalid utf-8", b'{"content": "caf\xe9"}', reason="invalid_utf8", says="byte"),
        Hostile("overlong utf-8", b'{"content": "\xc0\xaf"}', reason="invalid_utf8"),
        Hostile("utf-8 bom", b'\xef\xbb\xbf{"content": "x"}', reason="invalid_json", says="BOM"),
        Hostile("utf-16", '{"content": "x"}'.encode("utf-16"), reason="invalid_utf8"),
        Hostile("whitespace", b" \n\t ", reason="invalid_json", says="empty"),
        Hostile("NUL byte", b"\x00", reason="invalid_json"),
        Hostile("truncated json", b'{"content": "unterminated', reason="invalid_json"),
        Hostile("two documents", document("a") + document("b"), reason="invalid_json"),
        Hostile("NaN literal", b'{"content": "x", "metadata": {"n": NaN}}', reason="invalid_json"),
        Hostile(
            "Infinity", b'{"content": "x", "metadata": {"n": Infinity}}', reason="invalid_json"
        ),
        Hostile("1e400", b'{"content": "x", "metadata": {"n": 1e400}}', reason="invalid_json"),
        Hostile(
            "400-digit integer",
            b'{"content": "x", "metadata": {"n": ' + b"9" * 400 + b"}}",
            reason="invalid_json",
        ),
        Hostile("lone surrogate", b'{"content": "a\\ud800b"}', reason="invalid_json"),
        Hostile("lone low surrogate", b'{"content": "\\udc00"}', reason="invalid_json"),
        Hostile(
            "array nested 100k", b"[" * DEEP + b"]" * DEEP, reason="invalid_json", says="depth"
        ),
        Hostile(
            "object nested 100k",
            b'{"content": "x", "metadata": ' + b'{"":' * DEEP + b"1" + b"}" * DEEP + b"}",
            reason="invalid_json",
            says="depth",
        ),
        Hostile(
            "over the message limit",
            document("x" * too_large),
            reason="message_too_large",
            says=str(settings.max_message_bytes),
        ),
        Hostile(
            "just under the broker's limit",
            document("y" * (just_under_broker - len(document("")))),
            reason="message_too_large",
        ),
    ]


def _shape_cases(settings: IngestSettings, run: str) -> list[Hostile]:
    # Just under the message limit, all of it metadata: parsed in full, then refused.
    many_keys = {f"k{i}": i for i in range(settings.max_message_bytes // 16)}
    return [
        Hostile("json array", b'[{"content": "x"}]', reason="validation_error", says="object"),
        Hostile("json string", b'"content"', reason="validation_error", says="object"),
        Hostile("json number", b"42", reason="validation_error", says="object"),
        Hostile("json null", b"null", reason="validation_error", says="object"),
        Hostile("json true", b"true", reason="validation_error", says="object"),
        Hostile("no content", b'{"title": "t"}', reason="validation_error", says="content"),
        Hostile("content a number", b'{"content": 5}', reason="validation_error", says="content"),
        Hostile("content an object", b'{"content": {}}', reason="validation_error"),
        Hostile("unknown field", document("x", id="abc"), reason="validation_error", says="id"),
        Hostile(
            "unknown content type",
            document("x", content_type="application/pdf"),
            reason="validation_error",
            says="content_type",
        ),
        Hostile(
            "metadata a list",
            document("x", metadata={"a": [1]}),
            reason="validation_error",
            says="metadata",
        ),
        Hostile("metadata a string", document("x", metadata="a"), reason="validation_error"),
        Hostile(
            "metadata key with a dot",
            document("x", metadata={"a.b": 1}),
            reason="invalid_metadata_key",
        ),
        Hostile(
            "metadata key $",
            document("x", metadata={"$where": 1}),
            reason="invalid_metadata_key",
        ),
        Hostile(
            "metadata 64-bit overflow",
            b'{"content": "x", "metadata": {"n": 9223372036854775808}}',
            reason="invalid_metadata",
            says="64-bit",
        ),
        Hostile(
            "a message of metadata keys",
            document("x", metadata=many_keys),
            reason="metadata_too_large",
            says=str(len(many_keys)),
        ),
        Hostile(
            "a message of unknown fields",
            orjson.dumps({f"f{i}": 1 for i in range(len(many_keys))}),
            reason="validation_error",
            says=f"{len(many_keys)} unknown field(s): 'f0'",
        ),
        Hostile(
            "too many metadata keys",
            document("x", metadata={f"k{i}": i for i in range(settings.max_metadata_keys + 1)}),
            reason="metadata_too_large",
        ),
        Hostile(
            "content over the limit",
            document("z" * (settings.max_content_chars + 1)),
            reason="content_too_large",
            says=str(settings.max_content_chars),
        ),
        Hostile("content only NUL", b'{"content": "\\u0000\\u0000"}', reason="empty_content"),
        Hostile("content empty", document(""), reason="empty_content"),
        Hostile(
            "title too long",
            document("x", title="t" * (settings.max_title_chars * 10)),
            reason="field_too_long",
        ),
        Hostile("tenant path", document("x", tenant_id="../admin"), reason="invalid_tenant"),
        Hostile("tenant upper-case", document("x", tenant_id="ACME"), reason="invalid_tenant"),
        Hostile("tenant empty", document("x", tenant_id=""), reason="invalid_tenant"),
        Hostile(
            "tenant NUL", b'{"content": "x", "tenant_id": "a\\u0000"}', reason="invalid_tenant"
        ),
        Hostile("tenant 64 chars", document("x", tenant_id="a" * 64), reason="invalid_tenant"),
        Hostile("tenant a number", document("x", tenant_id=7), reason="validation_error"),
        # Accepted as they are: the last duplicate key wins (as in every common JSON parser).
        Hostile("duplicate keys", b'{"content": "lost", "content": "dup %b"}' % run.encode()),
        Hostile(
            "NUL in fields",
            orjson.dumps(
                {
                    "content": f"nul \u0000 {run}",
                    "title": "a\u0000b",
                    "metadata": {"k\u0000": "v\u0000"},
                }
            ),
        ),
        Hostile("surrogate pair", b'{"content": "\\ud83d\\ude00 %b"}' % run.encode()),
    ]


def _envelope_cases(run: str) -> list[Hostile]:
    """Valid documents in hostile envelopes: keys and headers are never the message's fault."""

    def ok(case: str, **envelope: Any) -> Hostile:
        return Hostile(case, document(f"{case} {run}"), **envelope)

    garbage = random.Random(2)
    return [
        ok("key not utf-8", key=b"\xff\xfe\x00"),
        ok("key disagrees with the body", key=b"4b1d0c0ffee0c0ffee0c0ffee0c0ffee"),
        ok("enormous key", key=b"k" * 100_000),
        ok("header not utf-8", headers=(("x-request-id", b"\xff\xfe"),)),
        ok("traceparent garbage", headers=(("traceparent", b"00-zz-zz-01"),)),
        ok("traceparent not utf-8", headers=(("traceparent", garbage.randbytes(55)),)),
        ok("traceparent enormous", headers=(("traceparent", b"00-" + b"f" * 200_000),)),
        ok(
            "traceparent all zero",
            headers=(("traceparent", b"00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-01"),),
        ),
        ok(
            "tracestate enormous",
            headers=(
                ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
                ("tracestate", b",".join(b"k%d=%s" % (i, b"v" * 200) for i in range(2000))),
            ),
        ),
        ok("hundreds of headers", headers=tuple((f"h{i}", b"v" * 64) for i in range(500))),
        ok(
            "duplicate header names",
            headers=(
                ("x-request-id", b"first"),
                ("x-request-id", b"second"),
                ("traceparent", b"bad"),
                ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            ),
        ),
        ok("header empty value", headers=(("x-request-id", b""), ("traceparent", b""))),
        ok("header null value", headers=(("x-request-id", None), ("traceparent", None))),
        ok("request id injection", headers=(("x-request-id", b"a\r\nb: c" + b"x" * 5000),)),
        ok("header name odd", headers=(("", b"v"), ("\u00e9\u0000", b"v"))),
    ]


def random_messages(seed: int, count: int, settings: IngestSettings) -> Iterator[Hostile]:
    """`count` random messages; their reason is left to `predicted`."""
    rng = random.Random(seed)
    mutations = (_random_bytes, _flipped, _truncated, _wrong_shape, _odd_strings, _odd_fields)
    for index in range(count):
        mutate = rng.choice(mutations)
        yield Hostile(
            f"random {seed}/{index} {mutate.__name__.strip('_')}",
            mutate(rng, f"{seed}-{index}", settings),
            key=_random_key(rng),
            headers=_random_headers(rng),
        )


def _valid(rng: random.Random, tag: str) -> dict[str, Any]:
    body: dict[str, Any] = {"content": f"random document {tag} {rng.random()}"}
    for name, value in (
        ("title", "Title"),
        ("source", "erp"),
        ("external_id", tag),
        ("content_type", rng.choice(["text/plain", "text/markdown", "text/html"])),
        ("metadata", {"team": "ops", "n": rng.randint(-5, 5), "ok": True, "f": 0.5}),
        ("tenant_id", rng.choice(["default", "acme", "t-1"])),
    ):
        if rng.random() < 0.5:
            body[name] = value
    return body


def _random_bytes(rng: random.Random, tag: str, settings: IngestSettings) -> bytes:
    return rng.randbytes(rng.choice([1, 2, 16, 300, 4000]))


def _flipped(rng: random.Random, tag: str, settings: IngestSettings) -> bytes:
    value = bytearray(orjson.dumps(_valid(rng, tag)))
    for _ in range(rng.randint(1, 4)):
        value[rng.randrange(len(value))] = rng.randrange(256)
    return bytes(value)


def _truncated(rng: random.Random, tag: str, settings: IngestSettings) -> bytes:
    value = orjson.dumps(_valid(rng, tag))
    return value[: rng.randrange(len(value))]


def _wrong_shape(rng: random.Random, tag: str, settings: IngestSettings) -> bytes:
    body = _valid(rng, tag)
    name = rng.choice(["content", "title", "metadata", "tenant_id", "content_type", "extra"])
    body[name] = _random_json(rng, depth=rng.randint(0, 6))
    return orjson.dumps(body)


def _random_json(rng: random.Random, *, depth: int) -> Any:
    scalars: list[Any] = [None, True, 0, -1, 2**63, 1.5, "", "s", "\u0000", "\U0001f600"]
    if depth <= 0:
        return rng.choice(scalars)
    if rng.random() < 0.5:
        return [_random_json(rng, depth=depth - 1) for _ in range(rng.randint(0, 3))]
    return {
        rng.choice(["a", "$a", "a.b", "", "\u0000"]): _random_json(rng, depth=depth - 1)
        for _ in range(rng.randint(0, 3))
    }


_ODD = [
    "\\u0000",
    "\\ud800",
    "\\udfff",
    "\\ud83d\\ude00",
    "\\u202e",
    "\\ufeff",
    "\\u0007",
    "\\\\",
    '\\"',
]


def _odd_strings(rng: random.Random, tag: str, settings: IngestSettings) -> bytes:
    """JSON text with escapes a parser or a store may choke on, in any string field."""
    odd = "".join(rng.choice(_ODD) for _ in range(rng.randint(1, 6)))
    name = rng.choice(["content", "title", "source", "tenant_id"])
    body = _valid(rng, tag)
    body[name] = "@ODD@"
    return orjson.dumps(body).replace(b"@ODD@", f"{odd} {tag}".encode())


def _odd_fields(rng: random.Random, tag: str, settings: IngestSettings) -> bytes:
    body = _valid(rng, tag)
    choice = rng.randrange(4)
    if choice == 0:
        size = rng.choice([settings.max_content_chars, settings.max_content_chars + 1])
        body["content"] = tag + "x" * (size - len(tag))
    elif choice == 1:
        body["tenant_id"] = rng.choice(["", "A", "a" * 63, "a" * 64, "-a", "a b", "\u00e9"])
    elif choice == 2:
        body["metadata"] = {rng.choice(["k", "k.k", "$k", " ", "k" * 65]): rng.choice([1, "v"])}
    else:
        body["title"] = "t" * rng.choice([settings.max_title_chars, settings.max_title_chars + 1])
    return orjson.dumps(body)


def _random_key(rng: random.Random) -> bytes | None:
    return rng.choice([None, b"", rng.randbytes(8), b"doc-1"])


def _random_headers(rng: random.Random) -> Headers:
    names = ["x-request-id", "traceparent", "tracestate", "content-type", "h"]
    sizes = [None, 0, 1, 55, 600]  # None: a null value, which Kafka allows
    headers: list[tuple[str, bytes | None]] = []
    for _ in range(rng.choice([0, 0, 1, 3, 40])):
        size = rng.choice(sizes)
        headers.append((rng.choice(names), None if size is None else rng.randbytes(size)))
    return tuple(headers)


@dataclass(frozen=True, slots=True)
class Verdict:
    reason: str | None  # `error.type` of its dead letter; None: stored
    identity: tuple[str, str] | None = None  # (tenant, content hash) of a stored document


def predicted(message: Hostile, settings: IngestSettings) -> Verdict:
    """What the consumer must make of a message, from the same pure rules it runs."""
    try:
        incoming = parse_incoming(message.value, settings=settings)
        prepared = prepare_document(
            incoming.document, tenant_id=incoming.tenant_id, settings=settings
        )
    except Rejected as rejected:
        return Verdict(rejected.code)
    except DocflowError as error:
        return Verdict(error.code)
    return Verdict(None, (prepared.tenant_id, prepared.content_hash))


# aiokafka's producers encode header names from `str`, so a name that is not UTF-8 (which a
# librdkafka producer can send) needs its pure-Python record builder and a `str` that encodes
# to other bytes; both only in a child process, to leave this one's aiokafka as it is.
_RAW_NAME_PRODUCER = """
import asyncio, sys
from aiokafka import AIOKafkaProducer

class RawName(str):
    def encode(self, *args, **kwargs):
        return bytes.fromhex(sys.argv[3])

async def main():
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9092", acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            sys.argv[1], sys.argv[2].encode(), headers=[(RawName("x"), b"v")], partition=0
        )
    finally:
        await producer.stop()
    print(sent.offset)

asyncio.run(main())
"""


def produce_with_raw_header_name(topic: str, value: bytes, name: bytes) -> int:
    """Send one message on partition 0 with a header named by `name`'s bytes; its offset."""
    done = subprocess.run(
        [sys.executable, "-c", _RAW_NAME_PRODUCER, topic, value.decode(), name.hex()],
        env={**os.environ, "AIOKAFKA_NO_EXTENSIONS": "1"},
        capture_output=True,
        check=True,
        timeout=60,
    )
    return int(done.stdout.split()[-1])
