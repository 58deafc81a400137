"""Reading tutorial code without running it: the file (script, notebook, marimo) and the values it trains with."""
