"""Test-suite root: its presence puts ``tests/`` on ``sys.path`` so ``fixture_dir`` imports everywhere."""
