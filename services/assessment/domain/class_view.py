"""Assessment's view of a class, folded from training's events (through its inbox).

Assessment needs to know who taught the class, which institution ran it and its partners
(for independence), and who met the attendance threshold (who may sit the assessment).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from shared.contracts.training import ClassCompleted, ClassScheduled, InstitutionAccredited

ClassViewEvent = ClassScheduled | ClassCompleted


@dataclass(frozen=True, slots=True)
class ClassView:
    class_id: str
    institution_id: str
    occupation_code: str
    target_level: int
    trainer_ids: frozenset[str]
    institution_partners: frozenset[str] = frozenset()
    completed_on: date | None = None
    eligible_worker_ids: frozenset[str] = frozenset()  # met the attendance threshold

    @property
    def completed(self) -> bool:
        return self.completed_on is not None


def evolve(view: ClassView | None, event: ClassViewEvent) -> ClassView | None:
    match event:
        case ClassScheduled():
            return ClassView(class_id=event.class_id, institution_id=event.institution_id,
                             occupation_code=event.occupation_code,
                             target_level=event.target_level,
                             trainer_ids=frozenset(event.trainer_ids))
        case ClassCompleted() if view is not None:
            eligible = frozenset(t.worker_id for t in event.trainees if t.met_threshold)
            return replace(view, completed_on=event.completed_on, eligible_worker_ids=eligible)
    return view


def with_partners(view: ClassView, accredited: InstitutionAccredited) -> ClassView:
    """Add the institution's partners, so a body tied to a partner is not independent either."""
    if accredited.institution_id != view.institution_id:
        return view
    return replace(view, institution_partners=frozenset(accredited.partners))
