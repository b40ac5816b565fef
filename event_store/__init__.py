"""Storage plumbing: DDL, read-model migrations, the msgspec transcoder, the catalogue.

Reached through configuration (TRANSCODER_TOPIC, MAPPER_TOPIC, the migrations
folder), never imported by the CRM's parts.
"""
