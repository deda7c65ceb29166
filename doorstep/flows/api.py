"""/api/v1/flows: the store's notification flows (defaults plus its own versions), as data."""

from typing import Annotated

from fastapi import APIRouter, Path, Response
from sqlalchemy.orm import Session

from doorstep.db import transaction
from doorstep.flows import service as flow_service
from doorstep.flows.schemas import FlowDefinition, FlowList, FlowProblem, FlowRead
from doorstep.web.deps import CurrentStore, Db

router = APIRouter(prefix="/flows", tags=["flows"])

FlowKeyPath = Annotated[
    str, Path(pattern=r"^[a-z0-9_.-]{1,64}$", description="The flow's key, e.g. shipped.")
]


def _read(session: Session, store_id: int, flow: flow_service.Flow) -> FlowRead:
    updated = flow.updated_at.isoformat() if flow.updated_at else None
    problems = [
        FlowProblem(field=p.field, message=p.message, fix=p.fix)
        for p in flow_service.reference_problems(session, store_id, flow.definition)
    ]
    return FlowRead(
        key=flow.key, source=flow.source, definition=flow.definition, updated_at=updated, problems=problems
    )


@router.get("", response_model_exclude_none=True)
def list_flows(db: Db, store: CurrentStore) -> FlowList:
    """Every flow the store runs: shipped defaults and its own versions (``source`` says which)."""
    with transaction(db) as session:
        return FlowList(
            data=[_read(session, store.id, f) for f in flow_service.list_flows(session, store_id=store.id)]
        )


@router.get("/{key}", response_model_exclude_none=True)
def get_flow(key: FlowKeyPath, db: Db, store: CurrentStore) -> FlowRead:
    """One flow by key."""
    with transaction(db) as session:
        return _read(session, store.id, flow_service.get_flow(session, store_id=store.id, key=key))


@router.put("/{key}", response_model_exclude_none=True)
def put_flow(key: FlowKeyPath, definition: FlowDefinition, db: Db, store: CurrentStore) -> FlowRead:
    """Save the store's own version of a flow (replaces the default with this key, or adds a flow).
    Invalid flows are refused with a problem naming each field and its fix; nothing is saved."""
    with transaction(db) as session:
        flow = flow_service.put_flow(session, store_id=store.id, key=key, definition=definition)
        return _read(session, store.id, flow)


@router.delete("/{key}", status_code=204)
def reset_flow(key: FlowKeyPath, db: Db, store: CurrentStore) -> Response:
    """Drop the store's own version: the shipped default with this key (if any) applies again."""
    with transaction(db) as session:
        flow_service.reset_flow(session, store_id=store.id, key=key)
    return Response(status_code=204)
