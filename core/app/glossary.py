"""The dashboard's glossary: each technical term it shows, explained in plain words, in one place.

The sidebar lists it (``app.py``) and the pages use the same sentences as ``help=`` tooltips (``help_for``), so
a term is explained the same way wherever it appears.  No imports: the entry point reads it before the engine
is loaded.
"""
from __future__ import annotations

GLOSSARY: dict[str, str] = {
    "adversarial example": "An image changed a little, often invisibly, so that a classifier gets it wrong.",
    "bi-model mismatch": "The detector's idea: two differently built classifiers rarely make the same mistake on an "
                         "attacked image, so their disagreement gives the attack away.",
    "softmax": "A model's answer as ten probabilities, one per class, adding up to 1.",
    "P(attack)": "The detector's probability that an image is an attack, computed from both models' softmax "
                 "(20 numbers).",
    "operating point": "How suspicious P(attack) must be before the detector flags an image, set so that a chosen "
                       "share of clean images (1, 5 or 10 %) is flagged by mistake.",
    "clean FPR": "False-positive rate: the share of clean, unattacked images the detector wrongly flags.",
    "threshold": "The P(attack) value above which the detector flags an image at the chosen operating point.",
    "budget (ε)": "How much an attack may change each pixel, on a 0–1 brightness scale; CIFAR-10 budgets are "
                  "written in steps of 1/255, the size of one brightness level.",
    "L∞": "The largest change made to any single pixel (the budget limits it).",
    "L2": "The overall size of the change: the square root of the sum of all squared pixel changes.",
    "MSE": "Mean squared error: the average squared pixel change; smaller means the image looks less changed.",
    "ε50": "The budget by which the attack has succeeded on half of the images (the median of the smallest "
           "budget that worked on each image); \"> max\": fewer than half within the largest budget tried.",
    "success": "The share of images on which the attack fooled model 1 and the detector stayed silent.",
    "detection rate": "The share of attacked images the detector flags.",
    "AUC": "Area under the ROC curve: the chance that the detector scores a random attacked image above a random "
           "clean one (0.5 = guessing, 1 = perfect).",
    "ROC": "The trade-off curve of a detector: detection rate against clean false-positive rate over all "
           "thresholds.",
    "F1": "A single score of a detector's precision and recall (1 = no mistakes).",
    "adaptive attack": "An attack that knows the detector and changes the image to fool the models and stay "
                       "unflagged at the same time.",
    "transfer attack": "An attack crafted on the attacker's own copies of the models and then used on ours.",
    "PGD": "Projected gradient descent: an attack that nudges the image step by step in the direction that "
           "hurts the model most, staying within the budget.",
    "transfer matrix": "A detector trained on the attacks of one kind (row) and tested on another (column).",
    "leave one attack out": "A detector trained on six attacks and tested on the seventh, which it never saw.",
    "Feature Squeezing": "A rival detector (Xu et al.): it compares the model's answer on the image and on "
                         "simplified copies of it (fewer colours, smoothed).",
    "KDE + BU": "Feinman et al.'s rival detector: kernel density estimate (how typical the image's inner features "
                "are for its class) plus Bayesian uncertainty (how much dropout changes the answer).",
    "t-SNE / UMAP": "Ways to draw high-dimensional points on a 2-D map so that neighbours stay neighbours.",
    "PCA-50": "The pixels compressed to their 50 main directions of variation before the map is drawn.",
    "10-NN accuracy": "How often an image's 10 nearest neighbours on the map share its kind (clean or attack): "
                      "0.5 = mixed, 1 = fully apart.",
}


def help_for(*terms: str) -> str:
    """The glossary's explanations of ``terms``, for a widget's ``help=`` (``KeyError`` for an unknown term)."""
    return "  \n".join(f"**{t}**: {GLOSSARY[t]}" for t in terms)


def glossary_markdown() -> str:
    """The whole glossary as a Markdown list, in alphabetical order (the sidebar's expander)."""
    return "\n".join(f"- **{t}**: {GLOSSARY[t]}" for t in sorted(GLOSSARY, key=str.casefold))


def fpr_words(fpr: float) -> str:
    """An operating point as the app says it: ``0.05`` → ``"5 % clean false positives"``."""
    return f"{100 * float(fpr):g} % clean false positives"
