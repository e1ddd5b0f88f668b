"""Vision: frames to vehicles' reads (capture -> detect -> read -> track), on the unit's CPU.

Nothing here stores, sends or decides what is a hit: a read leaves this
package as a record (records.py) and nothing else. It never imports
privacy, transport, service or commands.
"""
