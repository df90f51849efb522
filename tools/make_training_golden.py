"""Golden EMA trajectory from the real ``ema_pytorch.EMA`` (the official trainer's EMA), for test_training.py.

Usage (outside the repo's venv; ema-pytorch is not a project dependency):
    PYTHONPATH=<dir with ema_pytorch 0.8.3> <python with torch> tools/make_training_golden.py OUT.npz

A module with one parameter p (3,) is wrapped in EMA(beta=0.995, update_every=10) (defaults otherwise, as
in the official trainer); before each update() call k = 0..3499, p is set to a known sequence value
w_k = [sin(0.01 k), cos(0.003 k), 0.001 k]; the EMA parameter after each call is stored.
"""

import sys

import numpy as np
import torch
from ema_pytorch import EMA

NUM_CALLS = 3500


def online_value(k: int) -> list[float]:
    return [np.sin(0.01 * k), np.cos(0.003 * k), 0.001 * k]


def main(out_path: str) -> None:
    module = torch.nn.Linear(1, 3, bias=False)
    ema = EMA(module, beta=0.995, update_every=10)
    online, averaged = [], []
    for k in range(NUM_CALLS):
        with torch.no_grad():
            module.weight.copy_(torch.tensor(online_value(k), dtype=torch.float64).float()[:, None])
        ema.update()
        online.append(module.weight[:, 0].detach().numpy().copy())
        averaged.append(ema.ema_model.weight[:, 0].detach().numpy().copy())
    np.savez(out_path, online=np.stack(online), ema=np.stack(averaged), ema_step=int(ema.step.item()))


if __name__ == "__main__":
    main(sys.argv[1])
