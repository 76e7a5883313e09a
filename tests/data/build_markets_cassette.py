"""Build cassettes/test_markets/three_venues.yaml (run from the repository root; the output is committed).

Every interaction is copied verbatim from a cassette already in this repository, with its source:
- Kraken GET /0/public/AssetPairs: cassettes/test_kraken_rest/asset_pairs_cryptofeed.yaml (the real
  2021-04-17 response from cryptofeed's sample data; cryptofeed license, tests/data/kraken/LICENSE.cryptofeed).
- Bitstamp GET /api/v2/markets/: cassettes/test_ccxt_bitstamp/markets_and_book.yaml (real cryptofeed
  BITSTAMP.0 rows; cryptofeed license, tests/data/ccxt/LICENSE.cryptofeed).
- Coinbase Exchange GET /currencies and /products: cassettes/test_ccxt_coinbaseexchange/markets.yaml
  (see that file's header for its source).
"""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "cassettes" / "test_markets" / "three_venues.yaml"
SOURCES = [
    ("test_kraken_rest/asset_pairs_cryptofeed.yaml", "/0/public/AssetPairs"),
    ("test_ccxt_bitstamp/markets_and_book.yaml", "/api/v2/markets/"),
    ("test_ccxt_coinbaseexchange/markets.yaml", "/currencies"),
    ("test_ccxt_coinbaseexchange/markets.yaml", "/products"),
]


def main() -> None:
    interactions = []
    for name, path in SOURCES:
        doc = yaml.safe_load((ROOT / "cassettes" / name).read_text())
        interactions.append(next(i for i in doc["interactions"] if i["request"]["uri"].endswith(path)))
    header = "".join(f"# {p}: verbatim from cassettes/{n}\n" for n, p in SOURCES)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("# Built by tests/data/build_markets_cassette.py; see its docstring for the sources and licences.\n"
                   + header + yaml.safe_dump({"interactions": interactions, "version": 1}, sort_keys=True, width=10_000))


if __name__ == "__main__":
    main()
