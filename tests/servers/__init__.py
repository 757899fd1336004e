"""Loopback servers for tests and benchmarks: a fixed-capacity fake OpenAI server and a fault-injecting proxy."""
