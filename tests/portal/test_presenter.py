"""The tracking page's view model, from plain facts, without HTTP."""

from datetime import UTC, date, datetime

import pytest

from doorstep.portal import i18n, presenter
from doorstep.portal.presenter import OrderFact, ParcelFact, ScanFact

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a Monday
TODAY_8AM = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # 8:00 in New York, the day of NOW
EN = i18n.lang("en", "America/New_York")
ES = i18n.lang("es", "America/Mexico_City")


def parcel(status: str, **fields: object) -> ParcelFact:
    scans = (
        ScanFact(datetime(2026, 11, 21, 14, 0, tzinfo=UTC), "in_transit", None, "Picked up", "Reno", "NV", None, "US"),
        ScanFact(fields.pop("latest_at", datetime(2026, 11, 22, 9, 30, tzinfo=UTC)), status,  # type: ignore[arg-type]
                 fields.pop("substatus", None), "Latest scan", "Brooklyn", "NY", "11215", "US"),
    )  # fmt: skip
    return ParcelFact(carrier="ups", tracking_number="1Z999AA10123456784", status=status, scans=scans,
                      substatus=scans[-1].substatus, **fields)  # type: ignore[arg-type]  # fmt: skip


def headline(p: ParcelFact, lang: i18n.Lang = EN) -> str:
    return presenter.derive_headline(p, lang, NOW.astimezone(lang.tz).date()).title


def test_in_transit_with_an_expected_date_says_the_weekday() -> None:
    assert headline(parcel("in_transit", expected_on=date(2026, 11, 26))) == "Arriving Thursday"
    assert headline(parcel("in_transit", expected_on=date(2026, 11, 26)), ES) == "Llega el jueves"


def test_today_and_tomorrow_are_words() -> None:
    assert headline(parcel("in_transit", expected_on=date(2026, 11, 24))) == "Arriving tomorrow"
    assert headline(parcel("out_for_delivery", latest_at=TODAY_8AM)) == "Arriving today"


def test_a_date_beyond_a_week_is_spelled_out() -> None:
    assert headline(parcel("in_transit", expected_on=date(2026, 12, 8))) == "Arriving Tuesday, December 8"


def test_delayed_says_the_new_day_and_why() -> None:
    p = parcel("in_transit", promised_on=date(2026, 11, 24), expected_on=date(2026, 11, 27), is_delayed=True)
    view = presenter.derive_headline(p, EN, date(2026, 11, 23))
    assert view.title == "Delayed — now expected Friday"
    assert "It was due Tuesday, November 24" in view.detail
    assert view.tone == "warn"


def test_a_carrier_date_past_the_promise_counts_as_delayed_even_before_the_sweep_flags_it() -> None:
    p = parcel("in_transit", promised_on=date(2026, 11, 24), expected_on=date(2026, 11, 25))
    assert headline(p).startswith("Delayed")


@pytest.mark.parametrize(
    ("substatus", "title"),
    [("damaged", "Your parcel was damaged"), ("customs_hold", "Held at customs"),
     ("address_issue", "There is a problem with the address"), (None, "There is a problem with your parcel")],
)  # fmt: skip
def test_exceptions_explain_themselves(substatus: str | None, title: str) -> None:
    assert headline(parcel("exception", substatus=substatus)) == title


def test_delivered_names_how() -> None:
    p = parcel("delivered", substatus="to_neighbour", delivered_at=datetime(2026, 11, 22, 18, tzinfo=UTC))
    view = presenter.derive_headline(p, EN, date(2026, 11, 23))
    assert (view.title, view.detail, view.tone) == ("Delivered yesterday", "Left with a neighbour.", "done")


def test_steps_mark_done_current_and_problem() -> None:
    states = [s.state for s in presenter.derive_steps("in_transit", EN)]
    assert states == ["done", "done", "current", "todo", "todo"]
    assert [s.state for s in presenter.derive_steps("delivered", EN)] == ["done"] * 5
    for waiting in ("pending", "info_received"):  # a label, no pickup scan yet: not "Shipped"
        assert [s.state for s in presenter.derive_steps(waiting, EN)] == ["current"] + ["todo"] * 4
    assert [s.state for s in presenter.derive_steps("exception", EN, frozenset({"shipped"}))][2] == "problem"
    pickup = presenter.derive_steps("available_for_pickup", EN)
    assert [s.label for s in pickup][3:] == ["Ready for pickup", "Picked up"]


def test_timeline_is_newest_first_in_the_shoppers_zone_and_language() -> None:
    entries = presenter.derive_timeline(parcel("in_transit").scans, ES)
    assert [e.label for e in entries] == ["En tránsito", "En tránsito"]
    assert entries[0].is_latest
    assert entries[0].place == "Brooklyn, NY, US"
    assert entries[0].time == "3:30"  # 09:30 UTC in Mexico City (UTC-6)
    assert entries[1].day == "sáb, 21 nov"


def test_expected_delivery_is_a_window_while_only_promised() -> None:
    label, value = presenter.derive_expected(
        parcel("in_transit", promised_on=date(2026, 11, 27)), EN, date(2026, 11, 23)
    )
    assert (label, value) == ("Estimated delivery", "Wed, Nov 25 \N{EN DASH} Fri, Nov 27")
    label, value = presenter.derive_expected(
        parcel("in_transit", expected_on=date(2026, 11, 26)), EN, date(2026, 11, 23)
    )
    assert (label, value) == ("Expected delivery", "Thursday, November 26")


def test_out_for_delivery_expects_today_whatever_date_the_carrier_gave_before() -> None:
    # The headline says "Arriving today"; an earlier estimate two days out must not contradict it
    for fields in ({"expected_on": date(2026, 11, 25)}, {"promised_on": date(2026, 11, 27)}, {}):
        on_the_van = parcel("out_for_delivery", latest_at=TODAY_8AM, **fields)
        label, value = presenter.derive_expected(on_the_van, EN, date(2026, 11, 23))
        assert (label, value) == ("Expected delivery", "Monday, November 23")


def test_out_for_delivery_since_an_earlier_day_says_so_rather_than_arriving_today() -> None:
    # Out on Sunday (the shopper's day), no scan since, and it is Monday: "today" would be a guess
    stale = parcel("out_for_delivery", expected_on=date(2026, 11, 24))
    view = presenter.derive_headline(stale, EN, date(2026, 11, 23))
    assert (view.title, view.tone) == ("Still out for delivery", "warn")
    assert view.detail == (
        "UPS took it out for delivery on Sunday, November 22 and has not scanned it since. "
        "We are keeping an eye on it."
    )
    assert headline(stale, ES) == "Sigue en reparto"
    assert presenter.derive_expected(stale, EN, date(2026, 11, 23)) == (
        "Expected delivery",
        "Tuesday, November 24",
    )


def test_address_is_partly_masked() -> None:
    lines = presenter.mask_address(
        {"name": "Ana Souza", "line1": "1 Main St", "city": "Austin", "region": "TX", "postal_code": "78704",
         "country": "us"}
    )  # fmt: skip
    assert lines == ("Ana S.", "1 M•••", "Austin TX 787••", "US")


def test_pickup_details_come_from_the_pickup_scan() -> None:
    view = presenter.present(OrderFact("#1", NOW, parcels=(parcel("available_for_pickup"),)), EN, NOW)
    assert view.parcels[0].pickup is not None
    assert view.parcels[0].pickup.place == "Brooklyn, NY, 11215, US"


def test_order_headline_is_the_most_urgent_parcel() -> None:
    order = OrderFact("#1", NOW, parcels=(parcel("delivered"), parcel("exception", substatus="lost")))
    view = presenter.present(order, EN, NOW)
    assert view.headline.title == "Your parcel may be lost"
    assert [p.title for p in view.parcels] == ["Parcel 1 of 2", "Parcel 2 of 2"]


def test_an_order_without_parcels_is_being_prepared() -> None:
    view = presenter.present(OrderFact("#1", NOW), EN, NOW)
    assert view.headline.title == "Order received"
    assert [s.state for s in view.steps] == ["current", "todo", "todo", "todo", "todo"]
