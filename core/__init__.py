"""Mismatch Lab engine: bi-model decision-mismatch adversarial-example detection.

Public face (see ../shared/CONTRACT.md): ``core.data``, ``core.models``,
``core.attacks``, ``core.detector`` and the ``python -m core`` CLI.  Nothing in
this package imports Streamlit.
"""

DATASETS = ("mnist", "cifar10")
ATTACK_NAMES = ("fgsm", "igsm", "jsma", "deepfool", "gaussian_blur", "gaussian_noise", "salt_and_pepper")
