"""The domain of the CRM: aggregates, their events, commands and ports.

Imports only the eventsourcing library, msgspec and the standard library.
"""
