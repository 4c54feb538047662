"""Map layers in, checked parking lots out: read, classify, estimate, evaluate.

check_layers("parking.gpkg", ["landuse.shp", "pois.csv"], pack, options=...)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from pyproj import CRS

from siting.aliases import Aliases, load_aliases
from siting.check import BatchAnswer, check_table, option_values
from siting.columns import column_report, mapping_columns
from siting.fields import ZERO_DEFAULT_FIELDS
from siting.folding import fold_name, fold_value
from siting.geo.assign import (
    HALF,
    METHOD_NAMES,
    NEAREST,
    OVERLAP,
    WITHIN,
    Assignment,
    assign,
)
from siting.geo.layers import Layer, read_layer
from siting.geo.mappings import (
    area_per_space,
    categorise,
    check_mappings,
    pack_estimation,
    pack_mappings,
    promote,
)
from siting.geo.options import LayerOptions
from siting.geo.output import Geometries
from siting.hashing import sha256_files
from siting.io.paths import parse_layer_ref
from siting.notes import Notes
from siting.records import SiteTable, blank, normalise, rename_columns
from siting.ruleset import RulePack
from siting.textcols import TEXT, place_texts, text_column, text_labels, text_take

# SPEC section 4 `classification`: the class_* columns of map output.
CLASSIFICATION_COLUMNS = (
    "source",
    "context_layer",
    "context_feature",
    "context_name",
    "context_category",
    "matched_by",
    "confidence",
    "confidence_reason",
    "overlap_m2",
    "distance_m",
    "spaces_estimated",
    "m2_per_space",
)
PLACE_FACTS = ("a_rating", "service_area_class", "development", "dedicated_ev_area")
NAME_COLUMNS = (
    "name",
    "名称",
    "NAME",
    "mc",
    "MC",
    "name_zh",
    "单位名称",
    "项目名称",
    "地块名称",
    "QSDWMC",  # third national land survey: 权属单位名称 (the owner)
    "ZLDWMC",  # 坐落单位名称
)
DEFAULT_MAX_DISTANCE = 50.0


def _for_file(table: dict[str, str], ref: str) -> str | None:
    path, _ = parse_layer_ref(ref)
    for key in (ref, path, Path(path).name):
        if key in table:
            return table[key]
    return None


def metric_crs(gdf: gpd.GeoDataFrame) -> CRS:
    """The layer's own CRS when it is projected in metres; otherwise a Lambert azimuthal
    equal-area projection centred on the layer: exact areas, and distances true near the
    centre (well within 0.1 % over a city)."""
    crs: CRS | None = gdf.crs
    if crs is not None and crs.is_projected and crs.axis_info[0].unit_name in ("metre", "meter"):
        return crs
    geoms = gdf.geometry[~gdf.geometry.is_empty & gdf.geometry.notna()]
    if geoms.empty:
        return CRS.from_epsg(4545)
    lon_lat = geoms.to_crs(4326).total_bounds
    lon, lat = (lon_lat[0] + lon_lat[2]) / 2, (lon_lat[1] + lon_lat[3]) / 2
    return CRS.from_proj4(
        f"+proj=laea +lat_0={lat:.6f} +lon_0={lon:.6f} +x_0=0 +y_0=0 +ellps=GRS80 +units=m"
    )


@dataclass
class Context:
    geoms: np.ndarray  # metric CRS
    category: np.ndarray  # category id per feature
    via: np.ndarray  # how the category was found
    facts: pd.DataFrame  # raw PLACE_FACTS values
    layer: np.ndarray  # layer name per feature
    feature: np.ndarray  # feature id per feature
    name: np.ndarray  # feature name, if any
    unused: dict[str, int]  # features without a category, per layer
    broad: np.ndarray  # bool: the category comes from a broad zone (landuse=commercial, B1 ...)
    key: np.ndarray  # uint64: category and place facts - features with equal keys are
    # held to the same requirements (a tie between them is no real tie)


def build_context(layers: list[Layer], pack: RulePack, to: CRS) -> Context:
    aliases = load_aliases()
    mappings = pack_mappings(pack)  # the pack's jurisdiction's, in its categories
    parts = []
    unused = {}
    for layer in layers:
        raw = pd.DataFrame(layer.frame.drop(columns="geometry"))
        frame = rename_columns(raw, aliases, source=layer.source)
        cats = np.full(len(frame), None, dtype=object)
        via = np.full(len(frame), None, dtype=object)
        if "category" in frame.columns:
            # each distinct text looked up once; the first of several categories counts
            codes, texts = pd.factorize(frame["category"].astype("string").fillna(""))
            found = []
            for text in texts:
                first = str(text).replace("；", ";").split(";")[0].strip()
                found.append(pack.category_lookup.get(fold_name(first)) if first else None)
            ids = np.array([*found, None], dtype=object)[codes]
            got = ids != None  # noqa: E711
            cats[got], via[got] = ids[got], "category attribute"
        # the mappings read the columns as the file names them (an Amap 类型 column is also
        # the alias of `category`, and holds type paths the mapping understands)
        mapped, mapped_via, mapped_broad = categorise(raw, pack, mappings)
        fill = (cats == None) & (mapped != None)  # noqa: E711
        cats[fill], via[fill] = mapped[fill], mapped_via[fill]
        broad = fill & mapped_broad
        promote(raw, cats, via, broad, mappings=mappings)
        has = cats != None  # noqa: E711
        unused[layer.source] = int((~has).sum())
        geoms = layer.frame.geometry.to_crs(to).to_numpy()[has]
        facts = pd.DataFrame(
            {
                f: (
                    frame[f] if f in frame.columns else pd.Series([None] * len(frame), dtype=object)
                ).to_numpy(dtype=object)[has]
                for f in PLACE_FACTS
            }
        )
        name_col = next((c for c in NAME_COLUMNS if c in raw.columns), None)
        names = (
            raw[name_col].to_numpy(dtype=object)[has]
            if name_col
            else np.full(int(has.sum()), None, dtype=object)
        )
        parts.append(
            (
                geoms,
                cats[has],
                via[has],
                facts,
                np.full(int(has.sum()), layer.source, dtype=object),
                layer.feature_ids[has],
                names,
                broad[has],
            )
        )
    if not parts:
        empty = np.array([], dtype=object)
        return Context(
            empty,
            empty,
            empty,
            pd.DataFrame(columns=list(PLACE_FACTS)),
            empty,
            np.array([], np.int64),
            empty,
            unused,
            np.array([], bool),
            np.array([], np.uint64),
        )
    cols = list(zip(*parts, strict=True))
    category = np.concatenate(cols[1])
    facts = pd.concat(cols[3], ignore_index=True)
    keyed = facts.astype("string").fillna("").assign(category=category)
    return Context(
        np.concatenate(cols[0]),
        category,
        np.concatenate(cols[2]),
        facts,
        np.concatenate(cols[4]),
        np.concatenate(cols[5]),
        np.concatenate(cols[6]),
        unused,
        np.concatenate(cols[7]),
        pd.util.hash_pandas_object(keyed, index=False).to_numpy(),
    )


def _own_or_context(
    own: pd.Series | None, given: np.ndarray, context: np.ndarray, n: int
) -> pd.Categorical:
    """The lot's own value where it has one, else that of the context feature that gave its
    category (given: context index, -1 for none). A categorical: its distinct values are
    worked out here from the context's, once, so the parsing that follows is per value."""
    ctx_codes, ctx_values = pd.factorize(context)
    if own is None:
        own_codes, own_values = np.full(n, -1), np.array([], dtype=object)
    else:
        own_codes, own_values = pd.factorize(own.to_numpy(dtype=object))
        own_values = np.asarray(own_values, dtype=object)
        blank_value = np.array([isinstance(v, str) and not v.strip() for v in own_values] + [False])
        own_codes = np.where(
            (own_codes >= 0) & blank_value[np.maximum(own_codes, 0)], -1, own_codes
        )
    merged_codes, values = pd.factorize(
        np.concatenate([own_values, np.asarray(ctx_values, dtype=object)])
    )
    own_map = np.r_[merged_codes[: len(own_values)], -1]  # [-1] maps "none" to "none"
    ctx_map = np.r_[merged_codes[len(own_values) :], -1]
    codes = own_map[own_codes]
    take = (given >= 0) & (codes < 0)
    codes[take] = ctx_map[ctx_codes[given[take]]]
    return pd.Categorical.from_codes(codes, categories=pd.Index(values, dtype=object))


def _estimate_messages(spaces: np.ndarray, area: np.ndarray, per_space: np.ndarray) -> pa.Array:
    """'parking_spaces estimated as N from the lot's area A m2 at P m2 per space; ...' for
    many lots at once (numbers written by Arrow, each distinct m2-per-space figure once)."""
    codes, uniques = pd.factorize(per_space)
    per = np.array([f"{u:g}" for u in uniques], dtype=object)[codes]
    parts = [
        "parking_spaces estimated as ",
        pc.cast(pa.array(spaces), pa.string()),
        " from the lot's area ",
        pc.cast(pa.array(np.round(area).astype(np.int64)), pa.string()),
        " m2 at ",
        pa.array(per, pa.string()),
        " m2 per space; replace it with the real count",
    ]
    return pc.binary_join_element_wise(*parts, "")


def _count_words(
    frame: pd.DataFrame, notes: Notes, aliases: Aliases
) -> dict[str, npt.NDArray[np.bool_]]:
    """Words in the layer's count columns (`values: count` of rules/shared/aliases.yaml;
    OpenStreetMap's capacity:charging=yes / no): a `none` word is 0; a `some` word says
    there are some but not how many, so the count is unknown (never 0: a verdict that needs
    the number stays open). Returns the `some` rows per field. Words are looked up once per
    distinct value."""
    some_rows: dict[str, npt.NDArray[np.bool_]] = {}
    for name in ZERO_DEFAULT_FIELDS:
        if name not in frame.columns or frame[name].dtype.kind in "biuf":
            continue
        codes, uniques = pd.factorize(frame[name].astype("string"), use_na_sentinel=True)
        words = [aliases.count_word.get(fold_value(str(u))) for u in uniques]
        kind = np.array([*words, None], dtype=object)[codes]  # code -1 (blank): None
        none, some = kind == "none", kind == "some"
        if not (none.any() or some.any()):
            continue
        col = frame[name].astype(object)
        col[none] = 0
        col[some] = None
        frame[name] = col
        some_rows[name] = some
        notes.add_many(
            np.flatnonzero(some),
            "warning",
            f"{name}: the value says there are some but not how many: the number is unknown, "
            f"not 0; state {name} to settle a verdict that needs it",
        )
    return some_rows


def _unknown_where_some(table: SiteTable, some_rows: dict[str, npt.NDArray[np.bool_]]) -> None:
    """A `some` word: the count is unknown (as for an absent column), not a blank cell read
    as 0."""
    for name, some in some_rows.items():
        known = table.unknown_count.get(name)
        table.unknown_count[name] = some if known is None else known | some
        blank = table.blank_counts.get(name)
        if blank is not None:
            blank[some] = False


def check_layers(
    parking_ref: str,
    context_refs: list[str],
    pack: RulePack,
    *,
    as_of: str | dt.date | None = None,
    options: LayerOptions | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> tuple[BatchAnswer, Geometries]:
    """Classify and check every feature of the parking layer. Returns the answer and the
    parking geometries in the parking layer's CRS (for map output)."""
    opts = options or LayerOptions()
    step = progress or (lambda stage, fraction: None)
    check_mappings(pack)
    step("reading layers", 0.05)
    # The input hash (for the receipt) is worked out alongside everything else: hashlib and
    # file reads release the GIL, and most of the later stages leave a core free.
    hasher = ThreadPoolExecutor(1)
    digest = hasher.submit(_files_sha256, [parking_ref, *context_refs])
    try:
        # Layers are read concurrently: GDAL releases the GIL while it reads.
        with ThreadPoolExecutor(2) as pool:
            parking_job = pool.submit(
                read_layer, parking_ref, layer=opts.layer, crs=opts.crs, offset=opts.offset
            )
            context_jobs = [
                pool.submit(
                    read_layer,
                    ref,
                    crs=_for_file(opts.context_crs, ref),
                    offset=_for_file(opts.context_offset, ref),
                )
                for ref in context_refs
            ]
            parking = parking_job.result()
            contexts = [job.result() for job in context_jobs]
        step("classifying and checking", 0.3)
        return classify_and_check(
            parking, contexts, pack, as_of=as_of, options=opts, input_sha256=digest.result
        )
    finally:
        hasher.shutdown(wait=False, cancel_futures=True)


def _files_sha256(refs: list[str]) -> str:
    return sha256_files(parse_layer_ref(ref)[0] for ref in refs)


def classify_and_check(
    parking: Layer,
    contexts: list[Layer],
    pack: RulePack,
    *,
    as_of: str | dt.date | None = None,
    options: LayerOptions | None = None,
    input_sha256: str | Callable[[], str] = "",
    metric: CRS | None = None,
) -> tuple[BatchAnswer, Geometries]:
    """Classify and check read layers. `input_sha256` may be a function giving it (asked
    for only when the results are put together). `metric`: the CRS areas and distances are
    measured in (default `metric_crs` of the parking layer; the partitioned engine passes the
    whole layer's, siting/scale)."""
    opts = options or LayerOptions()
    aliases = load_aliases()
    mappings = pack_mappings(pack)  # the pack's jurisdiction's, in its categories
    gdf = parking.frame
    original = pd.DataFrame(gdf.drop(columns="geometry"))
    # a renamed frame (pandas copies on rename, or on write under copy-on-write): filling its
    # columns below never touches `original`, the input attributes kept for output
    frame = rename_columns(original, aliases, opts.field_map, parking.source)
    columns = column_report(  # tags the mappings read on the lot itself are inputs too
        original.columns,
        aliases,
        opts.field_map,
        parking.source,
        also_read=mapping_columns(pack, True),
    )
    n = len(frame)

    # The fields filled in below, as object columns (whole columns are replaced, not cells).
    def objects(f: str) -> np.ndarray:
        if f in frame.columns:
            return frame[f].to_numpy(dtype=object, copy=True)
        return np.full(n, None, dtype=object)

    fill = {"category": objects("category")}
    # A feature without an id of its own is known by its feature id (fid); ids that are
    # all there stay the column they are (no Python strings made).
    no_id = blank(frame["id"]) if "id" in frame.columns else np.ones(n, bool)
    if no_id.any():
        fill["id"] = objects("id")
        fids = pc.cast(pa.array(parking.feature_ids[no_id]), pa.string())
        fill["id"][no_id] = fids.to_numpy(zero_copy_only=False)
    notes = Notes()
    for i, messages in parking.notes.items():
        for m in messages:
            notes.add(i, "warning", m)
    some_counts = _count_words(frame, notes, aliases)

    to = metric if metric is not None else metric_crs(gdf)
    lots = gdf.geometry.to_crs(to).to_numpy() if n else np.array([], dtype=object)

    # 1. the lot's own attributes: a category column, or tags on the lot (park_ride=yes, ...)
    own = ~blank(fill["category"])
    tag_cat, tag_via, _ = categorise(original, pack, mappings, tags_only=True)
    promote(original, tag_cat, tag_via, mappings=mappings)
    by_tag = ~own & (tag_cat != None)  # noqa: E711
    fill["category"][by_tag] = tag_cat[by_tag]
    source = np.full(n, None, dtype=object)
    source[own | by_tag] = "attribute"

    # 2. context layers for the rest
    ctx = build_context(contexts, pack, to)
    todo = np.flatnonzero(source == None)  # noqa: E711
    max_d = DEFAULT_MAX_DISTANCE if opts.max_distance is None else opts.max_distance
    area = np.where(shapely.is_missing(lots), 0.0, shapely.area(lots)) if n else np.zeros(0)
    a = assign(lots[todo], ctx.geoms, max_d, area[todo], ctx.broad)
    got = a.context >= 0
    rows, cidx = todo[got], a.context[got]
    fill["category"][rows] = ctx.category[cidx]
    method_names = np.array([None, *(METHOD_NAMES[m] for m in sorted(METHOD_NAMES))], object)
    source[rows] = method_names[a.method[got]]
    # the place's facts come from the context feature that gave the category
    given = np.full(n, -1, np.int64)
    given[rows] = cidx
    for f in PLACE_FACTS:
        own_facts = frame[f] if f in frame.columns else None
        facts = _own_or_context(own_facts, given, ctx.facts[f].to_numpy(dtype=object), n)
        frame[f] = pd.Series(facts, index=frame.index)
    for f, values in fill.items():
        frame[f] = pd.Series(values, dtype=object, index=frame.index)

    # 3. estimate missing space counts from polygon area
    per_space = area_per_space(original, opts.area_per_space, pack_estimation(pack))
    spaces_col = frame["parking_spaces"] if "parking_spaces" in frame.columns else None
    estimate = (blank(spaces_col) if spaces_col is not None else np.ones(n, bool)) & (area > 0)
    spaces = np.floor(area / per_space).astype(np.int64)
    if estimate.any():
        if spaces_col is not None and spaces_col.dtype.kind in "iuf":  # stays a number column
            counts = spaces_col.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        elif spaces_col is not None:
            counts = spaces_col.to_numpy(dtype=object, copy=True)
        else:
            counts = np.full(n, None, dtype=object)
        counts[estimate] = spaces[estimate]
        frame["parking_spaces"] = pd.Series(counts, index=frame.index)
        notes.add_many(
            np.flatnonzero(estimate),
            "warning",
            _estimate_messages(spaces[estimate], area[estimate], per_space[estimate]),
        )
    unclassified = np.flatnonzero(source == None)  # noqa: E711
    notes.add_many(
        unclassified,
        "warning",
        f"unclassified: no category attribute and no context feature overlapping, "
        f"containing or within {max_d:g} m; add a category column or a context layer",
    )

    # The classification columns (Arrow text work, mostly free of the GIL) are built on a
    # second core while the records are normalised.
    with ThreadPoolExecutor(1) as side:
        found = Found(n, source, own, tag_via, given, todo, a)
        classification_job = side.submit(
            _classification, found, ctx, estimate, per_space, pack, opts.accept_nearest
        )
        table = normalise(
            frame,
            pack,
            source=parking.source,
            row_kind="feature",
            row_numbers=parking.feature_ids,
            keep=original,
            aliases=aliases,
            preset_errors=parking.errors,
        )
        classification, sure = classification_job.result()
    table.notes.extend(notes)
    _unknown_where_some(table, some_counts)
    # uncertain categories (SPEC 6): evaluate.py turns a fail on them into needs_review, and
    # evaluates the alternatives too; the note says why
    table.uncertain = sure.uncertain
    table.alt_site, table.alt_cat = sure.alt_site, sure.alt_cat
    table.notes.add_many(sure.note_rows, "warning", sure.notes)
    if callable(input_sha256):
        input_sha256 = input_sha256()
    answer = check_table(
        table,
        pack,
        as_of,
        input_sha256=input_sha256,
        classification=classification,
        columns=columns,
        options=option_values(opts),
    )
    return answer, Geometries(gdf.geometry, parking.wkb)


@dataclass
class Found:
    """Where each lot's category came from (steps 1-2 of `classify_and_check`), per lot."""

    n: int
    source: np.ndarray  # object: "attribute", a method name (overlap, nearest, ...), or None
    own: np.ndarray  # bool: the lot's own category attribute gave it
    tag_via: np.ndarray  # object: the tag on the lot that gave it (park_ride=yes, ...)
    given: np.ndarray  # int64: the context feature that gave it, -1 none
    todo: np.ndarray  # int64: the lots searched for in the context layers ...
    a: Assignment  # ... and what the search found for them


def _classification(
    found: Found,
    ctx: Context,
    estimate: np.ndarray,
    per_space: np.ndarray,
    pack: RulePack,
    accept_nearest: bool,
) -> tuple[pd.DataFrame, Confidence]:
    """How each lot got its category, as columns (SPEC section 4 `classification`), and how
    sure that is."""
    n, source, own, tag_via = found.n, found.source, found.own, found.tag_via
    given, todo, a = found.given, found.todo, found.a
    k = np.where(given >= 0, given, 0)
    hit = given >= 0
    matched_by = ctx.via[k] if len(ctx.via) else np.full(n, None, dtype=object)
    matched_by[~hit] = None
    attr = (source == "attribute") & ~hit
    matched_by[attr & own] = "category attribute"
    matched_by[attr & ~own] = tag_via[attr & ~own]
    overlap = np.full(n, np.nan)
    overlap[todo] = np.round(a.overlap_m2, 1)
    distance = np.full(n, np.nan)
    distance[todo] = np.round(a.distance_m, 1)
    names = pd.Series(ctx.name, dtype=object).astype(TEXT)  # numbers as text, NaN missing
    sure = confidence(found, ctx, names, pack, accept_nearest)
    frame = pd.DataFrame(
        {
            "source": text_column(source),
            "context_layer": text_take(ctx.layer, k, hit),
            "context_feature": pd.Series(
                np.where(hit, ctx.feature[k] if len(ctx.feature) else 0, 0), dtype="Int64"
            ).where(hit),
            "context_name": text_take(names, k, hit),
            "context_category": text_take(ctx.category, k, hit),
            "matched_by": text_column(matched_by),
            "confidence": text_labels(sure.level - 1, list(CONFIDENCE_LEVELS)),
            "confidence_reason": text_column(sure.reason),
            "overlap_m2": overlap,
            "distance_m": distance,
            "spaces_estimated": estimate,
            "m2_per_space": np.where(estimate, per_space, np.nan),
        },
        columns=CLASSIFICATION_COLUMNS,
    )
    return frame, sure


# ------------------------------------------------------------------ confidence (SPEC 6)
CONFIDENCE_LEVELS = ("low", "medium", "high")
LOW, MEDIUM, HIGH = 1, 2, 3  # 0: no category


@dataclass
class Confidence:
    level: np.ndarray  # int8 per lot: 0 none, LOW, MEDIUM, HIGH
    reason: pa.Array  # text per lot (null without a category)
    uncertain: np.ndarray  # bool per lot: level LOW
    alt_site: np.ndarray  # int64 (lot, category index) pairs: other categories the lot may be
    alt_cat: np.ndarray
    note_rows: np.ndarray  # int64: the uncertain lots ...
    notes: pa.Array  # ... and their notes


def _texts(*parts: str | pa.Array | np.ndarray) -> pa.Array | str:
    """Row-wise concatenation of parts (strings, or Arrow / numpy texts of equal length); a
    plain string when every part is one (the same text for all the rows)."""
    if all(isinstance(p, str) for p in parts):
        return "".join(cast(tuple[str, ...], parts))
    cols = [p if isinstance(p, str | pa.Array) else pa.array(p, pa.string()) for p in parts]
    return pc.binary_join_element_wise(*cols, "")


def _join(a: pa.Array, b: pa.Array, sep: str = "; ") -> pa.Array:
    """Row-wise a + sep + b, either alone where the other is null."""
    both = pc.binary_join_element_wise(a, b, sep)
    return pc.coalesce(both, a, b)


def _numbers(values: np.ndarray, decimals: int = 0) -> pa.Array:
    v = np.round(values, decimals)
    if decimals == 0:
        v = v.astype(np.int64)
    return pc.cast(pa.array(v), pa.string())


def _quoted(names: pd.Series, idx: np.ndarray) -> pa.Array:
    """ " ('name')" of context features (empty where a feature has no name)."""
    texts = pa.array(names.to_numpy(dtype=object)[idx], pa.string(), from_pandas=True)
    quoted = pc.binary_join_element_wise(" ('", texts, "')", "")
    return pc.fill_null(quoted, "")


def confidence(
    found: Found, ctx: Context, names: pd.Series, pack: RulePack, accept_nearest: bool
) -> Confidence:
    """How sure each lot's category is (docs/classification.md, "Confidence"):

    high   the lot's own attribute; a specific polygon containing the lot or covering at least
           half of it; a point lot inside a specific polygon; a proximity match accepted
           with --accept-nearest;
    medium a specific polygon covering less than half of the lot (several compete), or the
           only polygon the lot meets when the lot sticks out of it; a point feature (POI)
           lying on the lot (nearest at 0 m);
    low    a proximity match (nearest); a broad zone (landuse=commercial, B / B1, 05 ...);
           a tie within 1 % with a feature held to other requirements (another category, or
           other place facts) - whatever else holds.

    Column-wise; Python per lot only for the few lots with ties or alternatives."""
    n, source, own, tag_via = found.n, found.source, found.own, found.tag_via
    given, todo, a = found.given, found.todo, found.a
    level = np.zeros(n, np.int8)
    attr = source == "attribute"
    level[attr] = HIGH
    tagged = np.flatnonzero(attr & ~own)
    tags = pa.array(tag_via[tagged], pa.string(), from_pandas=True)
    parts = [  # (rows, texts): each lot in one part, placed in one pass
        (np.flatnonzero(attr & own), "the lot's own category attribute"),
        (tagged, _texts("the lot's own tags (", tags, ")")),
    ]

    got = a.context >= 0
    rows, c, method = todo[got], a.context[got], a.method[got]
    cov, dist = a.coverage[got], a.distance_m[got]
    base = np.zeros(len(rows), np.int8)
    # overlap
    ov = method == OVERLAP
    inside = ov & (cov >= 1.0) & np.isnan(a.overlap_m2[got])
    share = ov & np.isfinite(cov) & ~inside
    most = share & (cov >= HALF)
    part = share & ~most
    out_part = ov & np.isnan(cov)
    base[inside | most] = HIGH
    base[part | out_part] = MEDIUM
    parts += [
        (rows[inside], "the lot lies inside the context polygon"),
        (
            rows[most],
            _texts("the context polygon covers ", _numbers(cov[most] * 100), " % of the lot"),
        ),
        (
            rows[part],
            _texts("the context polygon covers only ", _numbers(cov[part] * 100), " % of the lot"),
        ),
        (rows[out_part], "part of the lot lies outside the only context polygon it meets"),
    ]
    # within
    wi = method == WITHIN
    base[wi] = HIGH
    parts.append((rows[wi], "the point lies inside the context polygon"))
    # nearest
    ne = method == NEAREST
    on_lot = ne & (dist == 0)
    on_lot[on_lot] = shapely.get_dimensions(ctx.geoms[c[on_lot]]) == 0  # a point (POI)
    near = ne & ~on_lot
    base[on_lot] = MEDIUM
    base[near] = HIGH if accept_nearest else LOW
    touch = near & (dist == 0)  # a polygon touching the lot along an edge, no overlap
    away = near & ~touch
    lead = "found by proximity: " if not accept_nearest else ""
    tail = "" if not accept_nearest else ", accepted as certain (--accept-nearest)"
    parts += [
        (rows[on_lot], _texts("the context point", _quoted(names, c[on_lot]), " lies on the lot")),
        (
            rows[touch],
            _texts(
                lead + "the context feature",
                _quoted(names, c[touch]),
                " touches the lot without overlapping it" + tail,
            ),
        ),
        (
            rows[away],
            _texts(
                lead + "the nearest context feature",
                _quoted(names, c[away]),
                " is ",
                _numbers(dist[away], 1),
                " m away" + tail,
            ),
        ),
    ]
    level[rows] = base
    reason = place_texts(n, parts)

    # broad zones
    broad = ctx.broad[c] if len(c) else np.zeros(0, bool)
    broad_rows = rows[broad]
    level[broad_rows] = LOW
    via = pa.array(ctx.via[c[broad]], pa.string(), from_pandas=True)
    broad_text = _texts("a broad zone (", via, ") - the zone's use, not necessarily the site's")

    # ties and alternatives
    alt_site = np.array([], np.int64)
    alt_cat = np.array([], np.int64)
    tied_sites = np.array([], np.int64)
    tie_text: list[str] = []
    site = todo[a.alt_lot] if len(a.alt_lot) else np.array([], np.int64)
    if len(site):
        win = given[site]
        other = a.alt_ctx
        differs = ctx.key[other] != ctx.key[win]
        tie = a.alt_tie & differs
        tied_sites, tie_text = _tie_texts(site[tie], other[tie], ctx, names, source)
        level[tied_sites] = LOW
        # alternatives: other categories the lot may be (a tie, or a specific polygon met
        # where a broad zone won)
        cat_index = {cid: i for i, cid in enumerate(pack.category_ids)}
        other_cat = ctx.category[other]
        new_cat = other_cat != ctx.category[win]
        codes = np.array([cat_index[x] for x in other_cat[new_cat]], np.int64)
        pairs = np.unique(np.column_stack([site[new_cat], codes]), axis=0)
        pairs = pairs[level[pairs[:, 0]] == LOW] if len(pairs) else pairs.reshape(0, 2)
        alt_site, alt_cat = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)

    # the low reasons are added to the base reason of the (few) lots they concern
    extra = np.union1d(broad_rows, tied_sites).astype(np.int64)
    if len(extra):
        k = len(extra)
        more = _join(
            place_texts(k, [(np.searchsorted(extra, broad_rows), broad_text)]),
            place_texts(k, [(np.searchsorted(extra, tied_sites), tie_text)]),
        )
        joined = _join(reason.take(pa.array(extra)), more)
        reason = place_texts(n, [(extra, joined)], base=reason)

    uncertain = level == LOW
    note_rows = np.flatnonzero(uncertain)
    notes = pa.array([], pa.string())
    if len(note_rows):
        cats = pa.array(ctx.category[given[note_rows]], pa.string())
        why = reason.take(pa.array(note_rows))
        also = _alternative_texts(note_rows, alt_site, alt_cat, pack)
        notes = pc.binary_join_element_wise(
            "category ",
            cats,
            " is a low-confidence guess (",
            why,
            ")",
            also,
            "; confirm the site kind - a fail here is needs_review",
            "",
        )
    return Confidence(level, reason, uncertain, alt_site, alt_cat, note_rows, notes)


def _tie_texts(
    site: np.ndarray, other: np.ndarray, ctx: Context, names: pd.Series, source: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    """(lots with a real tie, sorted; per lot 'tied within 1 % with hospital ('X') (the
    smaller feature was taken)'). Python per tied lot: ties are few."""
    if not len(site):
        return np.array([], np.int64), []
    order = np.argsort(site, kind="stable")
    site, other = site[order], other[order]
    lots, starts = np.unique(site, return_index=True)
    name_of = names.to_numpy(dtype=object)
    out = []
    for lot, partners in zip(lots, np.split(other, starts[1:]), strict=True):
        described = []
        for p in partners:
            name = name_of[p]
            text = ctx.category[p] + (f" ('{name}')" if isinstance(name, str) and name else "")
            if text not in described:
                described.append(text)
        how = "equally near" if source[lot] == "nearest" else "tied within 1 %"
        out.append(f"{how} with {', '.join(described)} (the smaller feature was taken)")
    return lots.astype(np.int64), out


def _alternative_texts(
    rows: np.ndarray, alt_site: np.ndarray, alt_cat: np.ndarray, pack: RulePack
) -> pa.Array:
    """'; it may also be hotel, residential - each is checked' per uncertain lot ('' for
    lots without alternatives)."""
    texts = np.full(len(rows), "", dtype=object)
    if len(alt_site):
        pos = np.searchsorted(rows, alt_site)
        for i in np.unique(pos):
            cats = ", ".join(pack.category_ids[c] for c in alt_cat[pos == i])
            texts[i] = f"; it may also be {cats} - each is checked"
    return pa.array(texts, pa.string())


__all__ = [
    "CLASSIFICATION_COLUMNS",
    "LayerOptions",
    "check_layers",
    "classify_and_check",
    "confidence",
    "metric_crs",
]
