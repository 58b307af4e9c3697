from pathlib import Path

import pytest

from bench import forecast


def test_missing_data_exits_2(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as exc:
        forecast.main(["--data", str(tmp_path / "absent"), "--quick"])
    assert exc.value.code == 2
    assert "benchmark data missing" in capsys.readouterr().err


def test_setups_are_consistent():
    assert forecast.QUICK.test_days * forecast.STEPS_PER_DAY % forecast.H == 0
    assert forecast.FULL.timing_series == 1000


def test_only_picks_a_part_and_refuses_others(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as exc:
        forecast.main(["--data", str(tmp_path / "absent"), "--quick", "--only", "gift"])
    assert exc.value.code == 2 and "benchmark data missing" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        forecast.main(["--data", str(tmp_path), "--only", "medium"])
    assert exc.value.code == 2 and "invalid choice: 'medium'" in capsys.readouterr().err
