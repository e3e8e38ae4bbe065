"""What the Cappuccino runtime and operator agree on, written once.

Both packages install this one (the operator image stays torch-free, so nothing here imports
torch, numpy, kopf or either package): each module holds one shared shape or rule, and
docs/CONTRACTS.md describes them.
"""
