"""The site-record fields of SPEC section 3: names, kinds, and which a rule may test."""

from __future__ import annotations

# Whole numbers >= 0 (space counts and codes).
COUNT_FIELDS = (
    "parking_spaces",
    "small_car_spaces",
    "charging_spaces",
    "reserved_spaces",
    "fast_charging_spaces",
)
# Counts that default to 0 when absent (SPEC section 3).
ZERO_DEFAULT_FIELDS = ("charging_spaces", "reserved_spaces", "fast_charging_spaces")

INT_FIELDS = (*COUNT_FIELDS, "a_rating", "service_area_class")
TEXT_FIELDS = ("id", "development", "site_constraint", "city")
BOOL_FIELDS = ("dedicated_ev_area",)
ALL_FIELDS = (*TEXT_FIELDS, "category", *INT_FIELDS, *BOOL_FIELDS, "chargers")

# Facts a rule's `when:` may test, with their kind.
CONDITION_FACTS = {
    "development": "text",
    "a_rating": "int",
    "service_area_class": "int",
    "parking_spaces": "int",
    "small_car_spaces": "int",
    "dedicated_ev_area": "bool",
}
# Counts a rule may add up as what is provided.
COUNTABLE = ("charging_spaces", "reserved_spaces", "fast_charging_spaces")
BASIS_FIELDS = ("parking_spaces", "small_car_spaces")

DEVELOPMENT_VALUES = ("new", "existing")

# The values a missing fact can take, for sound verdicts (evaluate.py): a site missing one of
# these facts is evaluated under each value; the verdict stands only when all agree.
FACT_DOMAINS: dict[str, tuple[str | int, ...]] = {
    "development": DEVELOPMENT_VALUES,
    "a_rating": (1, 2, 3, 4, 5),
    "service_area_class": (1, 2, 3, 4),
}
