"""The `edge-agent` commands: the service's `run`, the field tools, the owner's tools, bench, demo and soak.

cli.py parses the command line and hands each command to its module. Nothing
else in the package imports this one.
"""
