"""KrakenBook against Kraken's own checksums: real recorded frames and the docs' worked example."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.kraken.book import ChecksumMismatch, KrakenBook
from arbscan import errors
from arbscan.errors import BookIntegrityError, UnexpectedPayload

DATA = Path(__file__).parent / "data" / "kraken"
RAW_V2 = (DATA / "orderbook-v2.json").read_text()
V2 = json.loads(RAW_V2)
FRAMES = [V2["init"], *V2["updates"]]
RAW_FRAMES = [json.dumps(f) for f in FRAMES]  # the file's numbers: JSON numbers without trailing zeros
DOC = json.loads((DATA / "kraken-docs-vectors.json").read_text())["ws_v2_book_checksum_btcusd_guide"]


def new_book(depth: int = 10) -> KrakenBook:
    return KrakenBook("BTC/USD", depth, 1, 8)


def test_checksum_mismatch_is_the_shared_error():
    assert ChecksumMismatch is errors.ChecksumMismatch


def test_official_docs_example_gives_3310070434():
    book = new_book()
    book.apply(DOC["snapshot_raw"])
    assert book.checksum() == DOC["expected_checksum"] == 3310070434


def test_official_docs_example_as_decimal_dict():
    book = new_book()
    book.apply(json.loads(DOC["snapshot_raw"], parse_float=Decimal))
    assert book.checksum() == 3310070434
    snap = book.snapshot()
    assert snap.asks[0] == (Decimal("45285.2"), Decimal("0.00100000"))
    assert snap.bids[-1] == (Decimal("45276.6"), Decimal("0.15445238"))


def test_all_510_frames_validate_as_raw_text():
    assert len(RAW_FRAMES) == 510
    book = new_book()
    for frame in RAW_FRAMES:
        book.apply(frame)
    assert book.ready


def test_all_510_frames_validate_as_raw_bytes():
    book = new_book()
    for frame in RAW_FRAMES:
        book.apply(frame.encode())
    assert book.ready


def test_all_510_frames_validate_as_decimal_dicts():
    book = new_book()
    for frame in RAW_FRAMES:
        book.apply(json.loads(frame, parse_float=Decimal))
    assert book.ready


def test_all_510_frames_validate_as_float_dicts():
    book = new_book()
    for frame in FRAMES:
        assert all(type(l["price"]) in (float, int) for e in frame["data"] for l in e["bids"] + e["asks"])
        book.apply(frame)
    assert book.ready


def test_all_510_frames_validate_as_string_dicts():
    book = new_book()
    for frame in RAW_FRAMES:
        book.apply(json.loads(frame, parse_float=str, parse_int=str))
    assert book.ready


def test_final_book_matches_the_last_frames():
    # The last update sets bid 29430.3 to 1.69289565; it must be in the book at that quantity.
    book = new_book()
    for frame in RAW_FRAMES:
        book.apply(frame)
    snap = book.snapshot()
    assert (Decimal("29430.3"), Decimal("1.69289565")) in snap.bids
    assert len(snap.bids) == len(snap.asks) == 10
    assert all(type(p) is Decimal and type(q) is Decimal for p, q in snap.bids + snap.asks)
    assert snap.bids[0][0] < snap.asks[0][0]
    assert [p for p, _ in snap.bids] == sorted((p for p, _ in snap.bids), reverse=True)
    assert [p for p, _ in snap.asks] == sorted(p for p, _ in snap.asks)
    assert snap.exchange == "kraken" and snap.symbol == "BTC/USD"
    assert snap.ts == pytest.approx(1690731049.008834)  # 2023-07-30T15:30:49.008834Z


def test_altered_level_raises_checksum_mismatch():
    book = new_book()
    for frame in FRAMES[:100]:
        book.apply(frame)
    bad = copy.deepcopy(FRAMES[100])
    entry = bad["data"][0]
    side = entry["bids"] or entry["asks"]
    side[0]["qty"] = round(side[0]["qty"] + 0.00000001, 8)
    with pytest.raises(ChecksumMismatch) as info:
        book.apply(bad)
    assert info.value.expected == entry["checksum"]
    assert not book.ready
    with pytest.raises(BookIntegrityError):
        book.snapshot()


def test_altered_checksum_raises_and_updates_are_refused_until_a_snapshot():
    book = new_book()
    book.apply(RAW_FRAMES[0])
    bad = copy.deepcopy(FRAMES[1])
    bad["data"][0]["checksum"] ^= 1
    with pytest.raises(ChecksumMismatch):
        book.apply(json.dumps(bad))
    with pytest.raises(BookIntegrityError):
        book.apply(RAW_FRAMES[2])
    book.apply(RAW_FRAMES[0])  # a fresh snapshot validates again
    assert book.ready


def test_altered_snapshot_level_raises():
    bad = copy.deepcopy(FRAMES[0])
    bad["data"][0]["asks"][3]["price"] = round(bad["data"][0]["asks"][3]["price"] + 0.1, 1)
    with pytest.raises(ChecksumMismatch):
        new_book().apply(json.dumps(bad))


def test_malformed_frames_raise_unexpected_payload_and_leave_the_book_intact():
    book = new_book()
    book.apply(RAW_FRAMES[0])
    before = book.snapshot()
    for bad in ('{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":"x","qty":1}],"asks":[],"checksum":1}]}',
                '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[],"asks":[]}]}',
                '{"channel":"book","type":"weird","data":[]}',
                "not json at all",
                b"\xff\xfe"):
        with pytest.raises(UnexpectedPayload):
            book.apply(bad)
    assert book.ready and book.snapshot().bids == before.bids


def test_truncates_to_depth_after_every_message():
    # depth 10 with a depth-5 book: its checksum is over the 5 levels kept, so Kraken's depth-10
    # checksums must now fail; but depth is honoured for the snapshot.
    book = KrakenBook("BTC/USD", 5, 1, 8)
    with pytest.raises(ChecksumMismatch):
        book.apply(RAW_FRAMES[0])


def test_v2_frames_from_v1_captures_validate_with_their_stream_precisions():
    for name, frames_expected in (("book1000_10pairs_2021-04-17.jsonl", 4279), ("book10_btcusd_2023-08-30.jsonl", 980)):
        books: dict[str, KrakenBook] = {}
        count = 0
        with open(DATA / name) as fh:
            for line in fh:
                obj = json.loads(line)
                if "frame" in obj:
                    frame = obj["frame"]
                    books[json.loads(frame)["data"][0]["symbol"]].apply(frame)
                    count += 1
                else:
                    books[obj["symbol"]] = KrakenBook(obj["symbol"], obj["depth"], obj["price_precision"], obj["qty_precision"])
        assert count == frames_expected
        assert all(b.ready for b in books.values())


def test_depth_1000_book_keeps_depth_levels_and_decimal_snapshots():
    books: dict[str, KrakenBook] = {}
    with open(DATA / "book1000_10pairs_2021-04-17.jsonl") as fh:
        for line in fh:
            obj = json.loads(line)
            if "frame" in obj:
                frame = json.loads(obj["frame"], parse_float=Decimal)
                books[frame["data"][0]["symbol"]].apply(frame)
            else:
                books[obj["symbol"]] = KrakenBook(obj["symbol"], obj["depth"], obj["price_precision"], obj["qty_precision"])
    snap = books["ADA/BTC"].snapshot()
    assert 0 < len(snap.bids) <= 1000 and snap.bids[0][0].as_tuple().exponent == -9


def test_wrong_precision_fails_the_checksum():
    book = KrakenBook("BTC/USD", 10, 2, 8)
    with pytest.raises(ChecksumMismatch):
        book.apply(RAW_FRAMES[0])


def test_large_numbers_fall_back_to_exact_decoding():
    # qty 90071992.54740993 at 8 decimals is beyond a double's exact range; the raw path must
    # keep its digits and the float-dict path must refuse rather than guess.
    raw = DOC["snapshot_raw"]
    book = new_book()
    book.apply(raw)
    big = '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":90071992.54740993}],"asks":[],"checksum":0}]}'
    with pytest.raises(ChecksumMismatch) as info:
        book.apply(big)
    # Kraken's rule on the exact digits: only the first bid's fragment changes.
    expected_text = DOC["expected_concat"].replace("452835" + "10000000", "452835" + "9007199254740993", 1)
    import zlib

    assert info.value.computed == zlib.crc32(expected_text.encode())
    book.apply(raw)
    with pytest.raises(UnexpectedPayload):
        book.apply(json.loads(big))


def test_large_numbers_in_a_decoded_dict_are_reread_from_the_raw_frame():
    book = new_book()
    book.apply(DOC["snapshot_raw"])
    big = '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":90071992.54740993}],"asks":[],"checksum":0}]}'
    with pytest.raises(ChecksumMismatch) as info:
        book.apply(json.loads(big), big)
    import zlib

    expected_text = DOC["expected_concat"].replace("452835" + "10000000", "452835" + "9007199254740993", 1)
    assert info.value.computed == zlib.crc32(expected_text.encode())
