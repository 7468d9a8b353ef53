"""Capacity planning before buying or renting GPUs: which GPU type, count, parallel layout and engine
flags serve a model's traffic under its SLOs at the lowest cost, predicted by the simulated engine in
virtual time (``autotuner plan``)."""

from .candidates import Candidate, generate
from .evaluate import Evaluation, Traffic, evaluate, fewest_replicas
from .planner import PlanInputError, PlanRequest, PlanResult, make_plan
from .prices import load_prices
from .ranking import Plan, mark_pareto, price_plans, rank

__all__ = ["Candidate", "Evaluation", "Plan", "PlanInputError", "PlanRequest", "PlanResult", "Traffic",
           "evaluate", "fewest_replicas", "generate", "load_prices", "make_plan", "mark_pareto", "price_plans",
           "rank"]
