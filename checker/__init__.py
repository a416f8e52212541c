"""memory11: a model checker for the memory-allocation invariants of hypervisor configurations."""

__version__ = "0.1.0"
