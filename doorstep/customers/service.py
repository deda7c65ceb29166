"""Customers: the only writer of customers and customer_consents."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.core import clock, ids
from doorstep.core.errors import Conflict, FieldProblem, NotFound
from doorstep.core.tenancy import scoped
from doorstep.customers.commands import UpsertCustomer
from doorstep.customers.models import Consent, Customer


def get_customer(session: Session, *, store_id: int, customer_id: str) -> Customer:
    stmt = scoped(select(Customer), Customer, store_id).where(Customer.public_id == customer_id)
    customer = session.scalars(stmt).one_or_none()
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    return customer


def _find(session: Session, store_id: int, cmd: UpsertCustomer) -> Customer | None:
    # A phone identifies the shopper only when no e-mail was sent: households share phones, and matching
    # on it would merge two shoppers and overwrite the first one's e-mail.
    keys = [(Customer.external_id, cmd.external_id), (Customer.email, cmd.email)]
    if cmd.email is None:
        keys.append((Customer.phone, cmd.phone))
    for column, value in keys:
        if value:
            found = session.scalars(
                scoped(select(Customer), Customer, store_id).where(column == value)
            ).first()
            if found is not None:
                return found
    return None


def upsert_customer(session: Session, *, store_id: int, cmd: UpsertCustomer) -> Customer:
    """Find the shopper by external id, e-mail or phone and update what was sent; create otherwise."""
    customer = _find(session, store_id, cmd)
    if customer is None:
        customer = Customer(public_id=ids.new_id("cus"), store_id=store_id, preferences={})
        session.add(customer)
    elif cmd.email and cmd.email != customer.email:
        owner = session.scalars(
            scoped(select(Customer), Customer, store_id).where(Customer.email == cmd.email)
        ).first()
        if owner is not None and owner.id != customer.id:
            raise Conflict(
                f"e-mail {cmd.email} belongs to another customer ({owner.public_id}) than external_id "
                f"{cmd.external_id!r}; send that customer's external_id, or a different e-mail",
                problems=[
                    FieldProblem(
                        "customer.email", "belongs to another customer", "send the matching external_id"
                    )
                ],
            )
    for attr, value in (
        ("external_id", cmd.external_id),
        ("email", cmd.email),
        ("phone", cmd.phone),
        ("first_name", cmd.first_name),
        ("last_name", cmd.last_name),
        ("locale", cmd.locale),
        ("timezone", cmd.timezone),
        ("birthday_on", cmd.birthday),
    ):
        if value is not None:
            setattr(customer, attr, value)
    if cmd.preferences is not None:
        customer.preferences = cmd.preferences.model_dump(mode="json")
    now = clock.now()
    by_channel = {c.channel: c for c in customer.consents}
    for consent in cmd.consents:
        recorded_at = clock.as_utc(consent.recorded_at) if consent.recorded_at else now
        current = by_channel.get(consent.channel)
        if current is None:
            current = Consent(store_id=store_id, channel=consent.channel)
            customer.consents.append(current)
            by_channel[consent.channel] = current
        elif clock.ensure_aware(current.recorded_at) > recorded_at:
            continue  # an older statement never overrides a newer one
        current.is_granted = consent.granted
        current.source = consent.source
        current.recorded_at = recorded_at
    session.flush()
    return customer
