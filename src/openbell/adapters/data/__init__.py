"""Market data from providers' REST APIs (Massive, FMP) behind the MarketData port."""
