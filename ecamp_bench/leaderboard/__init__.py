"""Leaderboard: aggregate result records into tables per protocol and render them."""
