"""The triage service."""
