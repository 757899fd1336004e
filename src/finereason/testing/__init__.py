"""Builders for tests and demos (tiny models made offline); never imported by production code."""
