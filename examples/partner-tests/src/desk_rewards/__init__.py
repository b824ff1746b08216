"""Desk rewards: a welcome coffee for each new Cowork member, a stamp for each hour booked."""
