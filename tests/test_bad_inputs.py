"""The catalogue of bad inputs: each one exits with code 2 and one line naming the key, file or flag.

Every case runs ``run_all.py``'s ``main`` in-process on temporary folders and fails before any
training (the few that need a training step to show themselves are marked slow). A case asserts
exit code 2, exactly one line on stderr starting ``error:``, the names it must mention, and no
traceback; a few run as subprocesses to check the same of the real command.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from repro.cli import main

REPO = Path(__file__).resolve().parents[1]
TABLE = ["--table", "ssa_table2", "--rows", "ssa", "--seeds", "0", "--no-progress"]


@pytest.fixture
def dirs(tmp_path):
    d = {k: tmp_path / k for k in ("results", "reports", "runs", "cache")}
    return d, ["--results-dir", str(d["results"]), "--reports-dir", str(d["reports"]),
               "--runs-dir", str(d["runs"]), "--cache-dir", str(d["cache"])]


def expect_error(capsys, argv: list[str], *names: str) -> str:
    rc = main(argv)
    out = capsys.readouterr()
    lines = [x for x in out.err.strip().splitlines() if x.strip()]
    assert rc == 2, (rc, out.err[-2000:])
    assert "Traceback" not in out.err + out.out
    assert len(lines) == 1 and lines[0].startswith("error: "), out.err
    for n in names:
        assert n in lines[0], (n, lines[0])
    return lines[0]


# --set values out of range or of the wrong kind: (override, key the message must name).
BAD_VALUES = [
    ("train.epochs=0", "train.epochs"), ("train.epochs=-3", "train.epochs"),
    ("train.max_iters=-2", "train.max_iters"), ("train.max_iters=0", "train.max_iters"),
    ("train.batch_size=0", "train.batch_size"), ("train.lr=-0.1", "train.lr"), ("train.lr=0", "train.lr"),
    ("model.frames=0", "model.frames"), ("eval.clips=0", "eval.clips"), ("eval.crops=2", "eval.crops"),
    ("eval.batch_size=0", "eval.batch_size"), ("data.crop=300", "data.crop"),
    ("eval.crop_size=64", "eval.crop_size"), ("train.momentum=1.5", "train.momentum"),
    ("model.dropout=1.0", "model.dropout"), ("train.weight_decay=-1", "train.weight_decay"),
    ("train.label_smoothing=1", "train.label_smoothing"), ("train.amp=fp16", "train.amp"),
    ("train.threads=0", "train.threads"), ("data.max_bad_fraction=2", "data.max_bad_fraction"),
    ("train.seed=-1", "train.seed"), ("train.schedule=linear", "train.schedule"),
    ("model.insert.position=middle", "model.insert.position"), ("model.insert.module=nope", "model.insert.module"),
    ("model.backbone.layers=[1, 1]", "model.backbone.layers"), ("model.backbone.arch=vit", "model.backbone.arch"),
    ("data.label_order=random", "data.label_order"), ("train.warmup_epochs=-1", "train.warmup_epochs"),
    ("train.steps=[0]", "train.steps"), ("data.num_workers=-1", "data.num_workers"),
    ("train.epochs=abc", "train.epochs"), ("model.unknown=1", "model.unknown"), ("train=3", "train"),
    ("train.epochs=[1", "--set"), ("noequals", "--set"),
    # Paper-profile fidelity keys (issue 10): geometry, crops, flip modes, sampling, groups.
    ("data.flip=true", "data.flip"), ("data.flip=mirror", "data.flip"),
    ("data.resize=[240]", "data.resize"), ("data.resize=[0, 32]", "data.resize"),
    ("data.crop_mode=zoom", "data.crop_mode"), ("data.crop_mode=jitter", "data.jitter"),
    ("data.jitter=[320, 256]", "data.jitter"), ("data.sampling=sparse", "data.sampling"),
    ("data.flip_keep=[-1]", "data.flip_keep"), ("eval.clip_layout=middle", "eval.clip_layout"),
    ("eval.checkpoint=first", "eval.checkpoint"), ("train.lr_step=batch", "train.lr_step"),
    ("train.no_decay=[conv]", "train.no_decay"), ("train.lr_mult={fc: 5}", "train.lr_mult.fc"),
    ("model.fc_init=normal:-1", "model.fc_init"), ("model.drop_path=1", "model.drop_path"),
    ("train.final_lr_ratio=1", "train.final_lr_ratio"),
    # Ensembles, published checkpoints and PySlowFast parity (issues 10 and 11).
    ("eval.average=mean", "eval.average"), ("eval.single_crop=left", "eval.single_crop"),
    ("train.precise_bn=-1", "train.precise_bn"), ("model.weights_source=caffe", "model.weights_source"),
    ("data.crop_mode=jitter_inverse", "data.jitter"),
]


@pytest.mark.parametrize("override,key", BAD_VALUES, ids=[v[0] for v in BAD_VALUES])
def test_bad_config_values(capsys, dirs, override, key):
    line = expect_error(capsys, [*TABLE, *dirs[1], "--set", override], key)
    assert "--set" in line  # the flag that set it


BAD_PLACES = [
    (["--set", "model.insert.stages.layer2=[9]"], ["model.insert.stages.layer2", "block 9", "4 blocks"]),
    (["--set", "model.insert.stages.layer2=[-1]"], ["model.insert.stages.layer2", "-1"]),
    (["--set", "model.insert.stages.layer4=[3]"], ["model.insert.stages.layer4", "block 3"]),
    (["--profile", "smoke", "--set", "model.insert.stages.layer3=[6]"], ["model.insert.stages.layer3", "block 6"]),
    (["--profile", "smoke", "--set", "model.backbone.depth=34"], ["model.backbone.depth", "34"]),
]


@pytest.mark.parametrize("extra,names", BAD_PLACES, ids=["layer2-9", "layer2-neg", "layer4-3", "smoke-layer3-6",
                                                        "depth-34"])
def test_impossible_places_are_refused(capsys, dirs, extra, names):
    expect_error(capsys, [*TABLE, *dirs[1], *extra], *names)


def test_misspelled_module_argument(capsys, dirs):
    expect_error(capsys, [*TABLE, *dirs[1], "--set", "model.insert.args={taa: true}"],
                 "model.insert.args", "taa", "--set")


def test_unknown_argument_of_a_function_module(capsys, dirs):
    expect_error(capsys, ["--table", "ssa_table2", "--rows", "nl3d", *dirs[1], "--set",
                          "model.insert.args={foo: 1}"], "model.insert.args", "foo")


def _spec(tmp_path: Path, name: str = "ssa_table2", **change) -> Path:
    data = yaml.safe_load((REPO / "experiments" / "ssa_table2.yaml").read_text())
    for key, value in change.items():
        node = data
        parts = key.split("__")
        for p in parts[:-1]:
            node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
        node[parts[-1]] = value
    path = tmp_path / "specs" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


SPEC_FILES = [
    ({"rows__4__model": {"insert": {"module": "ssa", "args": {"taa": True}}}}, ["model.insert.args", "taa"]),
    ({"defaults__data": {"crop": 300}}, ["data.crop", "(defaults)"]),
    ({"rows__0__train": {"epochs": 0}}, ["train.epochs", "rows[0]"]),
    ({"defaults__model__insert__stages": {"layer2": [9]}}, ["model.insert.stages.layer2", "block 9"]),
    ({"rows__0__colour": "red"}, ["rows[0].colour", "unknown key"]),
    ({"dataset": "ucf101"}, ["dataset", "ucf101"]),
    ({"id": "other"}, ["id", "file name"]),
    ({"fidelity": {"flip": {"expect": {"data.flipp": "none"}}}}, ["fidelity.flip", "data.flipp", "not a config key"]),
    ({"rows__0__fidelity": {"colour": {"paper": "x"}}}, ["rows[0].fidelity.colour", "unknown key"]),
    ({"rows__0__member_eval": {"clips": 2}}, ["rows[0]", "member_eval", "ensemble"]),
    ({"rows__0__checkpoints": [{"publisher": "x", "file": "f.pth", "page": "p", "source": "caffe"}]},
     ["rows[0].checkpoints[0].source", "caffe"]),
]


@pytest.mark.parametrize("change,names", SPEC_FILES, ids=["row-args", "defaults-crop", "row-epochs",
                                                          "defaults-places", "unknown-key", "dataset", "id",
                                                          "fidelity-key", "fidelity-setting", "member-eval",
                                                          "checkpoint-source"])
def test_bad_spec_files_name_file_and_key(capsys, dirs, tmp_path, change, names):
    path = _spec(tmp_path, **change)
    rows = "ssa" if "rows__4" in str(change) or "rows__0" not in str(change) else "nl3d"
    line = expect_error(capsys, ["--table", str(path), "--rows", rows, "--seeds", "0", *dirs[1]], *names)
    assert str(path) in line


def test_broken_yaml_spec(capsys, dirs, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("id: broken\nrows: [\n")
    expect_error(capsys, ["--table", str(path), *dirs[1]], str(path), "not valid YAML")


def test_missing_spec_file_and_unknown_table(capsys, dirs, tmp_path):
    expect_error(capsys, ["--table", str(tmp_path / "nope.yaml"), *dirs[1]], "nope.yaml")
    expect_error(capsys, ["--table", "ssa_table99", *dirs[1]], "ssa_table99", "known tables")


FLAGS = [
    (["--seeds", "-1"], ["--seeds"]), (["--seeds", ","], ["--seeds"]), (["--seeds", "a,b"], ["--seeds"]),
    (["--seeds", "0,0"], ["--seeds"]), (["--jobs", "abc"], ["--jobs"]), (["--jobs", "0"], ["--jobs"]),
    (["--data-root", "ssv3=/tmp"], ["--data-root", "ssv3"]), (["--data-root", "ssv2"], ["--data-root"]),
    (["--data-root", "ssv2=/nonexistent/ssv2"], ["--data-root", "/nonexistent/ssv2"]),
    (["--rows", "nope"], ["--rows", "nope"]), (["--rows", ","], ["--rows"]),
    (["--profile", "nope"], ["--profile", "nope"]), (["--probe"], ["--probe", "--table"]),
    (["--report-only", "--cost"], ["--report-only", "--cost"]), (["--frobnicate"], ["--frobnicate"]),
    (["--report-only", "--seeds", "0"], ["--seeds", "--report-only"]),
    (["--report-only", "--set", "train.epochs=1"], ["--set", "--report-only"]),
    (["--cost", "--jobs", "2"], ["--jobs", "--cost"]),
    (["--eval-only"], ["--eval-only", "--weights"]),
    (["--undecided-seeds", "1"], ["--undecided-seeds", "at least 2"]),
    (["--undecided-seeds", "8"], ["--undecided-seeds", "--rows"]),
    (["--eval-only", "--weights", "/nonexistent/TSM.pth"], ["/nonexistent/TSM.pth", "--weights"]),
]


@pytest.mark.parametrize("extra,names", FLAGS, ids=[" ".join(f[0]) for f in FLAGS])
def test_bad_flags(capsys, dirs, extra, names):
    argv = ["--table", "ssa_table2", "--no-progress", *dirs[1], *extra]
    if "--rows" not in extra:
        argv += ["--rows", "ssa"]
    expect_error(capsys, argv, *names)


def test_probe_with_another_profile_and_no_table(capsys, dirs):
    expect_error(capsys, ["--probe", "--profile", "paper", *dirs[1]], "--probe", "--profile")
    expect_error(capsys, [*dirs[1]], "--table")


@pytest.mark.parametrize("flag", ["--results-dir", "--reports-dir", "--runs-dir", "--cache-dir"])
def test_output_folder_that_is_a_file(capsys, dirs, tmp_path, flag):
    f = tmp_path / "a_file"
    f.write_text("x")
    argv = [*TABLE, *[a if a != str(dirs[0][flag[2:-4]]) else str(f) for a in dirs[1]]]
    expect_error(capsys, argv, flag, "a_file")


def test_output_folder_under_a_file(capsys, dirs, tmp_path):
    f = tmp_path / "a_file"
    f.write_text("x")
    expect_error(capsys, [*TABLE, "--results-dir", str(f / "sub")], "--results-dir", "a_file")


def test_report_only_with_a_mistyped_results_dir_writes_nothing(capsys, tmp_path):
    reports = tmp_path / "reports"
    expect_error(capsys, ["--report-only", "--table", "ssa_table2", "--results-dir", str(tmp_path / "resluts"),
                          "--reports-dir", str(reports)], "--results-dir", "resluts")
    assert not reports.exists()


def test_cost_checks_set_values(capsys, dirs):
    expect_error(capsys, ["--cost", "--table", "ssa_table2", *dirs[1], "--set", "model.frames=0"],
                 "model.frames", "--set")


@pytest.mark.slow
@pytest.mark.parametrize("argv,names", [(["--set", "train.lr=-1"], ["train.lr", "--set"])])
def test_real_command_prints_one_line(tmp_path, argv, names):
    """The same through the real entry point: exit 2, one line, no traceback."""
    proc = subprocess.run([sys.executable, str(REPO / "run_all.py"), "--table", "ssa_table2",
                           "--results-dir", str(tmp_path / "r"), "--reports-dir", str(tmp_path / "p"), *argv],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert all(n in lines[0] for n in names), lines


# Bad inputs that only show themselves once a run starts: a user module that breaks, and a
# config that would train 0 steps. They still end with one line and exit code 2.
TINY = ["--set", "train.epochs=1", "--set", "train.max_iters=1", "--set", "data.train_per_class=2",
        "--set", "data.val_per_class=1", "--set", "train.batch_size=4"]

USER_MODULES = '''
import torch
from torch import nn

class Raises(nn.Module):
    def __init__(self, channels):
        super().__init__()
    def forward(self, x):
        raise RuntimeError("boom")

class Reshapes(nn.Module):
    def __init__(self, channels):
        super().__init__()
    def forward(self, x):
        return x[:, :, :1]

class BadInit(nn.Module):
    def __init__(self, channels):
        raise ValueError("no such channels")
'''


@pytest.mark.slow
@pytest.mark.parametrize("cls,names", [("Raises", ["RuntimeError", "boom"]),
                                       ("Reshapes", ["returned", "unchanged"]),
                                       ("BadInit", ["no such channels"])])
def test_user_module_errors_name_module_and_place(capsys, dirs, tmp_path, monkeypatch, tiny_root, cls, names):
    (tmp_path / "catalogue_blocks.py").write_text(USER_MODULES)
    monkeypatch.syspath_prepend(str(tmp_path))
    cache = tiny_root.parents[1]
    argv = ["--table", "ssa_table2", "--rows", "nl3d", "--seeds", "0", "--no-progress", "--jobs", "1",
            *dirs[1][:6], "--cache-dir", str(cache), *TINY, "--set", f"model.insert.module=catalogue_blocks:{cls}"]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err, err
    assert f"catalogue_blocks:{cls}" in err and "layer2.0" in err, err
    assert all(n in err for n in names), err
    assert not list(dirs[0]["results"].rglob("*.json"))


@pytest.mark.slow
def test_zero_training_steps_is_an_error_not_a_result(capsys, dirs, tiny_root):
    cache = tiny_root.parents[1]
    argv = ["--table", "ssa_table2", "--rows", "nl3d", "--seeds", "0", "--no-progress", "--jobs", "1",
            *dirs[1][:6], "--cache-dir", str(cache), *TINY, "--set", "train.batch_size=64"]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and "0 training steps" in err and "train.batch_size" in err, err
    assert not list(dirs[0]["results"].rglob("*.json"))


# Retrieval rows (issue 13): their settings, word vectors, dataset roots and --extract-features.
RETRIEVAL = ["--table", "ssa_table7", "--rows", "gru_ssa", "--seeds", "0", "--no-progress"]
BAD_RETRIEVAL = [
    (["--set", "retrieval.text_encoder=lstm"], ["retrieval.text_encoder", "lstm", "--set"]),
    (["--set", "retrieval.epochs=0"], ["retrieval.epochs", "--set"]),
    (["--set", "retrieval.margins=0.2"], ["retrieval.margins", "unknown key"]),
    (["--set", "retrieval.word_vectors=glove"], ["retrieval.word_vectors", "glove"]),
    (["--profile", "paper", "--data-root", "msrvtt={tmp}"], ["retrieval.word2vec", "gru_ssa"]),
    (["--profile", "paper", "--data-root", "msrvtt={tmp}", "--set", "retrieval.word2vec={tmp}/none.bin"],
     ["retrieval.word2vec", "none.bin", "no such file"]),
    (["--data-root", "msrvtt={tmp}/nowhere"], ["--data-root", "not a folder"]),
]


@pytest.mark.parametrize("extra,names", BAD_RETRIEVAL, ids=["encoder", "epochs", "unknown", "word-vectors",
                                                           "no-word2vec", "word2vec-missing", "root"])
def test_bad_retrieval_inputs(capsys, dirs, tmp_path, monkeypatch, extra, names):
    monkeypatch.delenv("REPRO_WORD2VEC", raising=False)
    extra = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    expect_error(capsys, [*RETRIEVAL, *dirs[1], *extra], *names)


def test_extract_features_needs_a_retrieval_table(capsys, dirs):
    expect_error(capsys, ["--table", "ssa_table2", "--extract-features", *dirs[1]], "--extract-features",
                 "ssa_table7")


def test_fidelity_honours_set_retrieval(capsys):
    """--fidelity resolves the retrieval settings with --set, so an out-of-range one is refused."""
    expect_error(capsys, ["--table", "ssa_table7", "--fidelity", "--set", "retrieval.epochs=0"],
                 "retrieval.epochs", "--set", ">= 1")


@pytest.mark.parametrize("path,names", [
    ("math:pi", ["math:pi", "float", "torch.nn.Module"]),
    ("math:sqrt", ["math:sqrt", "builtin", "torch.nn.Module"]),
    ("collections:OrderedDict", ["collections:OrderedDict", "without forward"]),
    ("not_a_module_maker:build", ["not_a_module_maker:build", "returned int", "torch.nn.Module"]),
], ids=["constant", "builtin", "other-class", "function-returning-int"])
def test_a_class_path_to_a_non_module_is_named(capsys, tmp_path, monkeypatch, path, names):
    (tmp_path / "not_a_module_maker.py").write_text("def build(channels, **kw):\n    return 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    expect_error(capsys, ["--table", "ssa_table2", "--rows", "ssa", "--cost", "--results-dir", str(tmp_path / "r"),
                          "--set", f"model.insert.module={path}"], *names)


def test_a_switch_of_a_module_rejects_a_string(capsys, tmp_path):
    """`sa: "yes"` was accepted (a non-empty string is truthy); a switch takes true or false."""
    expect_error(capsys, ["--table", "ssa_table2", "--rows", "ssa", "--cost", "--results-dir", str(tmp_path),
                          "--set", 'model.insert.args={sa: "yes"}'], "model.insert.args.sa", "switch", "'yes'")


def _ssv2_copy(tmp_path: Path, edit) -> Path:
    """A copy of the smoke SSv2 root (its videos linked) whose annotation JSONs ``edit`` changes:
    ``edit(labels, train, validation)`` works on the parsed files in place."""
    import json
    import shutil

    from repro.data import smoke

    src = smoke.ensure_layout("ssv2", REPO / ".cache")
    root = tmp_path / "ssv2"
    shutil.copytree(src / "labels", root / "labels")
    for d in src.iterdir():
        if d.name != "labels":
            (root / d.name).symlink_to(d)
    files = ["labels", "train", "validation"]
    parsed = [json.loads((root / "labels" / f"something-something-v2-{f}.json").read_text()) for f in files]
    edit(*parsed)
    for f, data in zip(files, parsed):
        (root / "labels" / f"something-something-v2-{f}.json").write_text(json.dumps(data))
    return root


def _index_twice(labels, train, val):
    a, b = list(labels)[:2]
    labels[b] = labels[a]


def _index_past_the_end(labels, train, val):
    labels[next(iter(labels))] = str(len(labels) + 3)


def _video_listed_twice(labels, train, val):
    val.append(dict(val[0]))


def _more_templates_than_classes(labels, train, val):
    """A labels file of 200 templates: its own indices are in range, the dataset's 174 are not."""
    for i in range(len(labels), 200):
        labels[f"extra template {i}"] = str(i)
    val[0]["template"] = "extra template 199"


def _second_entry_without_a_template(labels, train, val):
    del val[1]["template"]


@pytest.mark.parametrize("edit, names", [
    (_second_entry_without_a_template, ["something-something-v2-validation.json", "entry 1 lacks"]),
    (_index_twice, ["something-something-v2-labels.json", "class index", "given to both"]),
    (_index_past_the_end, ["something-something-v2-labels.json", "is outside 0.."]),
    (_video_listed_twice, ["val split", "is listed twice"]),
    (_more_templates_than_classes, ["val split", "has label 199, outside 0..173"]),
])
def test_bad_ssv2_annotations_are_named(capsys, dirs, tmp_path, edit, names):
    root = _ssv2_copy(tmp_path, edit)
    expect_error(capsys, [*TABLE, *dirs[1], "--profile", "paper", "--data-root", f"ssv2={root}",
                          "--set", "model.backbone.pretrained=none"], *names)
