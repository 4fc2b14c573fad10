"""The command line: `python -m assistant search|ask|chat|quiz`."""
