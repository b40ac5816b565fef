"""The client portal: what the client may see and do, behind its secret link."""
