"""The registry of figure functions: :func:`register` records each with its notebook.

:mod:`precopy.figures` (the main figures, ``precopy figures``) and
:mod:`precopy.operator_figures` (notebook 06) both register here, so neither
imports the other to register.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["REGISTRY", "FigureSpec", "register"]

#: name -> FigureSpec, in registration (= notebook) order
REGISTRY: dict[str, "FigureSpec"] = {}


@dataclass(frozen=True)
class FigureSpec:
    """A registered figure: its function, default parameters and a quick variant."""

    name: str
    func: Callable
    notebook: str
    params: dict
    quick: dict = field(default_factory=dict)
    inputs: tuple = ()

    @property
    def function(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"

    @property
    def description(self) -> str:
        doc = inspect.getdoc(self.func) or ""
        return doc.splitlines()[0] if doc else ""


def register(notebook: str, quick: dict | None = None, inputs=()):
    """Decorator: register a figure function under its own name.

    Parameters
    ----------
    notebook : str
        The notebook that shows this figure.
    quick : dict, optional
        Parameter overrides for a fast, smaller rendering (``--quick``; tests).
    inputs : sequence of str, optional
        Datasets (names for :func:`precopy.datasets.path`) the figure reads;
        :func:`render_all` checks them all before drawing anything.
    """
    def deco(func):
        sig = inspect.signature(func)
        params = {k: p.default for k, p in sig.parameters.items()}
        missing = [k for k, d in params.items() if d is inspect.Parameter.empty]
        if missing:
            raise TypeError(f"figure {func.__name__}: every parameter needs a default; missing {missing}")
        unknown = set(quick or {}) - set(params)
        if unknown:
            raise TypeError(f"figure {func.__name__}: quick overrides unknown parameters {sorted(unknown)}")
        REGISTRY[func.__name__] = FigureSpec(func.__name__, func, notebook, params, dict(quick or {}),
                                             tuple(inputs))
        return func
    return deco
