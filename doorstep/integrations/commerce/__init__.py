"""Commerce platforms: orders, fulfillments, refunds and customers pushed by the shop's platform."""
