"""Mismatch Lab engine: bi-model decision-mismatch adversarial-example detection.

Public face: ``core.data``, ``core.models``, ``core.attacks``, ``core.detector`` and the ``python -m core``
CLI.  Nothing in this package imports Streamlit.  The names below are the one place for each label.
"""

DATASETS = ("mnist", "cifar10")
FPRS = (0.01, 0.05, 0.10)  # the operating points (clean false-positive rates) stored with every shipped detector
DEFAULT_FPR = 0.05  # the one every verdict uses unless the user picks another
DATASET_LABELS = {"mnist": "MNIST", "cifar10": "CIFAR-10"}
ATTACK_NAMES = ("fgsm", "igsm", "jsma", "deepfool", "gaussian_blur", "gaussian_noise", "salt_and_pepper")
ATTACK_LABELS = {  # what the dashboard and the docs call each attack
    "fgsm": "FGSM", "igsm": "IGSM", "jsma": "JSMA", "deepfool": "DeepFool",
    "gaussian_blur": "Gaussian blur", "gaussian_noise": "Gaussian noise", "salt_and_pepper": "Salt & pepper",
}
ATTACK_SHORT = {  # table columns and matrix axes, where space is short
    "fgsm": "FGSM", "igsm": "IGSM", "jsma": "JSMA", "deepfool": "DeepFool",
    "gaussian_blur": "Blur", "gaussian_noise": "Noise", "salt_and_pepper": "S&P",
}
UNSEEN_ATTACK_NAMES = ("pgd_min", "cw_l2", "square")  # attacks no shipped detector trained on (held-out report)
UNSEEN_LABELS = {"pgd_min": "Minimal L∞ PGD", "cw_l2": "Carlini–Wagner L2", "square": "Square (black box)"}
DETECTION_METHOD_LABELS = {  # Table IV's methods: the paper's keys and ours
    "feature_squeezing": "Feature squeezing", "ensemble": "Ensemble (Bagnall et al.)", "proposed": "Bi-model mismatch",
    "feinman": "Feinman et al. (KDE + BU)", "ours": "Bi-model mismatch",
}
