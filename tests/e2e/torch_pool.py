# torch_pool.py — tests/e2e/torch_pool.sn in PyTorch: the same cases, printed
# the same way (forward value, then the gradient of sum(y * ramp) by x).
import torch
import torch.nn.functional as F

x0 = torch.tensor([[[[1, 3, 3, 0], [3, 2, 3, 3], [0, 3, 1, 2], [2, 2, 2, 2], [3, 0, 3, 3]],
                    [[5, 5, 5, 5], [5, 5, 5, 5], [5, 5, 5, 5], [5, 5, 5, 5], [5, 5, 5, 5]]]], dtype=torch.float32)


def case(k, s, pd, avg):
    x = x0.clone().requires_grad_(True)
    pool = F.avg_pool2d if avg else F.max_pool2d
    y = pool(x, k, stride=s, padding=pd)
    print(y.tolist())
    w = 1 + torch.arange(y.numel(), dtype=torch.float32).reshape(y.shape)
    (y * w).sum().backward()
    print(x.grad.tolist())


case(2, 2, 0, False)
case(2, 1, 0, False)
case(3, 1, 1, False)
case((3, 2), (1, 2), (1, 0), False)
case((2, 3), (2, 1), (1, 1), False)
case(3, 2, 1, True)
case((2, 3), 1, (1, 1), True)
# pad: sinter's pairs run in axis order over the last axes; F.pad's from the last axis back
print(F.pad(x0, (2, 1, 1, 0)).tolist())
print(F.pad(x0, (3, 0, 0, 0, 1, 2, 0, 0), value=-2.5).tolist())
print(torch.nn.MaxPool2d(3, stride=2, padding=1)(x0).tolist())
print(torch.nn.AvgPool2d((2, 3), stride=1, padding=(1, 1))(x0).tolist())
print(torch.nn.AdaptiveAvgPool2d(1)(x0).flatten(1).tolist())
print(torch.flatten(x0, 2)[:, :, 3:9].tolist(), list(torch.flatten(x0, 2).shape))
