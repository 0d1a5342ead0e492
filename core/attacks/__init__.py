"""The seven attacks of the paper with a per-image budget search.

``budget_search(attack, model, x, y, seed)`` finds, for every image, the smallest budget on
the attack's schedule that makes ``model`` misclassify it; ``budget_search_steps`` walks the
same schedule on one image for the dashboard.  ``ATTACK_SPECS`` says what each budget is.
Each attack is a class whose hyperparameters are constructor arguments (defaults: the paper's
settings), e.g. ``budget_search(FGSM(grid_points=20), model, x, y)``.
See ``docs/attacks.md``.
"""
from core.attacks.base import Attack, AttackSpec, BudgetResult, GridAttack, IterativeAttack, SearchStep
from core.attacks.corruption import GaussianBlur, GaussianNoise, SaltAndPepper
from core.attacks.deepfool import DeepFool
from core.attacks.gradient import FGSM, IGSM
from core.attacks.jsma import JSMA
from core.attacks.registry import ATTACK_SPECS, ATTACKS, get_attack
from core.attacks.search import budget_search, budget_search_steps, perturb_at

__all__ = ["ATTACKS", "ATTACK_SPECS", "Attack", "AttackSpec", "BudgetResult", "DeepFool", "FGSM", "GaussianBlur",
           "GaussianNoise", "GridAttack", "IGSM", "IterativeAttack", "JSMA", "SaltAndPepper", "SearchStep",
           "budget_search", "budget_search_steps", "get_attack", "perturb_at"]
