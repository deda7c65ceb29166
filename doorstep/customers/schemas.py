from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from doorstep.customers.models import Customer


class ConsentRead(BaseModel):
    channel: str
    granted: bool
    source: str
    recorded_at: datetime


class CustomerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    external_id: str | None
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    locale: str | None
    timezone: str | None
    birthday: date | None
    consents: list[ConsentRead]
    preferences: dict[str, object]

    @classmethod
    def of(cls, customer: Customer) -> "CustomerRead":
        return cls(
            id=customer.public_id,
            external_id=customer.external_id,
            email=customer.email,
            phone=customer.phone,
            first_name=customer.first_name,
            last_name=customer.last_name,
            locale=customer.locale,
            timezone=customer.timezone,
            birthday=customer.birthday_on,
            consents=[
                ConsentRead(
                    channel=c.channel, granted=c.is_granted, source=c.source, recorded_at=c.recorded_at
                )
                for c in customer.consents
            ],
            preferences=dict(customer.preferences),
        )
