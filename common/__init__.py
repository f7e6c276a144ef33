"""Helpers shared by every layer (infra, ml, policies); this package imports none of them."""
