"""Engagement links: a signature stays exactly what links already sent carry (changing it would break
every open, click and unsubscribe link in shoppers' inboxes), and a click redirect quotes its target."""

import base64
import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from doorstep.messaging import links


def _signed_as_first_shipped(secret: str, *parts: str) -> str:
    key = hashlib.sha256(b"doorstep/messaging/links/v1\x00" + secret.encode()).digest()
    mac = hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


@given(st.text(min_size=1), st.lists(st.text(), min_size=1, max_size=4))
def test_a_signature_is_the_one_links_already_sent_carry(secret: str, parts: list[str]) -> None:
    assert links.sign(secret, *parts) == _signed_as_first_shipped(secret, *parts)
    assert links.verify(secret, _signed_as_first_shipped(secret, *parts), *parts)


def test_a_tracking_link_quoted_into_a_click_redirect() -> None:
    target = "https://track.example/t/Vq3kZ8pL2mN7xR4tY6wB1cD9fG0hJ5sA?x=1&y=a b"
    url = links.click("https://track.example/", "s3cret", "msg_1", target)
    assert url.endswith(
        "?u=https%3A%2F%2Ftrack.example%2Ft%2FVq3kZ8pL2mN7xR4tY6wB1cD9fG0hJ5sA%3Fx%3D1%26y%3Da%20b"
    )
