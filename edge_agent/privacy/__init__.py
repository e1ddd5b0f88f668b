"""Privacy: the hot list, what may be kept and for how long, and who looked at it.

The hot list and its matcher decide what is a hit; the policy says who may
use the data and for what; the store keeps hits encrypted under per-day
keys and destroys them (row and key) when retention runs out, never before
delivery and never on a clock it cannot trust; the audit log records every
access, hash-chained. It never imports transport, service or commands.
"""
