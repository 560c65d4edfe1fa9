"""hpotk: hyperparameter optimisation for PyTorch and GNN models, on Ray Tune.

Importing hpotk is cheap: Ray, torch and friends are imported inside the functions that use them.
"""

from hpotk.errors import ConfigError, HpotkError
from hpotk.report import report

__all__ = ["ConfigError", "HpotkError", "report", "__version__"]
__version__ = "0.1.0"
