"""orjson's workloads for ``make bench-extension PKG=orjson==<version>``.

Documents shaped like the classic JSON benchmark files, generated from a seed (the same
bytes in every flavour and process): ``twitter`` (search results: many short strings,
small dicts, some non-ASCII text), ``citm`` (a catalogue: nested dicts keyed by ids, ints
and short int lists), ``canada`` (a GeoJSON polygon: long arrays of float pairs). Each at
two sizes: ``small`` (~10 KB of JSON, the size of an API payload) and ``large`` (~1 MB).

Timed: ``dumps`` and ``loads`` per document, and the same from several Python threads at
once (``threads``). Memory (one fresh process per point): many parsed copies of a large
document held at once (peak RSS), then everything dropped (RSS after the drop).

orjson allocates on the Rust heap for its output buffer, its key cache and its parser's
scratch space; the Python objects it returns come from CPython's own allocator in every
flavour. How much of a call's time is Rust heap work is what this file measures.
"""

from __future__ import annotations

import gc
import random
import string
import time

from allocbench.catalogue import Param, Workload
from allocbench.extension_workloads import held_phases, rss_bytes, threads_wall_time

EXTENSION = "orjson"
# What orjson ships (src/alloc.rs): PyMem_Malloc/Realloc/Free for every size, no check of
# the thread state. The micro-suite flavour closest to it, for the prediction line.
SHIPPED_LIKE = "pymem"

# Why flavours fail orjson's own tests, found by reading its source (3.13.0): orjson.Fragment
# objects are allocated with Rust's Box (the global allocator, src/ffi/fragment.rs,
# orjson_fragment_tp_new) and freed with PyMem_Free (orjson_fragment_dealloc). That is
# correct only while the global allocator hands out PyMem_Malloc blocks.
NOTES = (
    "orjson 3.13.0 allocates `orjson.Fragment` objects with Rust's `Box` (the global "
    "allocator; src/ffi/fragment.rs, `orjson_fragment_tp_new`) and frees them with "
    "`PyMem_Free` (`orjson_fragment_dealloc`): correct only while the global allocator "
    "returns PyMem_Malloc blocks. A libc, mimalloc or jemalloc block reaches free() of "
    "another allocator, or the debug hooks' API check; test_fragment.py is where each "
    "crashing flavour stops."
)

DOCS = ("twitter", "citm", "canada")
SIZES = {"small": 10_000, "large": 1_000_000}  # bytes of JSON, roughly
DOC = Param("doc", str, "document shape (the classic benchmark file it imitates)", choices=DOCS)
SIZE = Param("size", str, "document size: small ~10 KB, large ~1 MB", choices=tuple(SIZES))
THREADS = Param("threads", int, "Python threads calling orjson at once", 2, 16)
OP = Param("op", str, "the call each thread makes", choices=("dumps", "loads"))
COPIES = Param("copies", int, "parsed copies of the large document held at once", 1, 200)
SEED = 20261125

_WORDS_JA = ("東京", "天気", "ニュース", "今日", "写真", "猫", "ラーメン", "駅")


def _word(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return rng.choice(_WORDS_JA)
    return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9)))


def _status(rng: random.Random, i: int) -> dict:
    text = " ".join(_word(rng) for _ in range(rng.randint(8, 24)))
    uid = rng.randint(10**6, 10**9)
    return {
        "id": 250075927172759552 + i,
        "id_str": str(250075927172759552 + i),
        "created_at": "Mon Sep 24 03:35:21 +0000 2012",
        "text": text,
        "truncated": False,
        "source": '<a href="http://example.org/app" rel="nofollow">app</a>',
        "in_reply_to_status_id": None,
        "user": {
            "id": uid,
            "id_str": str(uid),
            "name": _word(rng).title(),
            "screen_name": _word(rng) + str(rng.randint(1, 99)),
            "location": rng.choice(("", "Tokyo", "Paris", "東京")),
            "description": " ".join(_word(rng) for _ in range(rng.randint(0, 12))),
            "followers_count": rng.randint(0, 10**5),
            "friends_count": rng.randint(0, 10**4),
            "verified": rng.random() < 0.05,
            "profile_image_url": f"http://a0.example.org/profile_images/{uid}/a_normal.png",
        },
        "entities": {
            "hashtags": [
                {"text": _word(rng), "indices": [rng.randint(0, 100), rng.randint(0, 140)]}
                for _ in range(rng.randint(0, 3))
            ],
            "urls": [],
            "user_mentions": [],
        },
        "retweet_count": rng.randint(0, 1000),
        "favorited": False,
        "retweeted": False,
        "lang": rng.choice(("ja", "en", "fr")),
    }


def _event(rng: random.Random, i: int) -> dict:
    return {
        "description": None,
        "id": 138586341 + i,
        "logo": None if rng.random() < 0.7 else f"/images/UE0AAAAACEKo{i}QAAAAVDSVRN",
        "name": " ".join(_word(rng) for _ in range(rng.randint(1, 4))).title(),
        "subTopicIds": [rng.randint(337184262, 337184300) for _ in range(rng.randint(1, 4))],
        "subjectCode": None,
        "subtitle": None,
        "topicIds": [rng.randint(324846099, 324846110) for _ in range(rng.randint(1, 3))],
    }


def _performance(rng: random.Random, i: int) -> dict:
    return {
        "eventId": 138586341 + rng.randint(0, 200),
        "id": 339887544 + i,
        "logo": None,
        "name": None,
        "prices": [
            {
                "amount": rng.randint(10, 300) * 1000,
                "audienceSubCategoryId": 337100890,
                "seatCategoryId": 338937295 + k,
            }
            for k in range(rng.randint(1, 4))
        ],
        "seatCategories": [
            {"areas": [{"areaId": 205705994 + a, "blockIds": []} for a in range(3)]}
            for _ in range(rng.randint(1, 3))
        ],
        "start": 1372701600000 + i * 86400000,
        "venueCode": "PLEYEL_PLEYEL",
    }


def _ring(rng: random.Random, n: int) -> list:
    lon, lat = -65.613616999999977, 43.420273000000009
    out = []
    for _ in range(n):
        lon += rng.uniform(-0.01, 0.01)
        lat += rng.uniform(-0.01, 0.01)
        out.append([lon, lat])
    return out


def document(doc: str, size: str) -> object:
    """The seeded document of this shape and size (the same in every process)."""
    rng = random.Random(f"{SEED}-{doc}-{size}")
    target = SIZES[size]
    if doc == "twitter":
        n = max(1, target // 800)  # ~0.8 KB of JSON per status
        return {"statuses": [_status(rng, i) for i in range(n)], "search_metadata": {"count": n}}
    if doc == "citm":
        n = max(1, target // 400)
        return {
            "areaNames": {str(205705993 + i): _word(rng).title() for i in range(n // 4 + 1)},
            "events": {str(138586341 + i): _event(rng, i) for i in range(n // 2 + 1)},
            "performances": [_performance(rng, i) for i in range(n // 2 + 1)],
            "venueNames": {"PLEYEL_PLEYEL": "Salle Pleyel"},
        }
    n = max(1, target // 40)  # ~40 bytes per coordinate pair
    rings = [_ring(rng, k) for k in _split(n, 10)]
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "Canada"},
                "geometry": {"type": "Polygon", "coordinates": rings},
            }
        ],
    }


def _split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


_CACHE: dict[tuple[str, str], tuple[object, bytes]] = {}


def _prepared(doc: str, size: str) -> tuple[object, bytes]:
    """(document, its JSON), made once per process: generating it is not timed."""
    import orjson

    key = (doc, size)
    if key not in _CACHE:
        obj = document(doc, size)
        _CACHE[key] = (obj, orjson.dumps(obj))
    return _CACHE[key]


# ---- timed: (loops, params) -> seconds ------------------------------------------------------


def dumps(loops: int, doc: str, size: str) -> float:
    import orjson

    obj, _ = _prepared(doc, size)
    f = orjson.dumps
    t0 = time.perf_counter()
    for _ in range(loops):
        f(obj)
    return time.perf_counter() - t0


def loads(loops: int, doc: str, size: str) -> float:
    import orjson

    _, data = _prepared(doc, size)
    f = orjson.loads
    t0 = time.perf_counter()
    for _ in range(loops):
        f(data)
    return time.perf_counter() - t0


def threads(loops: int, op: str, doc: str, size: str, threads: int) -> float:
    """``threads`` Python threads each make ``loops`` calls at once."""
    import orjson

    obj, data = _prepared(doc, size)
    f, arg = (orjson.dumps, obj) if op == "dumps" else (orjson.loads, data)

    def work() -> None:
        for _ in range(loops):
            f(arg)

    return threads_wall_time(threads, work)


# ---- memory: params -> phases of figures ----------------------------------------------------


def held(doc: str, copies: int) -> dict:
    """Parses ``copies`` copies of the large document and serialises each back, holding
    all of them; then drops everything. RSS at the start, while held, at the peak, and
    after the drop."""
    import orjson

    _, data = _prepared(doc, "large")
    gc.collect()
    start = rss_bytes()
    parsed = [orjson.loads(data) for _ in range(copies)]
    out = [orjson.dumps(p) for p in parsed]
    holding = rss_bytes()
    del parsed, out
    gc.collect()
    return held_phases(start, holding, rss_bytes())


def _points(**axes):
    keys = list(axes)
    out = [{}]
    for k in keys:
        out = [{**p, k: v} for p in out for v in axes[k]]
    return tuple(out)


WORKLOADS = (
    Workload(
        name="dumps",
        family="serialize",
        kind="time",
        unit="s/document",
        measures="orjson.dumps of one document: output buffer growth on the Rust heap",
        params=(DOC, SIZE),
        points=_points(doc=DOCS, size=tuple(SIZES)),
        smoke={"doc": "twitter", "size": "small"},
    ),
    Workload(
        name="loads",
        family="parse",
        kind="time",
        unit="s/document",
        measures="orjson.loads of one document: parser scratch and key cache on the Rust heap",
        params=(DOC, SIZE),
        points=_points(doc=DOCS, size=tuple(SIZES)),
        smoke={"doc": "twitter", "size": "small"},
    ),
    Workload(
        name="threads",
        family="threads",
        kind="time",
        unit="s/call",
        measures="orjson from several Python threads at once (they take turns on the GIL)",
        params=(OP, DOC, SIZE, THREADS),
        points=_points(op=("dumps", "loads"), doc=("twitter",), size=("small",), threads=(4,)),
        smoke={"op": "dumps", "doc": "twitter", "size": "small", "threads": 2},
        ops_per_loop=lambda p: p["threads"],
    ),
    Workload(
        name="held",
        family="memory",
        kind="memory",
        unit="bytes",
        measures="RSS while many parsed documents are held, at the peak, and after dropping",
        params=(DOC, COPIES),
        points=_points(doc=DOCS, copies=(20,)),
        smoke={"doc": "twitter", "copies": 2},
    ),
)
