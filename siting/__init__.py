"""siting: EV charging space rules as data, checked for site lists, GIS layers and over HTTP.

The engine in one import::

    from siting import load_ruleset, check_records
    pack = load_ruleset("guangxi-2021-2025")
    answer = check_records([{"id": "S1", "category": "hospital", "parking_spaces": 333,
                             "charging_spaces": 66}], pack)
    answer.results[0]["status"]    # 'fail'
"""

__version__ = "0.1.0"

from siting.check import BatchAnswer, check_records, check_table
from siting.errors import InputError, RulePackError
from siting.ruleset import RulePack, list_rulesets, load_ruleset

__all__ = [
    "BatchAnswer",
    "InputError",
    "RulePack",
    "RulePackError",
    "__version__",
    "check_records",
    "check_table",
    "list_rulesets",
    "load_ruleset",
]
