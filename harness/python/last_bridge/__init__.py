"""Train in PyTorch, serve with `last`.

* `Config`: the model config (`config.json`).
* `save` / `load`: a model folder `last` serves (`model.safetensors` with the
  tensor names `last` loads, f32 / f16 / bf16, and `config.json`).
* `Reference`: a numpy reference of the baseline list, the evaluator score,
  the parallel LAST request and the safe variant's pessimistic choice over
  an evaluator ensemble, for parity with `last` (no torch needed).
* `last_bridge.torch_model` (needs torch): `Generator`, `Evaluator` and
  `LastModel` as `nn.Module`s whose `state_dict()` keys are the tensor names,
  with batched forward passes for training and a PyTorch reference of the
  same request.
"""

from .config import Config
from .io import load, random_params, save
from .reference import Reference, Served
from .rng import noise

__all__ = ["Config", "Reference", "Served", "load", "noise", "random_params", "save"]
__version__ = "0.1.0"
