"""The simulated venue: one matching engine for US stocks, used by backtests and the sim gateway."""
