"""bench/bench_02_verdicts.py on a few draws: one JSON line, a row per lever."""

import json
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import bench_02_verdicts  # noqa: E402
from models import mc, verdict  # noqa: E402
from models.config import ConfigError  # noqa: E402


@pytest.mark.slow  # a benchmark's JSON line: .ci/run runs them after the rest
def test_one_json_line_with_a_row_per_lever_and_the_defaults_restored(capsys):
    bench_02_verdicts.main(DRAWS_PER_DIGIT=12, DRAW_BATCH=64, OLD_DRAW_BATCH=16, REPEATS=1, MC_PASSES=20)
    row = json.loads(capsys.readouterr().out.strip())
    assert row["images"] == 120 and [lever["lever"] for lever in row["levers"]] == list(bench_02_verdicts.LEVERS)
    assert row["levers"][0]["speedup"] == 1.0
    for lever in row["levers"]:
        assert len(lever["seconds"]) == 1 and lever["seconds"][0] > 0 and 0 < lever["mean_passes"] <= 20
    assert min(lever["mean_passes"] for lever in row["levers"][:2]) >= 5, "every image its first look (5 passes)"
    assert mc.MIN_CALL_IMAGES == 8 and verdict.IMAGES_PER_BLOCK == mc.IMAGES_PER_BLOCK, "the defaults are back"


def test_an_unknown_lever_is_refused_before_any_work():
    with pytest.raises(ConfigError, match="LEVERS: unknown fast"):
        bench_02_verdicts.main(LEVERS="before,fast")
