"""/api/v1/flows and what emit schedules from them (SQLite and PostgreSQL)."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.db import transaction
from doorstep.flows import service as flow_service
from doorstep.flows.models import StoreFlow
from doorstep.jobs.models import Job
from tests.factories.orders import order_body
from tests.factories.stores import StoreWithKey

FLOWS = "/api/v1/flows"
VIP_SMS = {
    "trigger": "order.placed",
    "description": "VIPs hear by SMS, half an hour after ordering",
    "conditions": {"tags_any": ["vip"], "min_order_value_minor": 10000},
    "steps": [{"wait": "30m"}, {"send": ["sms", "email"]}],
    "exit_on": ["order.cancelled"],
}


def _jobs(factory: sessionmaker[Session], store_id: int) -> dict[str, Job]:
    with transaction(factory) as session:
        rows = {j.key: j for j in session.scalars(select(Job).where(Job.store_id == store_id))}
        session.expunge_all()
        return rows


def _order(client: TestClient, store: StoreWithKey, n: int, **overrides: Any) -> str:
    response = client.post("/api/v1/orders", json=order_body(n, **overrides), headers=store.headers)
    assert response.status_code == 201, response.text
    order_id: str = response.json()["id"]
    return order_id


def test_the_defaults_are_listed_until_a_store_saves_its_own(client: TestClient, store: StoreWithKey) -> None:
    listed = client.get(FLOWS, headers=store.headers).json()["data"]
    assert len(listed) == 20  # 11 order and parcel flows, 9 return and claim flows
    assert {f["source"] for f in listed} == {"default"}

    saved = client.put(f"{FLOWS}/order-confirmed", json=VIP_SMS, headers=store.headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["source"] == "store"
    shown = client.get(f"{FLOWS}/order-confirmed", headers=store.headers).json()
    assert shown["definition"]["conditions"]["tags_any"] == ["vip"]
    assert shown["definition"]["steps"][0] == {"wait": "30m"}

    assert client.delete(f"{FLOWS}/order-confirmed", headers=store.headers).status_code == 204
    assert client.get(f"{FLOWS}/order-confirmed", headers=store.headers).json()["source"] == "default"


def test_an_invalid_flow_is_a_problem_naming_the_field_and_the_fix(
    client: TestClient, store: StoreWithKey
) -> None:
    body = {**VIP_SMS, "steps": [{"send": ["pigeon"]}]}
    response = client.put(f"{FLOWS}/order-confirmed", json=body, headers=store.headers)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    [problem] = response.json()["errors"]
    assert problem["field"] == "body.steps.0.send"
    assert "pigeon" in problem["message"]
    assert "email" in problem["fix"]
    # Nothing was saved
    assert client.get(f"{FLOWS}/order-confirmed", headers=store.headers).json()["source"] == "default"


def test_a_step_naming_a_template_or_an_endpoint_that_does_not_exist_is_refused_at_save(
    client: TestClient, store: StoreWithKey, other_store: StoreWithKey
) -> None:
    # An endpoint of another store is as unknown here as one that was never created
    theirs = client.post(
        "/api/v1/webhooks", json={"url": "https://erp.example/a"}, headers=other_store.headers
    )
    assert theirs.status_code == 201, theirs.text
    body = {"trigger": "shipment.delayed", "steps": [
        {"send": ["email"], "template": "shipment.delayed"},
        {"send": ["sms"], "id": "second", "template": "shipment.dellayed"},
        {"webhook": theirs.json()["id"]},
    ]}  # fmt: skip
    response = client.put(f"{FLOWS}/late", json=body, headers=store.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    template, webhook = response.json()["errors"]
    assert template["field"] == "body.steps.1.template"
    assert "shipment.dellayed" in template["message"]
    assert "/api/v1/templates/defaults" in template["fix"]
    assert webhook["field"] == "body.steps.2.webhook"
    assert "POST /api/v1/webhooks" in webhook["fix"]
    assert client.get(f"{FLOWS}/late", headers=store.headers).status_code == 404  # nothing was saved


def test_a_flow_read_back_names_what_its_steps_point_at_that_no_longer_exists(
    client: TestClient, factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    # Given a flow calling an endpoint that is then deleted, and a row saved before templates were checked
    hook = client.post("/api/v1/webhooks", json={"url": "https://erp.example/a"}, headers=store.headers)
    assert hook.status_code == 201, hook.text
    body = {"trigger": "shipment.delayed", "steps": [{"send": ["email"]}, {"webhook": hook.json()["id"]}]}
    saved = client.put(f"{FLOWS}/late", json=body, headers=store.headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["problems"] == []
    assert client.delete(f"/api/v1/webhooks/{hook.json()['id']}", headers=store.headers).status_code == 204
    with transaction(factory) as session:
        session.add(StoreFlow(store_id=store.id, key="old", definition={
            "trigger": "order.placed", "steps": [{"send": ["email"], "template": "order.no_such_template"}],
        }))  # fmt: skip
    # When the flows are read back
    late = client.get(f"{FLOWS}/late", headers=store.headers).json()
    listed = {flow["key"]: flow for flow in client.get(FLOWS, headers=store.headers).json()["data"]}
    # Then each names its broken step, with the fix; the shipped defaults have none
    [webhook] = late["problems"]
    assert webhook["field"] == "definition.steps.1.webhook"
    assert hook.json()["id"] in webhook["message"]
    assert "POST /api/v1/webhooks" in webhook["fix"]
    assert listed["late"]["problems"] == late["problems"]
    [template] = listed["old"]["problems"]
    assert template["field"] == "definition.steps.0.template"
    assert "order.no_such_template" in template["message"]
    assert all(flow["problems"] == [] for key, flow in listed.items() if key not in ("late", "old"))


def test_a_stores_flow_is_invisible_to_other_stores(
    client: TestClient, store: StoreWithKey, other_store: StoreWithKey
) -> None:
    assert client.put(f"{FLOWS}/vip-sms", json=VIP_SMS, headers=store.headers).status_code == 200
    assert client.get(f"{FLOWS}/vip-sms", headers=other_store.headers).status_code == 404
    assert client.delete(f"{FLOWS}/vip-sms", headers=other_store.headers).status_code == 404
    assert len(client.get(FLOWS, headers=other_store.headers).json()["data"]) == 20


def test_emit_schedules_the_matching_flows_steps_in_the_same_transaction(
    client: TestClient, factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    # Given the store's own VIP flow beside the default confirmation
    assert client.put(f"{FLOWS}/vip-sms", json=VIP_SMS, headers=store.headers).status_code == 200
    # When a VIP order of 170.95 and a plain order are placed
    vip = _order(client, store, 1)
    plain = _order(client, store, 2, tags=[])
    jobs = _jobs(factory, store.id)
    # Then the VIP order has both flows' sends (the SMS one 30 minutes later), the plain order only the default
    confirm, vip_sms = jobs[f"msg:{vip}:order.placed:email"], jobs[f"msg:{vip}:order.placed:sms+email"]
    assert (vip_sms.run_at - confirm.run_at).total_seconds() >= 30 * 60 - 1
    assert vip_sms.args["flow"] == "vip-sms"
    assert vip_sms.args["step"] == 1
    assert vip_sms.lock is None
    assert f"msg:{plain}:order.placed:sms+email" not in jobs
    assert f"msg:{plain}:order.placed:email" in jobs
    # And one publication job per milestone
    assert sum(1 for key in jobs if key.startswith("pub:")) == 2


def test_a_disabled_flow_schedules_nothing(
    client: TestClient, factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    off = {"trigger": "order.placed", "enabled": False, "steps": [{"send": ["email"]}]}
    assert client.put(f"{FLOWS}/order-confirmed", json=off, headers=store.headers).status_code == 200
    order = _order(client, store, 3)
    assert f"msg:{order}:order.placed:email" not in _jobs(factory, store.id)


def test_history_records_milestones_and_writes_no_job(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    from datetime import UTC, datetime

    occurrence = flow_service.Occurrence(
        "order.placed", "ord_history1", "ord_history1", datetime(2018, 5, 1, tzinfo=UTC)
    )
    with transaction(factory) as session:
        assert flow_service.emit(session, store_id=store.id, occurrences=[occurrence], historical=True) == [
            "order.placed"
        ]
        assert flow_service.record_history(
            session, store_id=store.id,
            occurrences=[flow_service.Occurrence("order.placed", "ord_history2", "ord_history2", occurrence.occurred_at)],
        ) == 1  # fmt: skip
    assert _jobs(factory, store.id) == {}


def test_a_webhook_step_enqueues_one_signed_delivery_per_milestone_and_endpoint(
    client: TestClient, factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    created = client.post(
        "/api/v1/webhooks", json={"url": "https://erp.example/hooks"}, headers=store.headers
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()["id"]
    flow = {"trigger": "order.placed", "steps": [{"wait": "5m"}, {"webhook": endpoint}]}
    assert client.put(f"{FLOWS}/erp", json=flow, headers=store.headers).status_code == 200
    order = _order(client, store, 4)
    deliveries = [j for j in _jobs(factory, store.id).values() if j.kind == "webhook.deliver"]
    assert len(deliveries) == 1
    [job] = deliveries
    event_id = job.args["milestone_event_id"]
    assert job.args == {"milestone_event_id": event_id, "endpoint_id": endpoint}
    assert job.key == f"webhook.deliver:{event_id}:{endpoint}"
    assert event_id.startswith("ms_")
    assert f"msg:{order}:order.placed:email" in _jobs(factory, store.id)
