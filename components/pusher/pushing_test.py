from pathlib import Path

import pytest

from components.pusher import pushing


def _model(root: Path, payload: bytes = b"graph") -> Path:
    (root / "variables").mkdir(parents=True)
    (root / "saved_model.pb").write_bytes(payload)
    (root / "variables" / "variables.index").write_bytes(b"index")
    return root


def test_first_push_is_version_1_with_the_model_files(tmp_path):
    model = _model(tmp_path / "model")
    result = pushing.push(model, tmp_path / "serving")
    assert result.pushed and result.version == 1
    assert (tmp_path / "serving" / "1" / "saved_model.pb").read_bytes() == b"graph"
    assert pushing.fingerprint(result.path) == pushing.fingerprint(model)


def test_pushing_the_same_model_again_pushes_nothing(tmp_path):
    model = _model(tmp_path / "model")
    pushing.push(model, tmp_path / "serving")
    again = pushing.push(model, tmp_path / "serving")
    assert not again.pushed and again.version == 1
    assert pushing.versions(tmp_path / "serving") == [1]


def test_a_different_model_becomes_the_next_version_and_no_staging_is_left(tmp_path):
    pushing.push(_model(tmp_path / "a", b"one"), tmp_path / "serving")
    result = pushing.push(_model(tmp_path / "b", b"two"), tmp_path / "serving")
    assert result.pushed and result.version == 2
    assert sorted(p.name for p in (tmp_path / "serving").iterdir()) == ["1", "2"]


def test_a_version_taken_concurrently_is_skipped_not_overwritten(tmp_path, monkeypatch):
    serving = tmp_path / "serving"
    pushing.push(_model(tmp_path / "a", b"one"), serving)
    real_versions = pushing.versions

    # Another pusher creates version 2 between our listing and our rename.
    def racing_versions(root):
        found = real_versions(root)
        (root / "2").mkdir(exist_ok=True)
        (root / "2" / "saved_model.pb").write_bytes(b"theirs")
        return found

    monkeypatch.setattr(pushing, "versions", racing_versions)
    result = pushing.push(_model(tmp_path / "b", b"ours"), serving)
    assert result.version == 3
    assert (serving / "2" / "saved_model.pb").read_bytes() == b"theirs"
    assert (serving / "3" / "saved_model.pb").read_bytes() == b"ours"


def test_a_folder_without_saved_model_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a SavedModel"):
        pushing.push(tmp_path / "empty", tmp_path / "serving")
    assert not (tmp_path / "serving").exists()
