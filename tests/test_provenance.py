"""vfrepro.provenance: seeds, weights (sha256 or random init), git commit, config hash, files."""

import hashlib
import json
import subprocess
import sys

from vfrepro.provenance import collect, config_sha256, git_commit, seeds, weights

CONFIG = {
    "cohort": {"source": "synthetic", "manifest": "", "synthetic": {"n_patients": 12, "seed": 7}},
    "demo": {"enabled": True, "seed": 11, "deep": {"split_seed": 3},
             "weights": {"init": "pretrained", "imagenet": "w/imagenet.pth", "radimagenet": ""}},
    "other": {"enabled": True, "weights": {"init": "random", "imagenet": "w/imagenet.pth"}},
}


def test_seeds_and_config_hash_ignore_key_order():
    assert seeds(CONFIG, "demo") == {"demo.seed": 11, "demo.deep.split_seed": 3,
                                     "cohort.synthetic.seed": 7}
    reordered = json.loads(json.dumps(CONFIG, sort_keys=True))
    assert config_sha256(reordered) == config_sha256(CONFIG)
    changed = json.loads(json.dumps(CONFIG))
    changed["demo"]["seed"] = 12
    assert config_sha256(changed) != config_sha256(CONFIG)


def test_weights_hash_the_files_or_say_random(tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w/imagenet.pth").write_bytes(b"weights")
    got = weights(CONFIG, "demo", tmp_path)
    assert got["init"] == "pretrained"
    assert got["files"] == {"imagenet": {"path": "w/imagenet.pth",
                                         "sha256": hashlib.sha256(b"weights").hexdigest()},
                            "radimagenet": "random init"}
    assert weights(CONFIG, "other", tmp_path) == {"init": "random init",
                                                  "files": {"imagenet": "random init"}}
    assert weights(CONFIG, "demo", tmp_path / "elsewhere")["files"]["imagenet"]["sha256"] == "missing"
    # A branch without a weights section (or only empty entries) used random initialisation.
    assert weights({"x": {"weights": {"resnet18": ""}, "train": {"class_weights": "balanced"}}}, "x") == \
        {"init": "random init", "files": {"resnet18": "random init"}}
    assert weights({"x": {}}, "x") == {"init": "random init", "files": {}}


def test_git_commit_outside_a_checkout_is_unknown(tmp_path):
    assert git_commit(tmp_path)["commit"] == "unknown"
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("x")
    subprocess.run(["git", "-C", str(tmp_path), "add", "f"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-qm", "x"], check=True)
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    assert git_commit(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "f").write_text("y")
    assert git_commit(tmp_path)["dirty"] is True


def test_cli_writes_json_and_markdown(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(CONFIG))
    out_file = tmp_path / "table.csv"
    out_file.write_text("a\n1\n")
    proc = subprocess.run([sys.executable, "-m", "vfrepro.cli", "provenance", "--config-json", str(cfg),
                           "--study", "demo", "--outputs", str(out_file),
                           "--out", str(tmp_path / "p.json"), str(tmp_path / "p.md")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "p.json").read_text())
    assert record["config"] == CONFIG and record["git"]["commit"] == "unknown"
    assert record["packages"]["numpy"] and record["hardware"]["cores"] >= 1
    assert record["outputs"] == {str(out_file): hashlib.sha256(b"a\n1\n").hexdigest()}
    md = (tmp_path / "p.md").read_text()
    assert "# Provenance: demo" in md and record["config_sha256"] in md and "numpy" in md
