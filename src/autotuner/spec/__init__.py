"""The task spec: Pydantic models, loading (ours and the seed format) and errors."""

from .errors import SpecError
from .load import dump_task, load_task, task_from_dict
from .scenarios import Scenario, parse_scenario
from .task import NumberRange, Objective, SearchSpec, Task
from .workload import Workload

__all__ = ["SpecError", "load_task", "task_from_dict", "dump_task", "Scenario", "parse_scenario",
           "NumberRange", "Objective", "SearchSpec", "Task", "Workload"]
