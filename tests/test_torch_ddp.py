"""A generated PyTorch module trained by two processes with DistributedDataParallel (gloo on the CPU,
localhost only, bounded in time): how a user who outgrows one machine runs a derived cell.

Both ranks end with identical parameters, equal to one process trained on the whole batch.
"""
import socket
import subprocess
import sys

import pytest
from conftest import ROOT

torch = pytest.importorskip("torch", reason="torch is not installed: pip install torch==2.13.0")
if not torch.distributed.is_available():
    pytest.skip("this torch build has no torch.distributed", allow_module_level=True)

WORKER = ROOT / "tests" / "torch_ddp" / "worker.py"


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


@pytest.mark.slow  # three processes that each import torch
def test_two_ranks_train_like_one_process_on_the_whole_batch(tmp_path):
    module = ROOT / "generated" / "lstm" / "lstm_torch.py"
    port = free_port()
    ranks = [subprocess.Popen([sys.executable, str(WORKER), str(module), str(rank), "2", port, str(tmp_path / f"rank{rank}.pt")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in range(2)]
    try:
        results = [rank.communicate(timeout=120) for rank in ranks]
    finally:
        for rank in ranks:
            rank.kill()
    assert all(rank.returncode == 0 for rank in ranks), [err[-2000:] for _, err in results]
    single = subprocess.run([sys.executable, str(WORKER), str(module), "0", "1", "0", str(tmp_path / "single.pt")],
                            capture_output=True, text=True, timeout=120)
    assert single.returncode == 0, single.stderr[-2000:]
    first, second, reference = (torch.load(tmp_path / name) for name in ("rank0.pt", "rank1.pt", "single.pt"))
    assert set(first["trained"]) == set(reference["trained"])
    for name, trained in reference["trained"].items():
        assert torch.equal(first["trained"][name], second["trained"][name]), f"{name}: the ranks' parameters differ"
        torch.testing.assert_close(first["trained"][name], trained, rtol=1e-12, atol=1e-12)
        assert not torch.equal(trained, reference["initial"][name]), f"{name} did not train"
        assert torch.equal(first["initial"][name], reference["initial"][name])
