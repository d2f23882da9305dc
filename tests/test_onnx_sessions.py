"""onnxruntime sessions shared by threads (retrieval/onnx_sessions.py): every core for a call
alone, one thread each for calls side by side, never more threads than cores."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from retrieval.errors import ModelLoadError
from retrieval.onnx_sessions import Cores, Sessions


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A real ONNX file: y = x @ W, small enough to build here."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.eye(8, dtype=np.float32), name="W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 8])], initializer=[weights])
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _threads(session) -> int:
    return session.get_session_options().intra_op_num_threads


def test_a_call_alone_gets_every_core_and_one_beside_it_gets_one_thread(model):
    sessions = Sessions(model, Cores(2))
    with sessions.session(wide=True) as alone:
        assert _threads(alone) == 2
    with sessions.session(wide=False) as small:
        assert _threads(small) == 1  # a small call never takes the second core
        with sessions.session(wide=True) as beside:
            assert _threads(beside) == 1 and beside is not small
    with sessions.session(wide=True) as again:
        assert again is alone  # made once, reused


def test_open_makes_the_session_a_call_alone_uses(model):
    for wide, threads in ((True, 2), (False, 1)):
        sessions = Sessions(model, Cores(2))
        sessions.open(wide=wide)
        assert sessions._made == (0 if wide else 1) and (sessions._wide is not None) == wide
        with sessions.session(wide=wide) as session:
            assert _threads(session) == threads


def test_concurrent_calls_never_take_more_cores_than_there_are(model):
    cores = Cores(2)
    sessions = Sessions(model, cores)
    peak, errors = [0], []
    x = np.ones((4, 8), dtype=np.float32)

    def ask(i: int) -> None:
        try:
            for _ in range(20):
                with sessions.session(wide=i % 2 == 0) as session:
                    with cores.changed:
                        peak[0] = max(peak[0], cores.busy)
                    assert np.allclose(session.run(None, {"x": x})[0], x)
                    time.sleep(0.001)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors[:3]
    assert peak[0] == 2 and cores.busy == 0


def test_a_model_file_that_cannot_load_fails_when_opened(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    sessions = Sessions(bad, Cores(2))
    with pytest.raises(ModelLoadError, match="cannot load the model .*bad.onnx"):
        sessions.open()
    with pytest.raises(ModelLoadError):  # again: the failed one is not counted as made
        sessions.open()


def test_processes_sharing_a_count_of_busy_cores_take_every_core_only_when_none_runs(model):
    """Worker processes share one count (retrieval/workers.py); two Cores on one Value stand in
    for two processes here."""
    import multiprocessing

    count = multiprocessing.get_context("spawn").Value("i", 0)
    first, second = Sessions(model, Cores(2, count)), Sessions(model, Cores(2, count))
    with first.session(wide=True) as alone:
        assert _threads(alone) == 2 and count.value == 2
        with second.session(wide=True) as beside:
            assert _threads(beside) == 1 and count.value == 3  # its own core is free: no wait
    assert count.value == 0
    with second.session(wide=True) as again:
        assert _threads(again) == 2
