"""One rank of tests/test_torch_ddp.py: train a generated Layer under DistributedDataParallel (gloo, CPU).

python worker.py MODULE_PATH RANK WORLD_SIZE PORT OUT: loads the generated NAME_torch.py at MODULE_PATH,
makes a Layer from seed 0 (float64), takes this rank's share of a fixed batch, runs a few SGD steps and
saves the parameters before and after to OUT. With WORLD_SIZE 1 it trains on the whole batch without DDP: the reference.
"""
import datetime
import importlib.util
import sys

import torch

STEPS, T, BATCH, D, H = 3, 5, 8, 3, 4


def main(module_path: str, rank: int, world: int, port: str, out: str) -> None:
    spec = importlib.util.spec_from_file_location("generated_torch_cell", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    layer = module.Layer(D, H, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    initial = {name: p.detach().clone() for name, p in layer.named_parameters()}
    data = torch.Generator().manual_seed(1)
    xs = torch.randn(T, BATCH, D, dtype=torch.float64, generator=data)
    targets = torch.randn(T, BATCH, H, dtype=torch.float64, generator=data)
    share = slice(rank * BATCH // world, (rank + 1) * BATCH // world)
    model = layer
    if world > 1:
        torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                             world_size=world, timeout=datetime.timedelta(seconds=60))
        model = torch.nn.parallel.DistributedDataParallel(layer)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(STEPS):
        optimizer.zero_grad()
        outputs, _ = model(xs[:, share])
        loss = ((outputs - targets[:, share]) ** 2).mean()  # DDP averages the ranks' gradients: the whole batch's mean
        loss.backward()
        optimizer.step()
    torch.save({"initial": initial, "trained": {name: p.detach() for name, p in layer.named_parameters()}}, out)
    if world > 1:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
