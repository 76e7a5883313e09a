"""Kraken's funding endpoints, one method each, named after the endpoint; mixed into ``KrakenRestClient``.

Each returns the decoded ``result`` (numbers as strings, never float). They are private: Kraken asks
for funding permissions on the key (https://docs.kraken.com/api/docs/guides/spot-rest-auth); a key
without them gets ``EGeneral:Permission denied`` (``AuthError``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = ["FundingEndpoints"]


class FundingEndpoints:
    """Kraken REST funding endpoints (withdrawal and deposit methods, addresses, fees, recent withdrawals)."""

    async def private(self, endpoint: str, params: Any = None) -> Any:  # provided by KrakenRestClient
        raise NotImplementedError

    async def withdraw_methods(self, asset: str | None = None) -> Any:
        """https://docs.kraken.com/api/docs/rest-api/get-withdrawal-methods : ``[{asset, method, network, minimum}]``."""
        return await self.private("WithdrawMethods", {"asset": asset})

    async def withdraw_addresses(self, asset: str | None = None) -> Any:
        """https://docs.kraken.com/api/docs/rest-api/get-withdrawal-addresses : ``[{address, asset, method, key, verified}]``."""
        return await self.private("WithdrawAddresses", {"asset": asset})

    async def withdraw_info(self, asset: str, key: str, amount: Decimal) -> Any:
        """https://docs.kraken.com/api/docs/rest-api/get-withdrawal-information : ``{method, limit, amount, fee}``."""
        return await self.private("WithdrawInfo", {"asset": asset, "key": key, "amount": amount})

    async def withdraw_status(self, asset: str | None = None) -> Any:
        """https://docs.kraken.com/api/docs/rest-api/get-status-recent-withdrawals : recent withdrawals with their fees."""
        return await self.private("WithdrawStatus", {"asset": asset})

    async def deposit_methods(self, asset: str) -> Any:
        """https://docs.kraken.com/api/docs/rest-api/get-deposit-methods : ``[{method, limit, fee, minimum, gen-address}]``."""
        return await self.private("DepositMethods", {"asset": asset})
