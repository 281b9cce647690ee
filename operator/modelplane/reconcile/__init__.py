"""Pure decisions: desired state + observed state -> actions and status.

Nothing here does I/O; every function is a plain computation that table
tests call directly.
"""

from modelplane.reconcile.events import EventSpec
from modelplane.reconcile.observed import Observed
from modelplane.reconcile.plan import Action, Apply, Delete, Plan, plan

__all__ = ["Action", "Apply", "Delete", "EventSpec", "Observed", "Plan", "plan"]
