"""Carrier names, tracking-number detection (with check digits) and tracking pages."""

import pytest

from doorstep.shipments.carriers import detect, normalize, tracking_url


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("UPS", "ups"),
        ("United Parcel Service", "ups"),
        ("FedEx", "fedex"),
        ("Federal Express", "fedex"),
        ("FedEx Ground", "fedex"),
        ("USPS", "usps"),
        ("United States Postal Service", "usps"),
        ("U.S. Postal Service", "usps"),
        ("DHL", "dhl"),
        ("DHL Express", "dhl"),
        ("DHL eCommerce", "dhl-ecommerce"),
        ("DHL eCommerce Solutions", "dhl-ecommerce"),
        ("Canada Post", "canada-post"),
        ("Postes Canada", "canada-post"),
        ("canada-post", "canada-post"),
        ("Royal Mail", "royal-mail"),
        ("PostNL", "postnl"),
        ("4PX", "4px"),
        ("LaserShip", "lasership"),
        ("  ups  ", "ups"),
        ("Correos Express Portugal", "correos-express-portugal"),
        ("Ünïcode Colis", "unicode-colis"),
    ],
)
def test_normalize_turns_names_into_slugs(name: str, slug: str) -> None:
    assert normalize(name) == slug


@pytest.mark.parametrize("name", [None, "", "   ", "---"])
def test_normalize_of_nothing_is_none(name: str | None) -> None:
    assert normalize(name) is None


@pytest.mark.parametrize(
    ("number", "carriers"),
    [
        # UPS 1Z with its mod-10 check digit: UPS's documented sample and real numbers.
        ("1Z999AA10123456784", ["ups"]),
        ("1Z 999 AA1 01 2345 6784", ["ups"]),
        ("1z4189020353476816", ["ups"]),
        ("MI123456MA1234567890", ["ups"]),  # Mail Innovations: shape only
        # FedEx Express 12 digits (mod 11, weights 1 3 7) and Ground 15 digits (mod 10).
        ("776094337676", ["fedex"]),
        ("794887075005", ["fedex"]),
        ("403934084723025", ["fedex"]),
        ("449044304137821", ["fedex"]),
        # FedEx SmartPost: the USPS IMpb without its leading "92".
        ("61299998245239562042", ["fedex", "usps"]),
        # USPS IMpb 22 digits (GS1 mod 10), with and without the 420+ZIP routing prefix.
        ("9400109104250532908587", ["usps"]),
        ("9102901000462189604217", ["usps"]),
        ("420990169261299998245239562042", ["usps", "fedex", "dhl-ecommerce"]),
        # UPU S10 with its check digit: the issuing post from the country suffix.
        ("EA123456785US", ["usps"]),
        ("RR123456785GB", ["royal-mail"]),
        ("LX123456785CA", ["canada-post"]),
        ("RR123456785NL", ["postnl"]),
        # DHL Express 10-digit waybill (first nine digits mod 7) and a piece id.
        ("5082052334", ["dhl"]),
        ("2628987793", ["dhl"]),
        ("JD014600006281230704", ["dhl"]),
        # DHL eCommerce and Canada Post by shape.
        ("GM6051122700845103561", ["dhl-ecommerce"]),
        ("7023210039414604", ["canada-post"]),
    ],
)
def test_detect_finds_the_carrier(number: str, carriers: list[str]) -> None:
    assert detect(number) == carriers


def test_sample_numbers_from_carrier_docs_verify() -> None:
    # FedEx's and DHL's documented test numbers carry valid check digits.
    assert detect("123456789012") == ["fedex"]
    assert detect("7777777770") == ["dhl"]


@pytest.mark.parametrize(
    ("number", "carriers"),
    [
        ("1Z999AA10123456785", ["ups"]),  # wrong check digit: still the UPS shape, but unverified
        ("123456789013", ["fedex"]),
        ("EA123456784US", ["usps"]),
    ],
)
def test_a_wrong_check_digit_keeps_the_shape_match(number: str, carriers: list[str]) -> None:
    assert detect(number) == carriers


def test_a_shape_only_match_comes_after_a_verified_one() -> None:
    # 22 digits starting 96 with a valid last-15 check (FedEx Ground 96) and nothing else verified.
    number = "9612019" + "403934084723025"
    assert detect(number) == ["fedex"]
    # A 20-digit IMpb that also reads as a SmartPost number: the verified readings come first.
    assert detect("61299998245239562042")[0] == "fedex"


@pytest.mark.parametrize("number", ["", "hello", "12345", "ZZ123456785ZZ", "1Z99"])
def test_detect_finds_nothing_for_other_strings(number: str) -> None:
    assert detect(number) == []


@pytest.mark.parametrize(
    ("carrier", "number", "url"),
    [
        ("ups", "1Z999AA10123456784", "https://www.ups.com/track?tracknum=1Z999AA10123456784"),
        ("UPS", "1Z999AA10123456784", "https://www.ups.com/track?tracknum=1Z999AA10123456784"),
        ("fedex", "776094337676", "https://www.fedex.com/fedextrack/?trknbr=776094337676"),
        (
            "usps",
            "9400109104250532908587",
            "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400109104250532908587",
        ),
        (
            "dhl",
            "5082052334",
            "https://www.dhl.com/global-en/home/tracking/tracking-express.html?submit=1&tracking-id=5082052334",
        ),
        (
            "Canada Post",
            "7023210039414604",
            "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor=7023210039414604",
        ),
        (
            "royal-mail",
            "RR123456785GB",
            "https://www.royalmail.com/track-your-item#/tracking-results/RR123456785GB",
        ),
        ("postnl", "3SABCD1234567", "https://jouw.postnl.nl/track-and-trace/3SABCD1234567"),
    ],
)
def test_tracking_url_is_the_public_page(carrier: str, number: str, url: str) -> None:
    assert tracking_url(carrier, number) == url


def test_tracking_url_escapes_the_number_and_knows_only_known_carriers() -> None:
    assert tracking_url("ups", "1Z 999/../x") == "https://www.ups.com/track?tracknum=1Z999%2F..%2Fx"
    assert tracking_url("some-local-courier", "123") is None
