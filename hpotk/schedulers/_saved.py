"""`save`/`restore` for hpotk's own Ray Tune schedulers, whose whole state is their attributes
(keyed by trial id), as Ray's own ASHA saves itself: Tune calls them to checkpoint the
experiment, and a resumed run carries on with the same rungs and records."""

from __future__ import annotations

import pickle


class SavesItsAttributes:
    """Mix in before Ray's scheduler class: ``class MyScheduler(SavesItsAttributes,
    FIFOScheduler)``."""

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__dict__, file)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as file:
            self.__dict__.update(pickle.load(file))
