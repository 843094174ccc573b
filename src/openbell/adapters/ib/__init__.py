"""The Interactive Brokers adapter: ib_async behind our ports, IB vocabulary translated in
:mod:`openbell.adapters.ib.mapping` and nowhere else."""
