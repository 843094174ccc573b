"""The simulated IB Gateway: the TWS API socket protocol (server version 178, text) on loopback."""
