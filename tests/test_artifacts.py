"""Every shipped result file and the paper's numbers are in the manifest, so an accidental edit is caught."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.io.manifest import IntegrityError, verified_path

ART = Path(__file__).resolve().parent.parent / "artifacts"
LISTED = sorted(
    p.relative_to(ART).as_posix() for p in [*ART.glob("results/*/*.json"), ART / "paper" / "paper_results.json"]
)


def test_the_list_is_complete() -> None:
    names = {Path(p).name for p in LISTED}
    assert {
        "paper_results.json",
        "table2.json",
        "table3.json",
        "transfer.json",
        "loao.json",
        "table4.json",
        "detector_data.json",
        "operating_points.json",
    } <= names


@pytest.mark.parametrize("rel", LISTED)
def test_result_file_matches_the_manifest(rel: str) -> None:
    assert verified_path(rel) == ART / rel


def test_an_edited_result_is_refused(isolated: Path) -> None:
    path = isolated / "results" / "mnist" / "table3.json"
    path.write_text(path.read_text().replace("0.97", "0.99", 1))
    with pytest.raises(IntegrityError, match="table3.json"):
        verified_path("results/mnist/table3.json")
