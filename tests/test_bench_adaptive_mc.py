"""bench/bench_adaptive_mc.py on a few images: one JSON line whose figures hang together."""

import json
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import bench_adaptive_mc  # noqa: E402


@pytest.mark.slow  # a benchmark's JSON line: .ci/run runs them after the rest
def test_one_json_line_of_disagreements_passes_and_speeds(capsys):
    bench_adaptive_mc.main(GENERATED_PER_DIGIT=3, REAL=30, MC_PASSES=20, MC_ROUND_PASSES=5, MC_MIN_PASSES=5,
                           BOOTSTRAP=20, SWEEP_Z="3", SWEEP_CLEAR_Z="0,1", SEEDS_PER_RULE=2,
                           SWEEP_LEVERS="rounds=5/5,futility=10", TIMED_LEVERS="rounds=10/10")
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert row["images"] == {"generated": 30, "real": 30}
    for name in ("floor_full_vs_full", "adaptive_vs_full", "rule_error_on_its_own_passes", "bfloat16_adaptive_vs_full"):
        assert 0 <= row[name] <= 1, name
    assert 5 <= row["mean_passes"] <= 20 and sum(row["passes_histogram"].values()) == 60
    assert set(map(int, row["passes_histogram"])) <= {5, 10, 15, 20}
    assert row["full_verdicts_per_s"] > 0 and row["speedup"] > 0
    assert set(row["ambiguous_share"]) == {"full_a", "full_b", "float32_adaptive", "bfloat16_adaptive"}
    assert [(s["z"], s["clear_z"]) for s in row["sweep"]] == [(3.0, 0.0), (3.0, 1.0)]
    sweep = {s["clear_z"]: s for s in row["sweep"]}
    assert sweep[1.0]["mean_passes"] >= sweep[0.0]["mean_passes"], "a wider margin never stops an image sooner"
    assert sweep[1.0]["error_on_own_passes"] == row["rule_error_on_its_own_passes"], "the default margins"
    on_a = {lever["lever"]: lever for lever in row["levers"]["on_a"]}
    assert list(on_a) == ["rounds=5/5", "futility=10"]
    assert on_a["rounds=5/5"]["error_on_own_passes"] == row["rule_error_on_its_own_passes"], "the defaults again"
    assert on_a["futility=10"]["mean_passes"] <= on_a["rounds=5/5"]["mean_passes"], "a futility stop only stops"
    assert [t["lever"] for t in row["levers"]["timed"]] == ["rounds=10/10"]
    for timed in row["levers"]["timed"]:
        assert timed["speedup"] > 0 and 0 <= timed["vs_full"] <= 1 and 5 <= timed["mean_passes"] <= 20


def test_a_lever_it_cannot_time_is_refused_before_any_work():
    with pytest.raises(bench_adaptive_mc.config.ConfigError, match="futility stop is measured on A's passes only"):
        bench_adaptive_mc.main(TIMED_LEVERS="futility=10")
    with pytest.raises(bench_adaptive_mc.config.ConfigError, match="unknown lever 'jit_compile'"):
        bench_adaptive_mc.main(SWEEP_LEVERS="jit_compile")
    with pytest.raises(bench_adaptive_mc.config.ConfigError, match="cannot read 'rounds=5'"):
        bench_adaptive_mc.main(SWEEP_LEVERS="rounds=5")
