"""st_read.py — reads a safetensors file of F32 and I32 tensors (what
sinter's save and checkpoint write) into NumPy arrays, for the Python replays
(tests/e2e/torch_*.py).

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    from st_read import read_safetensors
    weights = read_safetensors(path)   # {name: np.ndarray (float32 or int32)}
    missing = load_into(torch_module, weights)   # sinter's names and layouts into torch's
"""
import json
import struct

import numpy as np


DTYPES = {"F32": "<f4", "I32": "<i4"}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] in DTYPES, (name, info["dtype"])
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(body[a:b], dtype=DTYPES[info["dtype"]]).reshape(info["shape"]).copy()
    return out


def load_into(net, weights):
    """Loads sinter's weights and buffers into the torch.nn module net, whose
    state-dict names are sinter's.  sinter's Linear stores its weight
    [in, out], torch's [out, in]: every 2-D weight is transposed.  Tensors
    torch's module lacks are left out (callers that require none check
    that themselves); PyTorch's num_batches_tracked counters,
    which sinter does not keep, stay as they are.  Returns the names of
    torch's state dict that weights lacks."""
    import torch
    own = net.state_dict()
    state = {}
    for name, value in weights.items():
        if name not in own:
            continue
        t = torch.from_numpy(value)
        if name.endswith(".weight") and t.ndim == 2:
            t = t.T.contiguous()
        state[name] = t
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    state.update({k: v for k, v in own.items() if k.endswith("num_batches_tracked")})
    net.load_state_dict(state)
    return missing
