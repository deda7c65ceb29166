"""The contract every tracking source keeps (STYLE.md, "Adding an adapter in one file"), over registry.SOURCES.

For every source: it is registered under its own name; each raw code of its ``STATUS_MAP`` appears once
and maps to a valid (status, substatus) pair; ``parse`` is deterministic on every real payload of its
provider (shared/data) and on this suite's own payloads, so replaying a payload changes nothing; every
checkpoint time is timezone-aware; a body in no provider's format is a ``ValueError``; an unsigned
request is refused.
"""

import ast
import inspect
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from doorstep.integrations.tracking import registry
from doorstep.integrations.tracking.common import UNKNOWN_FALLBACK
from doorstep.integrations.tracking.protocol import Delivery, Parsed, TrackingSource, Unsupported
from doorstep.shipments.status import Status, Substatus, is_valid_pair

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared" / "data" / "carrier-tracking"
OWN = ROOT / "tests" / "payloads" / "tracking"

# Each source's folder of real payloads under shared/data/carrier-tracking; None when it has none.
PAYLOAD_FOLDERS: dict[str, str | None] = {
    "easypost": "easypost",
    "aftership": "aftership",
    "shippo": "shippo",
    "seventeentrack": "17track",
    "ups": "ups",
    "fedex": "fedex",
    "usps": "usps",
    "dhl": "dhl",
    "simulated": None,  # it generates its own payloads
}
NOT_PAYLOADS = frozenset({"SOURCES.md", "easypost_examples__webhook_signature_fixture.json"})


def _payloads(name: str) -> list[Path]:
    folder = PAYLOAD_FOLDERS.get(name)
    real = sorted(SHARED.joinpath(folder).iterdir()) if folder and SHARED.joinpath(folder).is_dir() else []
    own = sorted(OWN.joinpath(name).iterdir()) if OWN.joinpath(name).is_dir() else []
    return [p for p in (*real, *own) if p.is_file() and p.name not in NOT_PAYLOADS]


def _cases() -> list[object]:
    cases: list[object] = [
        pytest.param(name, path, id=f"{name}/{path.name}")
        for name in registry.SOURCES
        for path in _payloads(name)
    ]
    if not SHARED.is_dir():
        cases.append(
            pytest.param(None, None, marks=pytest.mark.skip(reason=f"shared payloads not found at {SHARED}"))
        )
    return cases


def test_every_source_declares_where_its_real_payloads_are() -> None:
    undeclared = sorted(set(registry.SOURCES) - set(PAYLOAD_FOLDERS))
    assert undeclared == [], f"add these sources to PAYLOAD_FOLDERS in {Path(__file__).name}: {undeclared}"


@pytest.mark.parametrize("name", list(registry.SOURCES))
def test_source_is_registered_under_its_own_name(name: str) -> None:
    source = registry.SOURCES[name]
    assert source.name == name
    assert registry.get(name) is source
    assert source.title.strip()
    assert source.delivery in set(Delivery)
    assert issubclass(source.config_model, BaseModel)


@pytest.mark.parametrize("name", list(registry.SOURCES))
def test_each_raw_code_appears_once_and_maps_to_a_valid_pair(name: str) -> None:
    source = registry.SOURCES[name]
    normalised = [code.strip().lower() for code in source.status_map]
    assert sorted(c for c in set(normalised) if normalised.count(c) > 1) == []
    assert all(code.strip() for code in source.status_map)
    for code, mapped in source.status_map.items():
        status, substatus = mapped
        assert isinstance(status, Status), code
        assert substatus is None or isinstance(substatus, Substatus), code
        assert is_valid_pair(status, substatus), f"{code}: {status}/{substatus}"
    # A dict literal silently keeps the last of two equal keys: read the module's source too.
    assert _literal_duplicates(source) == []


def _literal_duplicates(source: TrackingSource) -> list[str]:
    module = inspect.getmodule(type(source))
    assert module is not None
    tree = ast.parse(inspect.getsource(module))
    duplicates: list[str] = []
    for node in ast.walk(tree):
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id == "STATUS_MAP" and isinstance(value, ast.Dict):
            keys = [k.value for k in value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
            duplicates += sorted({k for k in keys if keys.count(k) > 1})
    return duplicates


def test_the_unknown_fallback_is_never_a_silent_in_transit() -> None:
    assert UNKNOWN_FALLBACK[0] is not Status.in_transit
    assert is_valid_pair(*UNKNOWN_FALLBACK)


def _outcome(source: TrackingSource, body: bytes) -> Parsed | tuple[str, str]:
    try:
        return source.parse(body)
    except (ValueError, Unsupported) as exc:  # a payload of another of the provider's APIs
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize(("name", "path"), _cases())
def test_parse_is_deterministic_and_every_time_is_aware(name: str, path: Path) -> None:
    source = registry.SOURCES[name]
    body = path.read_bytes()
    first, second = _outcome(source, body), _outcome(source, body)
    assert first == second
    if isinstance(first, Parsed):
        for update in first.updates:
            for checkpoint in update.checkpoints:
                assert checkpoint.occurred_at.tzinfo is not None
                assert checkpoint.occurred_at.utcoffset() is not None
                assert is_valid_pair(checkpoint.status, checkpoint.substatus)


@pytest.mark.parametrize("name", list(registry.SOURCES))
def test_a_body_in_no_providers_format_is_a_value_error(name: str) -> None:
    with pytest.raises(ValueError):  # the protocol's documented error, whatever its text
        registry.SOURCES[name].parse(b"\x00 not a payload")


@pytest.mark.parametrize("name", list(registry.SOURCES))
def test_an_unsigned_request_is_refused(name: str) -> None:
    source = registry.SOURCES[name]
    values = {
        field: SecretStr("contract-test-secret-0123456789")
        for field, info in source.config_model.model_fields.items()
        if info.annotation is SecretStr or "SecretStr" in str(info.annotation)
    }
    config = source.config_model.model_construct(**values)
    assert source.verify({}, b"{}", config) is False
    assert source.verify({"content-type": "application/json"}, b'{"event": "x"}', config) is False
