"""bench/merge_generated.py: a generator ensemble's data, an equal share of each input per digit."""

import sys

import numpy as np
import pytest

from models.config import UserError
from models.files import save_npz
from models.generated import load_generated

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import merge_generated  # noqa: E402


def write(path, value, per_digit):
    """A generated.npz whose images of one file all hold ``value`` (so the output shows each one's share)."""
    y = np.repeat(np.arange(10), per_digit).astype(np.uint8)
    x = np.full((len(y), 28, 28), value, np.uint8)
    save_npz(path, x_train=x, y_train=y, ambiguous=np.arange(len(y)) % 2 == 0, x_raw=x + 1, y_raw=y,
             mean=np.zeros((len(y), 10), np.float32))


def test_every_digit_takes_an_equal_share_of_each_input(tmp_path):
    write(tmp_path / "a.npz", 10, 5)
    write(tmp_path / "b.npz", 20, 4)
    merge_generated.main(INPUTS=f"{tmp_path / 'a.npz'},{tmp_path / 'b.npz'}", N_PER_CLASS=6,
                         OUTPUT=str(tmp_path / "out" / "generated.npz"))
    data = load_generated(tmp_path / "out" / "generated.npz", "merge")
    for k in range(10):
        assert list(data["x_train"][data["y_train"] == k][:, 0, 0]) == [10, 10, 10, 20, 20, 20]
        assert list(data["x_raw"][data["y_raw"] == k][:, 0, 0]) == [11, 11, 11, 21, 21, 21]
    assert list(data["ambiguous"][:3]) == [True, False, True]
    with np.load(tmp_path / "out" / "generated.npz") as f:
        assert f["mean"].shape == (60, 10) and "a.npz" in str(f["record"])
    with pytest.raises(UserError, match="b.npz has 4 x_train of digit 0, 5 are needed"):
        merge_generated.main(INPUTS=f"{tmp_path / 'a.npz'},{tmp_path / 'b.npz'}", N_PER_CLASS=10,
                             OUTPUT=str(tmp_path / "out2.npz"))
