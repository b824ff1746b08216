"""Cowork community: the town's public meetings, expressions of interest, open data and the
council's monthly report, with the public pages citizens use (docs/community.md)."""
