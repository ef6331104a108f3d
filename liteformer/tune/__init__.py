"""Searches that export and measure: above ``export/``, ``runtimes/`` and the tasks, below the CLI and
recipes. ``mixed.tune_keep_float`` is the accuracy-aware mixed-precision search."""
