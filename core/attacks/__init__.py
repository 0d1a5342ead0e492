"""The seven attacks of the paper with a per-image budget search.

``budget_search(attack, model, x, y, seed)`` finds, for every image, the smallest budget on
the attack's schedule that makes ``model`` misclassify it; ``budget_search_steps`` walks the
same schedule on one image for the dashboard.  ``ATTACK_SPECS`` says what each budget is.
See ``docs/attacks.md``.
"""
from core.attacks.base import AttackSpec, BudgetResult, SearchStep
from core.attacks.registry import ATTACK_SPECS, ATTACKS, get_attack
from core.attacks.search import budget_search, budget_search_steps, perturb_at

__all__ = ["ATTACKS", "ATTACK_SPECS", "AttackSpec", "BudgetResult", "SearchStep", "budget_search",
           "budget_search_steps", "get_attack", "perturb_at"]
