"""The field-aware factorization machine in Keras 3: the model and its training.

Importing this package imports Keras and its backend (about 5 s for
TensorFlow), so only the stages that train import it; scoring uses the exported
weights through :mod:`stagebook.recsys.scoring`.
"""

from stagebook.recsys.ffm.fit import BLOCK, build, fit, save
from stagebook.recsys.ffm.model import FFM

__all__ = ["BLOCK", "FFM", "build", "fit", "save"]
