"""BigCommerce simulator: ``BigCommerceSim`` (server), seeded data, signed webhooks, rate limits."""

from sandbox.bigcommerce.server import BigCommerceSim

__all__ = ["BigCommerceSim"]
