"""Import rules R1-R5 and house rules from STYLE.md, checked on the source tree with the ast module."""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "doorstep"
DOMAINS = (
    "stores",
    "customers",
    "orders",
    "shipments",
    "returns",
    "reviews",
    "surveys",
    "loyalty",
    "lifecycle",
    "support",
)


def _modules() -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        yield dotted, path, ast.parse(path.read_text(), filename=str(path))


def _imports(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _violations(rule: str) -> list[str]:
    found: list[str] = []
    for module, _, tree in _modules():
        parts = module.split(".")
        for target in set(_imports(tree)):
            if not target.startswith("doorstep"):
                if (
                    rule == "R3"
                    and module.endswith(".service")
                    and target.split(".")[0] in ("fastapi", "starlette")
                ):
                    found.append(f"{module} imports {target}")
                continue
            t = target.split(".")
            if rule == "R1" and parts[1] == "core" and t[1:2] != ["core"] and len(t) > 1:
                found.append(f"{module} imports {target}")
            if rule == "R2" and parts[1] == "integrations":
                allowed = (
                    t[1:2] in (["core"], ["milestones"], ["integrations"])
                    or (len(t) >= 3 and t[2] == "commands")
                    or t[1:3] == ["shipments", "status"]
                    or len(t) == 2
                )
                if not allowed:
                    found.append(f"{module} imports {target}")
            if rule == "R3" and module.endswith(".service") and t[1:2] in (["web"], ["portal"], ["admin"]):
                found.append(f"{module} imports {target}")
            if (
                rule == "R4"
                and parts[1] in DOMAINS
                and t[1:2] in (["inbound"], ["messaging"], ["portal"], ["admin"], ["cli"], ["app"])
            ):
                found.append(f"{module} imports {target}")
            in_flows = parts[1] == "flows" or module == "doorstep.jobs.queue"
            if rule == "R5" and in_flows and len(t) >= 3 and t[1] in DOMAINS and t[2] == "service":
                found.append(f"{module} imports {target}")
    return sorted(set(found))


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param("R1", id="R1-core-imports-nothing-else"),
        pytest.param("R2", id="R2-integrations-import-only-contracts"),
        pytest.param("R3", id="R3-services-know-no-http"),
        pytest.param("R4", id="R4-domains-point-downwards"),
        pytest.param("R5", id="R5-flows-and-queue-carry-ids"),
    ],
)
def test_import_rule(rule: str) -> None:
    assert _violations(rule) == []


def _calls(tree: ast.Module) -> Iterator[ast.Call]:
    yield from (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def test_only_db_py_commits() -> None:
    offenders = [
        f"{module}:{call.lineno}"
        for module, _, tree in _modules()
        for call in _calls(tree)
        if _name(call.func) == "commit" and module != "doorstep.db"
    ]
    assert offenders == []


def test_no_f_string_sql() -> None:
    offenders = [
        f"{module}:{call.lineno}"
        for module, _, tree in _modules()
        for call in _calls(tree)
        if _name(call.func) in ("text", "exec_driver_sql", "execute")
        and call.args
        and isinstance(call.args[0], ast.JoinedStr)
    ]
    assert offenders == []


def test_no_markup_from_f_strings() -> None:
    offenders = [
        f"{module}:{call.lineno}"
        for module, _, tree in _modules()
        for call in _calls(tree)
        if _name(call.func) == "Markup" and call.args and isinstance(call.args[0], ast.JoinedStr)
    ]
    assert offenders == []


def test_no_http_clients_in_services() -> None:
    offenders = [
        f"{module} imports {target}"
        for module, _, tree in _modules()
        if module.endswith(".service")
        for target in _imports(tree)
        if target.split(".")[0] in ("httpx", "requests", "urllib3", "smtplib", "aiosmtplib")
    ]
    assert offenders == []


def test_no_silent_broad_excepts() -> None:
    """`except Exception` must re-raise or record a reason (a return of a failure value counts)."""
    offenders: list[str] = []
    for module, _, tree in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ExceptHandler):
                continue
            broad = node.type is None or (
                isinstance(node.type, ast.Name) and node.type.id in ("Exception", "BaseException")
            )
            if not broad:
                continue
            body = ast.Module(body=node.body, type_ignores=[])
            handles = any(isinstance(n, ast.Raise | ast.Return) for n in ast.walk(body))
            if not handles:
                offenders.append(f"{module}:{node.lineno}")
    assert offenders == []


# Selects of tenant tables that are deliberately not store-scoped, each with its reason.
UNSCOPED_ALLOWED = {
    "doorstep.stores.service.list_stores": "operators list every store from the CLI",
    "doorstep.stores.service.get_store_by_slug": "resolves the tenant itself",
    "doorstep.stores.service.revoke_api_key": "operator CLI command addressed by key id",
    "doorstep.stores.service.authenticate": "resolves the tenant from its key",
    "doorstep.inbound.service._get_locked": "addressed by a public id the caller already resolved for a store",
    "doorstep.inbound.service.get_event": "scoped when a store is given (API); operator CLI otherwise",
    "doorstep.inbound.service.list_events": "scoped when a store is given (API); operator CLI otherwise",
    "doorstep.inbound.service.rejected_ids": "scoped when a store is given; operator CLI otherwise",
    "doorstep.shipments.service.due_for_polling": "the poller works across stores, then per store and source",
    "doorstep.stores.service.get_store_by_hostname": "resolves the tenant from a custom domain",
    "doorstep.stores.service.get_store_by_public_id": "resolves the tenant from a public theme URL",
    "doorstep.orders.service.get_by_status_token": "resolves the tenant from the shopper's random link token",
    "doorstep.orders.service.status_page_fingerprint": "resolves the tenant from the shopper's random link token",
    "doorstep.orders.service._fingerprint_statement": "builds status_page_fingerprint's token lookup once",
    "doorstep.outbox.service.list_messages": "scoped when a store is given; the local dev outbox shows every store",
    "doorstep.outbox.service.get_message": "scoped when a store is given; the local dev outbox shows every store",
    "doorstep.messaging.service.find_by_public_id": "resolves the tenant from a signed engagement link",
    "doorstep.returns.service.get_by_token": "resolves the tenant from the shopper's random return link token",
    "doorstep.messaging.service._insert_claims_pg": "INSERT … RETURNING of the rows it writes with the batch's store",
}


def test_every_select_in_a_service_is_store_scoped() -> None:
    offenders: list[str] = []
    for module, _, tree in _modules():
        if not module.endswith(".service"):
            continue
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            scoped_selects = {
                id(arg)
                for call in _calls(ast.Module(body=function.body, type_ignores=[]))
                if _name(call.func) == "scoped"
                for arg in call.args[:1]
            }
            for call in _calls(ast.Module(body=function.body, type_ignores=[])):
                if _name(call.func) == "select" and id(call) not in scoped_selects:
                    qualified = f"{module}.{function.name}"
                    if qualified not in UNSCOPED_ALLOWED:
                        offenders.append(f"{qualified}:{call.lineno}")
    assert offenders == []


def test_migrations_import_no_app_code() -> None:
    offenders = [
        f"{path.name} imports {target}"
        for path in sorted((ROOT / "migrations" / "versions").glob("*.py"))
        for target in _imports(ast.parse(path.read_text()))
        if target.startswith("doorstep")
    ]
    assert offenders == []
