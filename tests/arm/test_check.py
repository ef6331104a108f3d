"""Bundles checked on aarch64 under emulation: a float and an int8 classifier and a generation bundle give
the same predictions as here; planted mismatches fail with a clear message (a weight changed in the
emulated run's copy of the bundle; qemu's default CPU model on int8); the comparison rule itself."""

import json
import shutil

import numpy as np
import pytest

from liteformer.arm import env as arm_env
from liteformer.arm.check import compare, verify_arch
from liteformer.errors import LiteformerError
from liteformer.export.exporter import export_model
from liteformer.export.options import ExportOptions
from liteformer.models.checkpoint import load_model
from tests.compress.test_quantize import trained  # noqa: F401  (a trained toy teacher)
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def arm():
    reason = arm_env.why_not()
    if reason:
        pytest.skip(f"aarch64 emulation: {reason}")
    try:
        return arm_env.ensure(("onnx", "litert"), log=lambda s: None)
    except LiteformerError as e:  # no network to fetch qemu, the arm64 Python or the wheels
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def bundles(trained, tmp_path_factory):  # noqa: F811
    path, _, dev = trained
    lm = load_model(path)
    root = tmp_path_factory.mktemp("arm")
    texts = [line.split("\t")[0] for line in open(dev).read().splitlines()[1:33]]
    out = {}
    for name, rt, q in (("onnx-fp32", "onnx", None), ("litert-int8", "litert", "int8-dynamic")):
        export_model(lm, rt, root / name, ExportOptions(max_length=32, quantize=q), texts, threads=1)
        out[name] = root / name
    return out, dev


@pytest.mark.parametrize("name", ["onnx-fp32", "litert-int8"])
def test_bundles_agree_on_aarch64(arm, bundles, name):
    paths, dev = bundles
    r = verify_arch(paths[name], n=8, data=dev, env=arm, log=lambda s: None)
    assert r.ok and r.agreement == 1.0 and r.inputs == 8, r.format()
    assert r.quantized == (name == "litert-int8") and (r.quantized or r.max_abs_diff <= 1e-4)
    assert r.memory["x86_64"]["peak"] > r.memory["x86_64"]["bare"] > 0 and "aarch64" in r.memory
    model = next(f for f in paths[name].iterdir() if f.suffix in (".onnx", ".tflite"))
    assert r.artifact_mib == model.stat().st_size / 2**20 and "x the" in r.format()


def test_a_planted_mismatch_fails_with_a_clear_message(arm, bundles, tmp_path):
    """The emulated run gets a copy of the bundle with its classifier's weights scaled: the check names it."""
    paths, dev = bundles

    class Planted(arm_env.ArmEnv):
        def command(self, args, cpu=arm_env.CPU):
            broken = tmp_path / "broken"
            if not broken.exists():
                shutil.copytree(args[3], broken)
                import onnx
                m = onnx.load(broken / "model.onnx")
                for t in m.graph.initializer:
                    if "classifier" in t.name and t.dims and len(t.dims) == 2:
                        w = onnx.numpy_helper.to_array(t) * -1.0
                        t.CopyFrom(onnx.numpy_helper.from_array(w.astype(np.float32), t.name))
                onnx.save(m, broken / "model.onnx")
            return super().command([*args[:3], str(broken), *args[4:]], cpu)
    planted = Planted(arm.qemu, arm.root, arm.site, arm.cpuinfo)
    r = verify_arch(paths["onnx-fp32"], n=8, data=dev, env=planted, log=lambda s: None)
    assert not r.ok and "outputs differ by" in r.message and "at input" in r.message


def test_qemus_default_cpu_model_is_caught_on_int8(arm, bundles):
    """qemu 7.2's default 'max' CPU emulates SME and computes int8 wrongly: the check sees it (which is why
    neoverse-n1 is pinned)."""
    paths, dev = bundles
    r = verify_arch(paths["litert-int8"], n=8, data=dev, cpu="max", env=arm, log=lambda s: None)
    assert not r.ok and "predictions agree on" in r.message and r.cpu == "max"


def test_the_rule_on_synthetic_outputs():
    a = {"logits_0": np.array([0.1, 0.9]), "tokens_0": np.array([1]), "logits_1": np.array([0.6, 0.4]),
         "tokens_1": np.array([0])}
    same = {k: v.copy() for k, v in a.items()}
    assert compare(a, same, 2, quantized=False) == (1.0, 0.0, None)
    near = {**same, "logits_0": np.array([0.1, 0.90005])}
    assert compare(a, near, 2, quantized=False)[2] is None
    far = {**same, "logits_1": np.array([0.4, 0.6]), "tokens_1": np.array([1])}
    agreement, worst, msg = compare(a, far, 2, quantized=True)
    assert agreement == 0.5 and "agree on 1/2 inputs" in msg
    assert "differ by 2.00e-01" in compare(a, far, 2, quantized=False)[2]


def test_cli_verify_and_its_bad_input(arm, bundles, tmp_path):
    paths, dev = bundles
    r = run_cli("verify", str(paths["onnx-fp32"]), "--n", "4", "--data", dev, "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)[0]["ok"] is True
    r = run_cli("verify", str(tmp_path / "nope"))
    assert r.returncode == 2 and "not a bundle folder" in r.stderr and "Traceback" not in r.stderr
    et = tmp_path / "et"  # an ExecuTorch bundle is refused with the reason (its wheel needs PyTorch)
    shutil.copytree(paths["onnx-fp32"], et)
    side = json.loads((et / "liteformer.json").read_text())
    (et / side["artifact"]).rename(et / "model.pte")
    (et / "liteformer.json").write_text(json.dumps({**side, "runtime": "executorch", "artifact": "model.pte"}))
    r = run_cli("verify", str(et), "--n", "2")
    assert r.returncode == 2 and "links PyTorch" in r.stderr and "Traceback" not in r.stderr, r.stderr
